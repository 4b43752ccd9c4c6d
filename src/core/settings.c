/* settings.c — runtime settings (settings.h, SPEC §5.3).
 *
 * A `tracker` value is validated by the configuration's own key table: it is loaded
 * as the tracker section of a configuration (config_load_section_json), and what is
 * stored is that section written back (config_section_json) — every key, defaults
 * filled in, base URLs and paths as the loader normalised them. Storing the whole
 * block makes the stored value self-contained: a "****" always has a stored secret
 * to stand for, changed_fields compares like with like, and settings_tracker never
 * depends on the file's block once a setting exists.
 *
 * ${VAR} in a setting is refused rather than expanded: expanding it would let an
 * admin of the API read the server's environment (${AWS_SECRET_ACCESS_KEY} as a
 * base_url, echoed in an error), and taking it literally would store a token that
 * fails only later, at delivery. The loader also runs in literal mode, so a secret
 * kept from the file with "****" is never expanded a second time. */
#include "core/settings.h"

#include <stdlib.h>
#include <string.h>

#include "core/event.h"
#include "core/outbox.h"
#include "util/json.h"
#include "util/log.h"
#include "util/time.h"
#include "util/utf8.h"
#include "util/validate.h"

#define MASK	      "****"
#define CANARY_PREFIX "canary."
#define REASON_MAX    1000

/* SPEC §2's secret keys, and PagerDuty's routing_key (a webhook's credential). */
static const char *const secret_keys[] = {"token",  "api_token",   "api_key", "password",
					  "secret", "routing_key", NULL};

static bool is_secret(const char *k)
{
	for (const char *const *s = secret_keys; *s; s++)
		if (!strcmp(k, *s))
			return true;
	return false;
}

static int unknown_key(struct err *e)
{
	return err_set(e, ERR_NOTFOUND,
		       "no such setting: the settings are tracker and canary.<name>");
}

bool settings_key_known(const char *key)
{
	if (!key)
		return false;
	if (!strcmp(key, "tracker"))
		return true;
	if (strncmp(key, CANARY_PREFIX, strlen(CANARY_PREFIX)))
		return false;
	const char *name = key + strlen(CANARY_PREFIX);
	size_t n = strlen(name);
	return n >= 1 && n <= 64 &&
	       strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") ==
		       n;
}

/* ---- masking ---- */

static void mask_in_place(json_t *v)
{
	const char *k;
	json_t *m;
	size_t i;
	if (json_is_array(v)) {
		json_array_foreach(v, i, m)
		{
			mask_in_place(m);
		}
		return;
	}
	json_object_foreach(v, k, m)
	{
		bool shown = json_is_null(m) || (json_is_string(m) && !json_string_length(m));
		if (!is_secret(k) || shown || json_is_object(m) || json_is_array(m))
			mask_in_place(m);
		else
			json_object_set_new(v, k, json_string(MASK));
	}
}

json_t *settings_mask(const json_t *v)
{
	json_t *m = json_deep_copy(v);
	if (m)
		mask_in_place(m);
	return m;
}

/* ---- validation ---- */

/* "****" for a secret stands for base's value at the same path (the stored block, or
 * the file's). A path base does not have keeps the text; the loader then names the key
 * if it is not one. kept gets the path (an array of keys) of every secret kept. */
static void keep_secrets(json_t *v, const json_t *base, json_t *path, json_t *kept)
{
	const char *k;
	json_t *m;
	json_object_foreach(v, k, m)
	{
		const json_t *b = json_object_get(base, k);
		if (json_is_object(m)) {
			json_array_append_new(path, jstr(k));
			keep_secrets(m, b, path, kept);
			json_array_remove(path, json_array_size(path) - 1);
		} else if (is_secret(k) && json_is_string(m) &&
			   !strcmp(json_string_value(m), MASK) && json_is_string(b)) {
			json_string_set(m, json_string_value(b));
			json_t *p = json_deep_copy(path);
			json_array_append_new(p, jstr(k));
			json_array_append_new(kept, p);
		}
	}
}

/* A kept secret stays with the host it was given for: "****" next to a base_url (or
 * url) that changed would let whoever may PUT, without knowing the secret, have it sent
 * to a host of their choosing. Compared after the loader normalised both blocks, so a
 * trailing '/' or a default written out is no change. */
static int check_kept(const json_t *kept, const json_t *out, const json_t *base, struct err *e)
{
	static const char *const url_keys[] = {"base_url", "url", NULL};
	size_t i;
	const json_t *p;
	json_array_foreach(kept, i, p)
	{
		const json_t *o = out, *b = base;
		struct buf name = BUF_INIT;
		buf_puts(&name, "value");
		for (size_t j = 0; j < json_array_size(p); j++) {
			const char *k = json_string_value(json_array_get(p, j));
			buf_printf(&name, ".%s", k);
			if (j + 1 < json_array_size(p)) {
				o = json_object_get(o, k);
				b = json_object_get(b, k);
			}
		}
		int rc = 0;
		for (const char *const *u = url_keys; *u && !rc; u++) {
			const char *nu = json_get_str(o, *u), *bu = json_get_str(b, *u);
			if ((nu || bu) && (!nu || !bu || strcmp(nu, bu)))
				rc = err_field(
					e, ERR_INVALID, name.data,
					"%s: \"****\" keeps the stored secret only while %s "
					"stays the same; give the secret again for the new %s",
					name.data, *u, *u);
		}
		buf_free(&name);
		if (rc)
			return rc;
	}
	return 0;
}

static int refuse_env_refs(const json_t *v, struct buf *path, struct err *e)
{
	const char *k;
	const json_t *m;
	size_t i;
	int rc = 0;
	if (json_is_string(v) && strstr(json_string_value(v), "${"))
		return err_field(e, ERR_INVALID, path->data,
				 "%s: ${...} is not expanded in a setting; give the value itself "
				 "(secrets are stored as given and always shown masked)",
				 path->data);
	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, k, m)
		{
			size_t saved = path->len;
			buf_printf(path, ".%s", k);
			rc = refuse_env_refs(m, path, e);
			path->len = saved;
			path->data[saved] = '\0';
			if (rc)
				return rc;
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, m)
		{
			size_t saved = path->len;
			buf_printf(path, "[%zu]", i);
			rc = refuse_env_refs(m, path, e);
			path->len = saved;
			path->data[saved] = '\0';
			if (rc)
				return rc;
		}
	}
	return 0;
}

/* "tracker.github.token" (the loader's name) → "value.github.token" (the API's). */
static void api_name(struct buf *b, const char *s, size_t n)
{
	if (n >= 7 && !strncmp(s, "tracker", 7) && (n == 7 || s[7] == '.' || s[7] == ':')) {
		buf_puts(b, "value");
		s += 7, n -= 7;
	}
	buf_append(b, s, n);
}

/* The loader's problems, one per line, as one message about `value`. */
static int tracker_error(struct err *e)
{
	struct buf field = BUF_INIT, msg = BUF_INIT;
	const char *f = *e->field ? e->field : "tracker"; /* a problem of the block itself */
	api_name(&field, f, strlen(f));
	for (const char *p = e->msg; *p;) {
		size_t n = strcspn(p, "\n");
		if (msg.len)
			buf_puts(&msg, "; ");
		api_name(&msg, p, n);
		p += n + (p[n] == '\n');
	}
	int rc = err_field(e, ERR_INVALID, buf_cstr(&field), "%s", buf_cstr(&msg));
	buf_free(&field);
	buf_free(&msg);
	return rc;
}

static int validate_tracker(const struct config *cfg, const json_t *value, const json_t *old,
			    json_t **out, struct err *e)
{
	if (!json_is_object(value))
		return err_field(e, ERR_INVALID, "value",
				 "value must be a JSON object: a tracker block as in the "
				 "configuration file");
	struct buf path = BUF_INIT;
	buf_puts(&path, "value");
	int rc = refuse_env_refs(value, &path, e);
	buf_free(&path);
	if (rc)
		return rc;
	json_t *base = old ? json_incref((json_t *)old) : config_section_json(cfg, "tracker");
	json_t *v = json_deep_copy(value), *keys = json_array(), *kept = json_array();
	keep_secrets(v, base, keys, kept);
	struct config *nc = NULL;
	json_t *norm = NULL;
	rc = config_load_section_json("tracker", v, cfg->dir, &nc, e);
	if (rc == ERR_INVALID)
		rc = tracker_error(e);
	if (!rc)
		norm = config_section_json(nc, "tracker");
	if (!rc && !(rc = check_kept(kept, norm, base, e))) {
		*out = norm;
		norm = NULL;
	}
	json_decref(norm);
	config_free(nc);
	json_decref(kept);
	json_decref(keys);
	json_decref(v);
	json_decref(base);
	return rc;
}

static const struct vfield canary_fields[] = {
	{"version", V_STRING, true, false, 1, 128, NULL},
	{"baseline_version", V_STRING, true, false, 0, 128, NULL},
	{"canary_pct", V_INT, true, false, 0, 100, NULL},
	{"kill_switch", V_BOOL, true, false, 0, 0, NULL},
	{NULL, 0, false, false, 0, 0, NULL},
};

static int validate_canary(const json_t *value, json_t **out, struct err *e)
{
	if (!json_is_object(value))
		return err_field(e, ERR_INVALID, "value",
				 "value must be a JSON object {version, baseline_version, "
				 "canary_pct, kill_switch}");
	int rc = validate_object(value, canary_fields, "value.", e);
	if (rc)
		return rc;
	const char *version = json_get_str(value, "version");
	if (strspn(version, " \t\r\n") == strlen(version))
		return err_field(e, ERR_INVALID, "value.version",
				 "value.version must not be blank");
	*out = jpack("{ss ss sI sb}", "version", version, "baseline_version",
		     json_get_str(value, "baseline_version"), "canary_pct",
		     (json_int_t)json_get_int(value, "canary_pct", 0), "kill_switch",
		     json_get_bool(value, "kill_switch", false));
	return 0;
}

int settings_validate(const struct config *cfg, const char *key, const json_t *value,
		      const json_t *old, json_t **out, struct err *e)
{
	*out = NULL;
	if (!settings_key_known(key))
		return unknown_key(e);
	if (!strcmp(key, "tracker"))
		return validate_tracker(cfg, value, old, out, e);
	return validate_canary(value, out, e);
}

/* ---- changed fields ---- */

static void put_path(struct buf *path, const char *k)
{
	if (path->len)
		buf_putc(path, '.');
	buf_puts(path, k);
}

static void pop_path(struct buf *path, size_t saved)
{
	path->len = saved;
	if (path->data)
		path->data[saved] = '\0';
}

/* Every leaf under v (v itself when it is not an object, or an empty one). */
static void add_leaves(const json_t *v, struct buf *path, json_t *out)
{
	const char *k;
	const json_t *m;
	if (!json_is_object(v) || !json_object_size(v)) {
		json_array_append_new(out, jstr(buf_cstr(path)));
		return;
	}
	json_object_foreach((json_t *)v, k, m)
	{
		size_t saved = path->len;
		put_path(path, k);
		add_leaves(m, path, out);
		pop_path(path, saved);
	}
}

static void diff(const json_t *a, const json_t *b, struct buf *path, json_t *out)
{
	const char *k;
	const json_t *m;
	if (!json_is_object(a) || !json_is_object(b)) {
		if (!json_equal((json_t *)a, (json_t *)b))
			json_array_append_new(out, jstr(buf_cstr(path)));
		return;
	}
	json_object_foreach((json_t *)a, k, m)
	{
		size_t saved = path->len;
		put_path(path, k);
		const json_t *n = json_object_get(b, k);
		if (n)
			diff(m, n, path, out);
		else
			add_leaves(m, path, out);
		pop_path(path, saved);
	}
	json_object_foreach((json_t *)b, k, m)
	{
		if (json_object_get(a, k))
			continue;
		size_t saved = path->len;
		put_path(path, k);
		add_leaves(m, path, out);
		pop_path(path, saved);
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The dotted names of the leaves that differ between prev (NULL: nothing before) and
 * next, sorted. Names only: a secret's value never leaves this function. */
static json_t *changed_fields(const json_t *prev, const json_t *next)
{
	json_t *names = json_array();
	struct buf path = BUF_INIT;
	if (prev)
		diff(prev, next, &path, names);
	else
		add_leaves(next, &path, names);
	buf_free(&path);
	size_t n = json_array_size(names);
	const char **v = xcalloc(n ? n : 1, sizeof *v);
	for (size_t i = 0; i < n; i++)
		v[i] = json_string_value(json_array_get(names, i));
	qsort(v, n, sizeof *v, cmp_str);
	json_t *sorted = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(sorted, jstr(v[i]));
	free(v);
	json_decref(names);
	return sorted;
}

/* ---- storage ---- */

/* The stored row of key and its value parsed: 0, ERR_NOTFOUND, or ERR_IO (logged) for
 * a value that is not a JSON object — never replaced by a default (store.h). */
static int load(struct store_conn *c, const char *key, struct setting_row *row, json_t **val,
		struct err *e)
{
	*val = NULL;
	int rc = store_setting_get(c, key, row, e);
	if (rc)
		return rc;
	json_error_t je;
	*val = json_loads(row->value, JSON_REJECT_DUPLICATES, &je);
	if (json_is_object(*val))
		return 0;
	json_decref(*val);
	*val = NULL;
	log_error("stored value cannot be read",
		  "table=settings column=value key=\"%s\" "
		  "problem=\"not a JSON object\"",
		  key);
	setting_row_clear(row);
	return err_set(e, ERR_IO, "storage: settings.value of %s is not a JSON object", key);
}

int settings_put(struct store_conn *c, const struct config *cfg, const char *key,
		 const json_t *value, const char *actor, const char *reason, struct err *e)
{
	if (!settings_key_known(key))
		return unknown_key(e);
	char *why = str_trim_dup(reason && utf8_valid(reason, strlen(reason)) ? reason : "");
	size_t len = utf8_length(why);
	struct setting_row old = {0}, row = {0};
	json_t *prev = NULL, *next = NULL;
	int rc;
	if (!len || len > REASON_MAX) {
		rc = err_field(e, ERR_INVALID, "reason",
			       "reason must be 1 to %d characters long, not blank", REASON_MAX);
		goto out;
	}
	rc = load(c, key, &old, &prev, e);
	if (rc && rc != ERR_NOTFOUND)
		goto out;
	if ((rc = settings_validate(cfg, key, value, prev, &next, e)))
		goto out;
	if (!prev && !strcmp(key, "tracker"))
		prev = config_section_json(cfg, "tracker");
	row.key = xstrdup(key);
	row.value = json_canon(next);
	row.updated_at = time_now_ms();
	row.updated_by = xstrdup(actor);
	row.reason = xstrdup(why);
	if ((rc = store_setting_put(c, &row, e)))
		goto out;
	rc = outbox_event_append(c, cfg, "settings_changed", actor,
				 jpack("{ss so ss ss}", "key", key, "changed_fields",
				       changed_fields(prev, next), "updated_by", actor, "reason",
				       why),
				 e);
out:
	json_decref(prev);
	json_decref(next);
	setting_row_clear(&old);
	setting_row_clear(&row);
	free(why);
	return rc;
}

/* ---- reading ---- */

/* The API form; row NULL: the configuration file's block. */
static json_t *setting_json(const char *key, const json_t *value, const struct setting_row *row)
{
	return jpack("{ss so ss so so so}", "key", key, "value", settings_mask(value), "source",
		     row ? "setting" : "config", "updated_at",
		     json_time_or_null(row ? row->updated_at : 0), "updated_by",
		     row ? jstr(row->updated_by) : json_null(), "reason",
		     row ? jstr(row->reason) : json_null());
}

int settings_get_json(struct store_conn *c, const struct config *cfg, const char *key, json_t **out,
		      struct err *e)
{
	*out = NULL;
	if (!settings_key_known(key))
		return unknown_key(e);
	struct setting_row row = {0};
	json_t *v = NULL;
	int rc = load(c, key, &row, &v, e);
	if (!rc) {
		*out = setting_json(key, v, &row);
	} else if (rc == ERR_NOTFOUND && !strcmp(key, "tracker")) {
		v = config_section_json(cfg, "tracker");
		*out = setting_json(key, v, NULL);
		rc = 0;
	} else if (rc == ERR_NOTFOUND) {
		rc = err_set(e, ERR_NOTFOUND, "%s is not set", key);
	}
	json_decref(v);
	setting_row_clear(&row);
	return rc;
}

struct list_ctx {
	json_t *items;
	struct err *e;
	int rc;
};

static int list_cb(const struct setting_row *s, void *arg)
{
	struct list_ctx *l = arg;
	if (!strcmp(s->key, "tracker") || !settings_key_known(s->key))
		return 0; /* tracker is first already; keys of a later version are not ours */
	json_error_t je;
	json_t *v = json_loads(s->value, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(v)) {
		json_decref(v);
		log_error("stored value cannot be read",
			  "table=settings column=value key=\"%s\" problem=\"not a JSON object\"",
			  s->key);
		l->rc = err_set(l->e, ERR_IO, "storage: settings.value of %s is not a JSON object",
				s->key);
		return 1;
	}
	json_array_append_new(l->items, setting_json(s->key, v, s));
	json_decref(v);
	return 0;
}

int settings_list_json(struct store_conn *c, const struct config *cfg, json_t **out, struct err *e)
{
	*out = NULL;
	json_t *tracker = NULL;
	int rc = settings_get_json(c, cfg, "tracker", &tracker, e);
	if (rc)
		return rc;
	struct list_ctx l = {.items = json_array(), .e = e};
	json_array_append_new(l.items, tracker);
	rc = store_setting_list(c, list_cb, &l, e);
	if (!rc)
		rc = l.rc;
	if (rc) {
		json_decref(l.items);
		return rc;
	}
	*out = l.items;
	return 0;
}

int settings_canary_json(struct store_conn *c, const char *name, json_t **out, struct err *e)
{
	*out = NULL;
	struct buf key = BUF_INIT;
	buf_printf(&key, "%s%s", CANARY_PREFIX, name ? name : "");
	struct setting_row row = {0};
	json_t *v = NULL;
	int rc = settings_key_known(key.data) ? load(c, key.data, &row, &v, e) : ERR_NOTFOUND;
	if (rc == ERR_NOTFOUND) {
		rc = err_set(e, ERR_NOTFOUND, "no canary of that name is set");
		goto out;
	}
	if (rc)
		goto out;
	const json_t *version = json_object_get(v, "version"),
		     *baseline = json_object_get(v, "baseline_version"),
		     *pct = json_object_get(v, "canary_pct"),
		     *kill = json_object_get(v, "kill_switch");
	if (!json_is_string(version) || !json_is_string(baseline) || !json_is_integer(pct) ||
	    !json_is_boolean(kill)) {
		log_error("stored value cannot be read",
			  "table=settings column=value key=\"%s\" problem=\"not a canary\"",
			  key.data);
		rc = err_set(e, ERR_IO, "storage: settings.value of %s is not a canary", key.data);
		goto out;
	}
	*out = jpack("{ss sO sO sO sO so}", "name", name, "version", version, "baseline_version",
		     baseline, "canary_pct", pct, "kill_switch", kill, "updated_at",
		     json_time_or_null(row.updated_at));
out:
	json_decref(v);
	setting_row_clear(&row);
	buf_free(&key);
	return rc;
}

/* ---- the tracker in effect ---- */

int settings_tracker(struct store_conn *c, const struct config *cfg, struct config **out,
		     struct err *e)
{
	*out = NULL;
	struct setting_row row = {0};
	json_t *v = NULL;
	struct err le;
	err_clear(&le);
	int rc = load(c, "tracker", &row, &v, e);
	if (rc == ERR_NOTFOUND) {
		/* the file's block through the same loader, so both paths give one shape */
		v = config_section_json(cfg, "tracker");
		if ((rc = config_load_section_json("tracker", v, cfg->dir, out, &le)))
			rc = err_set(e, ERR_INTERNAL,
				     "the configuration's tracker block does not load back: %s",
				     le.msg);
	} else if (!rc && (rc = config_load_section_json("tracker", v, cfg->dir, out, &le))) {
		/* valid when stored; a stricter rule of a later version may refuse it */
		log_error("stored value cannot be read",
			  "table=settings column=value key=tracker problem=\"does not validate\"");
		rc = err_set(e, ERR_IO,
			     "storage: settings.value of tracker no longer validates (%s); put it "
			     "again",
			     le.msg);
	}
	json_decref(v);
	setting_row_clear(&row);
	return rc;
}

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

/* The top-level "provider" of a stored tracker block, read without building the tree:
 * this runs in every incident creation's write job, where parsing the whole block
 * (eight objects) took 7 us of a 34 us job. Strings are skipped with their escapes and
 * nesting is counted, so a "provider" inside github.assignees or inside a string is not
 * taken; a string at depth 1 followed by ':' can only be a top-level key. False when
 * the text is not that simple (an escape in the value, no such key, bad JSON): the
 * caller then parses it whole. */
static bool scan_provider(const char *s, enum config_provider *out)
{
	int depth = 0;
	for (const char *p = s; *p;) {
		if (*p == '{' || *p == '[') {
			depth++, p++;
		} else if (*p == '}' || *p == ']') {
			depth--, p++;
		} else if (*p == '"') {
			const char *start = ++p;
			while (*p && *p != '"')
				p += p[0] == '\\' && p[1] ? 2 : 1;
			if (!*p)
				return false;
			size_t len = (size_t)(p++ - start);
			const char *q = skip_ws(p);
			if (depth != 1 || *q != ':' || len != 8 || strncmp(start, "provider", 8))
				continue;
			q = skip_ws(q + 1);
			if (*q != '"')
				return false;
			char name[16];
			size_t n = strcspn(q + 1, "\"\\");
			if (n >= sizeof name || q[1 + n] != '"')
				return false;
			memcpy(name, q + 1, n);
			name[n] = '\0';
			return config_provider_parse(name, out);
		} else {
			p++;
		}
	}
	return false;
}

int settings_tracker_provider(struct store_conn *c, const struct config *cfg,
			      enum config_provider *out, struct err *e)
{
	struct setting_row row = {0};
	int rc = store_setting_get(c, "tracker", &row, e);
	if (rc == ERR_NOTFOUND) {
		*out = cfg->tracker.provider;
		return 0;
	}
	if (rc)
		return rc;
	if (scan_provider(row.value, out)) {
		setting_row_clear(&row);
		return 0;
	}
	json_error_t je;
	json_t *v = json_loads(row.value, 0, &je);
	const char *p = json_get_str(v, "provider");
	if (!p || !config_provider_parse(p, out)) {
		log_error("stored value cannot be read",
			  "table=settings column=value key=tracker problem=\"no known provider\"");
		rc = err_set(e, ERR_IO,
			     "storage: settings.value of tracker names no known provider");
	}
	json_decref(v);
	setting_row_clear(&row);
	return rc;
}
