/* issue.c — front-matter issue templates: loading, the render context with its derived
 * values, front matter (libyaml document API), rendering, labels and footer. */
#include "template/issue.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "template/mustache.h"
#include "util/buf.h"
#include "util/embed.h"
#include "util/json.h"

extern const struct embedded_file template_builtin_files[];

static const char *const builtin_names[] = {"invariant_failure", "budget_exceeded",
					    "planner_regression", "generic_incident", NULL};

/* ---- names ---- */

bool issue_template_name_valid(const char *name)
{
	if (!name || !*name)
		return false;
	size_t n = 0;
	for (const char *p = name; *p; p++, n++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	return n <= ISSUE_NAME_MAX;
}

const char *issue_template_for_kind(const char *kind)
{
	if (kind && !strcmp(kind, "invariant"))
		return "invariant_failure";
	if (kind && !strcmp(kind, "budget"))
		return "budget_exceeded";
	if (kind && !strcmp(kind, "planner"))
		return "planner_regression";
	return "generic_incident";
}

const char *const *issue_builtin_names(void)
{
	return builtin_names;
}

/* ---- loading ---- */

static const char *builtin_text(const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; template_builtin_files[i].name; i++) {
		const char *f = template_builtin_files[i].name;
		if (!strncmp(f, name, n) && !strcmp(f + n, ".md"))
			return template_builtin_files[i].text;
	}
	return NULL;
}

/* Read path into *text. 1 when it does not exist, 0 when read, else an error. */
static int read_override(const char *path, char **text, struct err *e)
{
	/* O_NONBLOCK and the S_ISREG check: a FIFO or device named <name>.md must not
	 * block or feed the reader. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT)
			return 1;
		return err_set(e, ERR_IO, "cannot read template %s: %s", path, strerror(errno));
	}
	struct stat st;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return err_set(e, ERR_IO, "cannot read template %s: not a regular file", path);
	}
	FILE *f = fdopen(fd, "rb");
	if (!f) {
		close(fd);
		return err_set(e, ERR_IO, "cannot read template %s: %s", path, strerror(errno));
	}
	struct buf b = BUF_INIT;
	char chunk[4096];
	size_t n;
	int rc = 0;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		if (b.len + n > ISSUE_TEMPLATE_MAX) {
			rc = err_set(e, ERR_TOOLARGE, "template %s is larger than %d bytes", path,
				     ISSUE_TEMPLATE_MAX);
			goto out;
		}
		buf_append(&b, chunk, n);
	}
	if (ferror(f)) {
		rc = err_set(e, ERR_IO, "cannot read template %s: %s", path, strerror(errno));
		goto out;
	}
	if (memchr(buf_cstr(&b), '\0', b.len)) {
		rc = err_set(e, ERR_INVALID, "template %s contains a NUL byte", path);
		goto out;
	}
	buf_putc(&b, '\0'); /* an empty file still yields "" */
	b.len--;
	*text = buf_steal(&b);
out:
	buf_free(&b);
	fclose(f);
	return rc;
}

int issue_template_load(const char *name, const char *templates_dir, char **text, char **origin,
			struct err *e)
{
	*text = NULL;
	if (origin)
		*origin = NULL;
	if (!issue_template_name_valid(name))
		return err_set(
			e, ERR_INVALID,
			"invalid template name '%s': use 1 to %d characters of a-z, 0-9 and _",
			name ? name : "", ISSUE_NAME_MAX);
	if (templates_dir && *templates_dir) {
		struct buf path = BUF_INIT;
		buf_printf(&path, "%s/%s.md", templates_dir, name);
		int rc = read_override(buf_cstr(&path), text, e);
		if (rc <= 0) {
			if (rc == 0 && origin)
				*origin = buf_steal(&path);
			buf_free(&path);
			return rc;
		}
		buf_free(&path);
	}
	const char *t = builtin_text(name);
	if (!t) {
		if (templates_dir && *templates_dir)
			return err_set(e, ERR_NOTFOUND,
				       "no template named '%s' (not in %s, and not a built-in: "
				       "invariant_failure, budget_exceeded, planner_regression, "
				       "generic_incident)",
				       name, templates_dir);
		return err_set(e, ERR_NOTFOUND,
			       "no template named '%s' (built-ins: invariant_failure, "
			       "budget_exceeded, planner_regression, generic_incident)",
			       name);
	}
	*text = xstrdup(t);
	if (origin) {
		struct buf o = BUF_INIT;
		buf_printf(&o, "builtin:%s.md", name);
		*origin = buf_steal(&o);
	}
	return 0;
}

/* ---- number formatting for derived values ---- */

/* Trim trailing zeros of a fixed-point number, and "-0" → "0". */
static void trim_number(char *s)
{
	char *dot = strchr(s, '.');
	if (dot) {
		char *end = s + strlen(s);
		while (end > dot + 1 && end[-1] == '0')
			*--end = '\0';
		if (end == dot + 1)
			*dot = '\0';
	}
	if (!strcmp(s, "-0"))
		memmove(s, s + 1, 2);
}

/* Rounded for people: integers from 1000 up, two decimals from 1, three significant
 * digits below 1 (at most six decimals); trailing zeros dropped. */
static void fmt_num(char *out, size_t n, double x)
{
	if (!isfinite(x)) {
		snprintf(out, n, "n/a");
		return;
	}
	double ax = fabs(x);
	int dec = 0;
	if (ax >= 1e15) { /* beyond exact integers: no fixed-point digits by the hundred */
		snprintf(out, n, "%.6g", x);
		return;
	}
	if (ax == 0 || ax >= 1000)
		dec = 0;
	else if (ax >= 1)
		dec = 2;
	else {
		dec = 2 - (int)floor(log10(ax));
		if (dec > 6)
			dec = 6;
	}
	snprintf(out, n, "%.*f", dec, x);
	trim_number(out);
}

/* fmt_num with a '+' in front of a positive (non-zero once rounded) number. */
static void fmt_signed(char *out, size_t n, double x)
{
	fmt_num(out + 1, n - 1, x);
	if (x > 0 && strcmp(out + 1, "0") && strcmp(out + 1, "n/a"))
		out[0] = '+';
	else
		memmove(out, out + 1, strlen(out + 1) + 1);
}

/* A percentage: one decimal below 100, none from 100 up, trailing ".0" dropped, "%". */
static void fmt_pct(char *out, size_t n, double pct, bool sign)
{
	if (!isfinite(pct) || fabs(pct) >= 1e15) {
		snprintf(out, n, "n/a");
		return;
	}
	snprintf(out + 1, n - 2, "%.*f", fabs(pct) >= 100 ? 0 : 1, pct);
	trim_number(out + 1);
	if (sign && pct > 0 && strcmp(out + 1, "0"))
		out[0] = '+';
	else
		memmove(out, out + 1, strlen(out + 1) + 1);
	strcat(out, "%");
}

enum unit { UNIT_NONE, UNIT_MS, UNIT_RATE };

/* A value with its unit; rates in [0, 1] are shown as percentages when as_pct. */
static void fmt_value(char *out, size_t n, double x, enum unit u, bool as_pct, bool sign)
{
	char num[64];
	double v = u == UNIT_RATE && as_pct ? x * 100 : x;
	if (sign)
		fmt_signed(num, sizeof num, v);
	else
		fmt_num(num, sizeof num, v);
	const char *suffix = u == UNIT_MS ? " ms" : (u == UNIT_RATE && as_pct) ? "%" : "";
	snprintf(out, n, "%s%s", num, suffix);
}

static bool get_num(const json_t *obj, const char *key, double *out)
{
	const json_t *v = json_object_get(obj, key);
	if (!json_is_number(v))
		return false;
	*out = json_number_value(v);
	return isfinite(*out);
}

static bool is_fraction(double x)
{
	return x >= 0 && x <= 1;
}

static void set_str(json_t *obj, const char *key, const char *s)
{
	json_object_set_new(obj, key, jstr(s));
}

/* ---- derived values ---- */

/* A run of backticks longer than any run in s, and at least min long (three opens a
 * fenced code block, one an inline code span). */
static void fence_for(const char *s, size_t min, char *out, size_t n)
{
	size_t longest = 0, run = 0;
	for (const char *p = s; *p; p++) {
		run = *p == '`' ? run + 1 : 0;
		if (run > longest)
			longest = run;
	}
	size_t len = longest + 1 < min ? min : longest + 1;
	if (len > n - 1)
		len = n - 1;
	memset(out, '`', len);
	out[len] = '\0';
}

static bool json_empty(const json_t *v)
{
	return !v || json_is_null(v) || json_is_false(v) ||
	       (json_is_object(v) && json_object_size(v) == 0) ||
	       (json_is_array(v) && json_array_size(v) == 0) ||
	       (json_is_string(v) && json_string_length(v) == 0);
}

/* `<prefix>_json` (pretty, keys sorted), `<prefix>_fence` and `has_<prefix>`. */
static void add_pretty(json_t *derived, const char *prefix, const json_t *v)
{
	char key[64], fence[32];
	bool has = !json_empty(v);
	snprintf(key, sizeof key, "has_%s", prefix);
	json_object_set_new(derived, key, json_boolean(has));
	if (!v)
		return;
	char *text = json_dumps(v, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(15) |
					   JSON_ENCODE_ANY);
	if (!text)
		return;
	fence_for(text, 3, fence, sizeof fence);
	snprintf(key, sizeof key, "%s_json", prefix);
	set_str(derived, key, text);
	snprintf(key, sizeof key, "%s_fence", prefix);
	set_str(derived, key, fence);
	free(text);
}

struct budget_type {
	const char *type, *label;
	bool minimum;
	enum unit unit;
	const char *hint;
};

static const struct budget_type budget_types[] = {
	{"quality", "average quality score", true, UNIT_NONE,
	 "Compare the agent's recent eval results with earlier ones: a prompt, model or data "
	 "change is the usual cause of a quality drop."},
	{"success_rate", "success rate", true, UNIT_RATE,
	 "Look at the failed runs: errors or timeouts from a dependency are the usual cause of "
	 "a falling success rate."},
	{"latency_avg", "average latency", false, UNIT_MS,
	 "Check the agent's dependencies (search indices, caches, model endpoints) for "
	 "slowness, and what was deployed in the window."},
	{"latency_p95", "p95 latency", false, UNIT_MS,
	 "Check the agent's dependencies (search indices, caches, model endpoints) for "
	 "slowness, and what was deployed in the window."},
	{"latency_p99", "p99 latency", false, UNIT_MS,
	 "Check the agent's dependencies (search indices, caches, model endpoints) for "
	 "slowness, and what was deployed in the window."},
	{"cost", "average cost", false, UNIT_NONE,
	 "Look for longer prompts, more tool calls or a more expensive model; shifting traffic "
	 "away from a costly canary helps at once."},
	{"invariants", "invariant failures", false, UNIT_NONE,
	 "Each failed invariant has its own incident: work through those of this agent first."},
	{"quality_regression", "quality drop against the baseline", false, UNIT_NONE,
	 "Quality fell against the baseline period: a recent planner, prompt or model version "
	 "is the usual cause; consider rolling it back."},
	{"latency_regression", "p95 latency against the baseline", false, UNIT_MS,
	 "p95 latency grew against the baseline period: check recent deploys and the agent's "
	 "dependencies."},
};

static const char generic_budget_hint[] =
	"Compare the agent's current metrics with the baseline below to find what changed.";

struct metric_key {
	const char *key, *label;
	enum unit unit;
	bool count; /* a sum over the window: windows differ in length, so no change shown */
};

static const struct metric_key metric_keys[] = {
	{"total_runs", "Runs", UNIT_NONE, true},
	{"successful_runs", "Successful runs", UNIT_NONE, true},
	{"success_rate", "Success rate", UNIT_RATE, false},
	{"avg_quality_score", "Average quality score", UNIT_NONE, false},
	{"avg_latency_ms", "Average latency", UNIT_MS, false},
	{"p50_latency_ms", "p50 latency", UNIT_MS, false},
	{"p95_latency_ms", "p95 latency", UNIT_MS, false},
	{"p99_latency_ms", "p99 latency", UNIT_MS, false},
	{"avg_cost", "Average cost", UNIT_NONE, false},
	{"invariants_passed", "Invariants passed", UNIT_NONE, true},
	{"invariants_failed", "Invariant failures", UNIT_NONE, true},
};

static void metric_cell(char *out, size_t n, const json_t *obj, const char *key, enum unit u)
{
	double v;
	if (!get_num(obj, key, &v))
		snprintf(out, n, "n/a");
	else
		fmt_value(out, n, v, u, u == UNIT_RATE && is_fraction(v), false);
}

static json_t *metric_row(const char *label, const char *key, enum unit u, bool count,
			  const json_t *cur, const json_t *base)
{
	char c[64], b[64], ch[64];
	metric_cell(c, sizeof c, cur, key, u);
	metric_cell(b, sizeof b, base, key, u);
	double cv, bv;
	if (!count && get_num(cur, key, &cv) && get_num(base, key, &bv) && bv != 0)
		fmt_pct(ch, sizeof ch, (cv - bv) / fabs(bv) * 100, true);
	else
		snprintf(ch, sizeof ch, "n/a");
	return jpack("{ss ss ss ss ss}", "key", key, "label", label, "current", c, "baseline", b,
		     "change", ch);
}

static bool has_num(const json_t *obj, const char *key)
{
	double v;
	return get_num(obj, key, &v);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Rows of the current-vs-baseline table: the known metrics in a fixed order, then any
 * other numeric key, sorted. */
static json_t *metric_rows(const json_t *cur, const json_t *base)
{
	json_t *rows = json_array();
	size_t nk = sizeof metric_keys / sizeof metric_keys[0];
	for (size_t i = 0; i < nk; i++)
		if (has_num(cur, metric_keys[i].key) || has_num(base, metric_keys[i].key))
			json_array_append_new(rows,
					      metric_row(metric_keys[i].label, metric_keys[i].key,
							 metric_keys[i].unit, metric_keys[i].count,
							 cur, base));
	const json_t *objs[2] = {cur, base};
	const char **extra = NULL;
	size_t n_extra = 0;
	for (int o = 0; o < 2; o++) {
		const char *k;
		json_t *v;
		if (!json_is_object(objs[o]))
			continue;
		json_object_foreach((json_t *)objs[o], k, v)
		{
			if (!json_is_number(v))
				continue;
			bool known = false;
			for (size_t i = 0; i < nk && !known; i++)
				known = !strcmp(k, metric_keys[i].key);
			for (size_t i = 0; i < n_extra && !known; i++)
				known = !strcmp(k, extra[i]);
			if (known)
				continue;
			extra = xrealloc(extra, (n_extra + 1) * sizeof *extra);
			extra[n_extra++] = k;
		}
	}
	if (n_extra)
		qsort(extra, n_extra, sizeof *extra, cmp_str);
	for (size_t i = 0; i < n_extra; i++)
		json_array_append_new(rows,
				      metric_row(extra[i], extra[i], UNIT_NONE, false, cur, base));
	free(extra);
	return rows;
}

static void derive_budget(json_t *derived, const json_t *details)
{
	const char *type = json_string_value(json_object_get(details, "budget_type"));
	const json_t *cur = json_object_get(details, "current");
	const json_t *base = json_object_get(details, "baseline");
	if (json_is_object(cur) || json_is_object(base)) {
		json_t *rows = metric_rows(cur, base);
		json_object_set_new(derived, "has_metric_rows",
				    json_boolean(json_array_size(rows) > 0));
		json_object_set_new(derived, "metric_rows", rows);
	}
	if (!type)
		return;
	const struct budget_type *bt = NULL;
	for (size_t i = 0; i < sizeof budget_types / sizeof budget_types[0]; i++)
		if (!strcmp(type, budget_types[i].type))
			bt = &budget_types[i];
	double threshold = 0, actual = 0;
	bool nums =
		get_num(details, "threshold", &threshold) && get_num(details, "actual", &actual);
	bool minimum = bt ? bt->minimum : (nums && actual < threshold);
	enum unit u = bt ? bt->unit : UNIT_NONE;
	if (bt) {
		set_str(derived, "metric_label", bt->label);
	} else {
		char *label = xstrdup(type);
		for (char *p = label; *p; p++)
			if (*p == '_')
				*p = ' ';
		set_str(derived, "metric_label", label);
		free(label);
	}
	set_str(derived, "bound", minimum ? "minimum" : "maximum");
	set_str(derived, "comparison", minimum ? "below" : "above");
	set_str(derived, "hint", bt ? bt->hint : generic_budget_hint);
	if (!nums)
		return;
	bool as_pct = u == UNIT_RATE && is_fraction(threshold) && is_fraction(actual);
	char s[96];
	fmt_value(s, sizeof s, threshold, u, as_pct, false);
	set_str(derived, "threshold", s);
	fmt_value(s, sizeof s, actual, u, as_pct, false);
	set_str(derived, "actual", s);
	double over = minimum ? threshold - actual : actual - threshold;
	if (as_pct) {
		char num[64];
		fmt_num(num, sizeof num, over * 100);
		snprintf(s, sizeof s, "%s percentage points", num);
	} else {
		fmt_value(s, sizeof s, over, u, false, false);
	}
	set_str(derived, "overage", s);
	json_object_set_new(derived, "overage_value", json_real(over));
	if (threshold != 0)
		fmt_pct(s, sizeof s, over / fabs(threshold) * 100, false);
	else
		snprintf(s, sizeof s, "n/a");
	set_str(derived, "overage_pct", s);
}

static const char *canary_metric_label(const char *name)
{
	static const struct {
		const char *name, *label;
	} labels[] = {
		{"quality", "Mean quality score"},
		{"quality_score", "Mean quality score"},
		{"latency_p95", "p95 latency"},
		{"p95_latency_ms", "p95 latency"},
		{"cost", "Mean cost"},
		{"avg_cost", "Mean cost"},
	};
	for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++)
		if (!strcmp(name, labels[i].name))
			return labels[i].label;
	return name;
}

/* The per-metric `derived` object of one details.metrics entry. */
static json_t *derive_canary_metric(const json_t *m)
{
	json_t *d = json_object();
	const char *name = json_string_value(json_object_get(m, "name"));
	enum unit u = name && strstr(name, "latency") ? UNIT_MS : UNIT_NONE;
	set_str(d, "label", name ? canary_metric_label(name) : "(unnamed metric)");
	char s[96];
	double cv = 0, bv = 0, delta = 0;
	bool has_c = get_num(m, "canary_value", &cv), has_b = get_num(m, "baseline_value", &bv);
	if (has_c)
		fmt_value(s, sizeof s, cv, u, false, false);
	set_str(d, "canary", has_c ? s : "n/a");
	if (has_b)
		fmt_value(s, sizeof s, bv, u, false, false);
	set_str(d, "baseline", has_b ? s : "n/a");
	bool has_d = get_num(m, "delta", &delta);
	if (!has_d && has_c && has_b) {
		delta = cv - bv;
		has_d = true;
	}
	if (has_d)
		fmt_value(s, sizeof s, delta, u, false, true);
	set_str(d, "delta", has_d ? s : "n/a");
	if (has_c && has_b && bv != 0)
		fmt_pct(s, sizeof s, (cv - bv) / fabs(bv) * 100, true);
	set_str(d, "delta_pct", has_c && has_b && bv != 0 ? s : "n/a");
	set_str(d, "direction",
		!(has_c && has_b) ? "n/a"
		: cv > bv	  ? "higher"
		: cv < bv	  ? "lower"
				  : "unchanged");
	return d;
}

static void derive_canary(json_t *derived, json_t *details)
{
	json_t *metrics = json_object_get(details, "metrics");
	if (json_is_array(metrics)) {
		struct buf names = BUF_INIT;
		size_t i, count = 0;
		json_t *m;
		json_array_foreach(metrics, i, m)
		{
			if (!json_is_object(m))
				continue;
			json_object_set_new(m, "derived", derive_canary_metric(m));
			const char *name = json_string_value(json_object_get(m, "name"));
			if (name && *name)
				buf_printf(&names, "%s%s", names.len ? ", " : "", name);
			count++;
		}
		if (names.len)
			set_str(derived, "regressed", buf_cstr(&names));
		buf_free(&names);
		if (count) {
			char s[64];
			snprintf(s, sizeof s, "%zu metric%s", count, count == 1 ? "" : "s");
			set_str(derived, "metric_count", s);
		}
	}
	double pct;
	if (get_num(details, "canary_pct", &pct)) {
		char s[64];
		fmt_num(s, sizeof s, pct);
		strncat(s, "%", sizeof s - strlen(s) - 1);
		set_str(derived, "canary_pct", s);
	}
	const json_t *rb = json_object_get(details, "rollback_available");
	if (json_is_boolean(rb))
		set_str(derived, "rollback", json_is_true(rb) ? "yes" : "no");
}

int issue_context(const json_t *incident, const char *public_url, json_t **out, struct err *e)
{
	*out = NULL;
	if (!json_is_object(incident))
		return err_set(e, ERR_INVALID, "the incident must be a JSON object");
	const json_t *id = json_object_get(incident, "id");
	if (!json_is_integer(id) || json_integer_value(id) < 1)
		return err_field(e, ERR_INVALID, "id",
				 "the incident needs an integer id of 1 or more");
	if (!json_is_string(json_object_get(incident, "kind")))
		return err_field(e, ERR_INVALID, "kind", "the incident needs a string kind");
	if (!json_is_string(json_object_get(incident, "key")))
		return err_field(e, ERR_INVALID, "key", "the incident needs a string key");
	const json_t *details_in = json_object_get(incident, "details");
	if (details_in && !json_is_object(details_in) && !json_is_null(details_in))
		return err_field(e, ERR_INVALID, "details", "details must be an object");

	json_t *ctx = json_deep_copy(incident);
	if (!ctx)
		return err_set(e, ERR_NOMEM, "out of memory");
	struct buf url = BUF_INIT;
	buf_puts(&url, public_url ? public_url : "");
	while (url.len && url.data[url.len - 1] == '/')
		url.data[--url.len] = '\0';
	set_str(ctx, "public_url", buf_cstr(&url));
	buf_printf(&url, "/incidents/%lld", (long long)json_integer_value(id));
	set_str(ctx, "incident_url", buf_cstr(&url));
	buf_free(&url);

	json_t *derived = json_object();
	json_t *details = json_object_get(ctx, "details");
	add_pretty(derived, "details", details);
	if (json_is_object(details)) {
		const json_t *ev = json_object_get(details, "evidence");
		if (ev)
			add_pretty(derived, "evidence", ev);
		else
			json_object_set_new(derived, "has_evidence", json_false());
		derive_budget(derived, details);
		derive_canary(derived, details);
	}
	const json_t *pb = json_object_get(ctx, "playbooks");
	json_object_set_new(derived, "has_playbooks",
			    json_boolean(json_is_array(pb) && json_array_size(pb) > 0));
	json_object_set_new(ctx, "derived", derived);
	*out = ctx;
	return 0;
}

/* ---- front matter ---- */

/* A string of the front matter with where it starts in the template file (1-based). */
struct fm_str {
	char *text;
	int line, col; /* of the scalar's first character (its opening quote, if quoted) */
	int quoted;    /* 1 when written in quotes */
};

struct front_matter {
	struct fm_str title;
	bool has_title, has_labels, has_assignees;
	struct fm_str *labels;
	size_t n_labels;
	struct fm_str *assignees;
	size_t n_assignees;
};

static void fm_clear(struct front_matter *fm)
{
	free(fm->title.text);
	for (size_t i = 0; i < fm->n_labels; i++)
		free(fm->labels[i].text);
	free(fm->labels);
	for (size_t i = 0; i < fm->n_assignees; i++)
		free(fm->assignees[i].text);
	free(fm->assignees);
	memset(fm, 0, sizeof *fm);
}

/* Where the parts of a template are: the YAML between the two `---` lines and the body.
 * first_line is the file line of the YAML's first line, body_line that of the body. */
struct layout {
	size_t yaml_off, yaml_len, body_off;
	int first_line, body_line;
};

/* Length of the line starting at p (up to, not including, '\n'), and whether it is a
 * `---` delimiter (trailing blanks and CR allowed). */
static bool is_delim(const char *p, size_t n)
{
	if (n < 3 || memcmp(p, "---", 3))
		return false;
	for (size_t i = 3; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
			return false;
	return true;
}

static int split_template(const char *text, size_t len, const char *origin, struct layout *l,
			  struct err *e)
{
	size_t pos = 0;
	if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
		pos = 3; /* UTF-8 byte order mark */
	const char *nl = memchr(text + pos, '\n', len - pos);
	size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
	if (!is_delim(text + pos, n))
		return err_set(e, ERR_INVALID,
			       "%s:1:1: a template must start with a front matter: a line '---', "
			       "YAML with title and labels, and a closing line '---'",
			       origin);
	pos += n + (nl ? 1 : 0);
	l->yaml_off = pos;
	l->first_line = 2;
	int line = 2;
	while (pos < len) {
		nl = memchr(text + pos, '\n', len - pos);
		n = nl ? (size_t)(nl - (text + pos)) : len - pos;
		if (is_delim(text + pos, n)) {
			l->yaml_len = pos - l->yaml_off;
			l->body_off = pos + n + (nl ? 1 : 0);
			l->body_line = line + 1;
			return 0;
		}
		pos += n + (nl ? 1 : 0);
		line++;
	}
	return err_set(e, ERR_INVALID, "%s:1:1: the front matter has no closing '---' line",
		       origin);
}

static const char *node_type_name(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE: return "a string";
	case YAML_SEQUENCE_NODE: return "a list";
	case YAML_MAPPING_NODE: return "a mapping";
	default: return "nothing";
	}
}

static int node_err(struct err *e, const char *origin, const struct layout *l, const yaml_node_t *n,
		    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* ERR_INVALID "<origin>:<line>:<column>: <message>" at node n. */
static int node_err(struct err *e, const char *origin, const struct layout *l, const yaml_node_t *n,
		    const char *fmt, ...)
{
	char msg[ERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return err_set(e, ERR_INVALID, "%s:%d:%d: %s", origin,
		       (int)n->start_mark.line + l->first_line, (int)n->start_mark.column + 1, msg);
}

static bool plain_null(const yaml_node_t *n)
{
	static const char *const words[] = {"", "~", "null", "Null", "NULL"};
	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
		if (!strcmp((const char *)n->data.scalar.value, words[i]))
			return true;
	return false;
}

static int fm_string(const yaml_node_t *n, const char *what, const char *origin,
		     const struct layout *l, struct fm_str *out, struct err *e)
{
	if (n->type != YAML_SCALAR_NODE)
		return node_err(e, origin, l, n, "%s must be a string, not %s", what,
				node_type_name(n));
	if (plain_null(n))
		return node_err(e, origin, l, n, "%s must be a string, not null", what);
	const char *v = (const char *)n->data.scalar.value;
	size_t len = n->data.scalar.length;
	if (memchr(v, '\0', len))
		return node_err(e, origin, l, n, "%s contains a NUL character", what);
	out->text = xstrndup(v, len);
	out->line = (int)n->start_mark.line + l->first_line;
	out->col = (int)n->start_mark.column + 1;
	out->quoted = n->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
		      n->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
	return 0;
}

#define FM_LIST_MAX 100

static int fm_list(yaml_document_t *doc, const yaml_node_t *n, const char *what, const char *origin,
		   const struct layout *l, struct fm_str **out, size_t *n_out, struct err *e)
{
	if (n->type != YAML_SEQUENCE_NODE)
		return node_err(e, origin, l, n, "%s must be a list of strings, not %s", what,
				node_type_name(n));
	size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (count > FM_LIST_MAX)
		return node_err(e, origin, l, n, "%s has %zu entries; at most %d are allowed", what,
				count, FM_LIST_MAX);
	*out = count ? xcalloc(count, sizeof **out) : NULL;
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *item = yaml_document_get_node(doc, n->data.sequence.items.start[i]);
		char w[64];
		snprintf(w, sizeof w, "%s[%zu]", what, i);
		int rc = fm_string(item, w, origin, l, &(*out)[*n_out], e);
		if (rc)
			return rc;
		(*n_out)++;
	}
	return 0;
}

/* Parse the YAML of the front matter into fm (cleared by the caller on failure too). */
static int parse_front_matter(const char *text, const struct layout *l, const char *origin,
			      struct front_matter *fm, struct err *e)
{
	yaml_parser_t p;
	yaml_document_t doc;
	bool have_doc = false;
	int rc = 0;
	if (!yaml_parser_initialize(&p))
		return err_set(e, ERR_NOMEM, "out of memory");
	yaml_parser_set_input_string(&p, (const unsigned char *)text + l->yaml_off, l->yaml_len);
	if (!yaml_parser_load(&p, &doc)) {
		rc = err_set(e, ERR_INVALID, "%s:%d:%d: invalid YAML in the front matter: %s%s%s",
			     origin, (int)p.problem_mark.line + l->first_line,
			     (int)p.problem_mark.column + 1, p.problem ? p.problem : "syntax error",
			     p.context ? " " : "", p.context ? p.context : "");
		goto out;
	}
	have_doc = true;
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	if (!root) {
		rc = err_set(e, ERR_INVALID,
			     "%s:%d:1: the front matter is empty: it needs title and labels",
			     origin, l->first_line);
		goto out;
	}
	if (root->type != YAML_MAPPING_NODE) {
		rc = node_err(e, origin, l, root,
			      "the front matter must be a mapping of title, labels and optionally "
			      "assignees, not %s",
			      node_type_name(root));
		goto out;
	}
	for (yaml_node_pair_t *pair = root->data.mapping.pairs.start;
	     pair < root->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = yaml_document_get_node(&doc, pair->key);
		yaml_node_t *v = yaml_document_get_node(&doc, pair->value);
		if (k->type != YAML_SCALAR_NODE) {
			rc = node_err(e, origin, l, k, "front matter keys must be strings, not %s",
				      node_type_name(k));
			goto out;
		}
		const char *key = (const char *)k->data.scalar.value;
		bool *seen = !strcmp(key, "title")	 ? &fm->has_title
			     : !strcmp(key, "labels")	 ? &fm->has_labels
			     : !strcmp(key, "assignees") ? &fm->has_assignees
							 : NULL;
		if (!seen) {
			rc = node_err(e, origin, l, k,
				      "unknown front matter key '%s' (expected title, labels and "
				      "optionally assignees)",
				      key);
			goto out;
		}
		if (*seen) {
			rc = node_err(e, origin, l, k, "duplicate front matter key '%s'", key);
			goto out;
		}
		if (!strcmp(key, "title"))
			rc = fm_string(v, "title", origin, l, &fm->title, e);
		else if (!strcmp(key, "labels"))
			rc = fm_list(&doc, v, "labels", origin, l, &fm->labels, &fm->n_labels, e);
		else
			rc = fm_list(&doc, v, "assignees", origin, l, &fm->assignees,
				     &fm->n_assignees, e);
		if (rc)
			goto out;
		*seen = true;
	}
	if (!fm->has_title) {
		rc = err_set(e, ERR_INVALID, "%s:%d:1: the front matter has no title", origin,
			     l->first_line);
		goto out;
	}
	if (!fm->has_labels) {
		rc = err_set(e, ERR_INVALID,
			     "%s:%d:1: the front matter has no labels (write labels: [] for none)",
			     origin, l->first_line);
		goto out;
	}
	/* Nothing may follow the first document (e.g. after a '...' line). */
	yaml_document_delete(&doc);
	have_doc = false;
	if (!yaml_parser_load(&p, &doc)) {
		rc = err_set(e, ERR_INVALID, "%s:%d:%d: invalid YAML in the front matter: %s",
			     origin, (int)p.problem_mark.line + l->first_line,
			     (int)p.problem_mark.column + 1,
			     p.problem ? p.problem : "syntax error");
		goto out;
	}
	have_doc = true;
	if (yaml_document_get_root_node(&doc))
		rc = err_set(e, ERR_INVALID,
			     "%s:%d:1: the front matter holds more than one YAML document", origin,
			     l->first_line);
out:
	if (have_doc)
		yaml_document_delete(&doc);
	yaml_parser_delete(&p);
	return rc;
}

/* ---- rendering ---- */

/* s as one line for a tracker: every run of control characters (CR, LF, TAB, ...,
 * and the Unicode line separators NEL, LS, PS) with the blanks around it becomes one
 * space; blanks at both ends are dropped. A new string. */
static char *one_line(const char *s)
{
	struct buf b = BUF_INIT;
	bool pending = false;
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		size_t skip = 0;
		if (*p < 0x20 || *p == 0x7f)
			skip = 1;
		else if (p[0] == 0xc2 && p[1] == 0x85)
			skip = 2;
		else if (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9))
			skip = 3;
		if (skip) {
			pending = true;
			p += skip;
			continue;
		}
		if (pending) {
			if (*p == ' ') {
				p++;
				continue;
			}
			while (b.len && b.data[b.len - 1] == ' ')
				b.data[--b.len] = '\0';
			if (b.len)
				buf_putc(&b, ' ');
			pending = false;
		}
		buf_putc(&b, (char)*p++);
	}
	size_t start = 0;
	while (start < b.len && b.data[start] == ' ')
		start++;
	while (b.len > start && b.data[b.len - 1] == ' ')
		b.len--;
	char *out = xstrndup(b.data ? b.data + start : "", b.len - start);
	buf_free(&b);
	return out;
}

static bool ascii_ieq(const char *a, const char *b)
{
	for (; *a && *b; a++, b++) {
		char x = *a >= 'A' && *a <= 'Z' ? (char)(*a + 32) : *a;
		char y = *b >= 'A' && *b <= 'Z' ? (char)(*b + 32) : *b;
		if (x != y)
			return false;
	}
	return *a == *b;
}

/* Append s (taken over) to the list unless it is empty or already there (ignoring ASCII
 * case); frees s when it is not kept. */
static void add_unique(char ***list, size_t *n, char *s)
{
	if (!*s) {
		free(s);
		return;
	}
	for (size_t i = 0; i < *n; i++)
		if (ascii_ieq((*list)[i], s)) {
			free(s);
			return;
		}
	*list = xrealloc(*list, (*n + 1) * sizeof **list);
	(*list)[(*n)++] = s;
}

/* The code of a failed render: the renderer's resource limits stay themselves, every
 * other failure is a broken template. */
static int render_code(int rc)
{
	return rc == ERR_NOMEM || rc == ERR_TOOLARGE ? rc : ERR_INVALID;
}

/* Render one front matter string without escaping, as one line; *out is new. */
static int render_fm(const struct fm_str *s, const char *what, const json_t *ctx,
		     const char *origin, issue_missing_fn missing, void *missing_arg, char **out,
		     struct err *e)
{
	struct mustache_opts o = {
		.escape = MUSTACHE_ESCAPE_NONE, .missing = missing, .missing_arg = missing_arg};
	struct buf b = BUF_INIT;
	struct err me;
	err_clear(&me);
	int rc = mustache_render(s->text, strlen(s->text), ctx, &o, &b, &me);
	if (rc) {
		buf_free(&b);
		/* Place the renderer's "line l, column c" (within the string) in the file:
		 * exact on the scalar's first line, when it is written plain or quoted on one
		 * line (escapes aside). */
		int line = 0, col = 0, off = 0;
		if (sscanf(me.msg, "line %d, column %d: %n", &line, &col, &off) == 2 && off > 0) {
			int fl = s->line + line - 1;
			int fc = line == 1 ? s->col + s->quoted + col - 1 : col;
			return err_set(e, render_code(rc), "%s:%d:%d: in %s: %s", origin, fl, fc,
				       what, me.msg + off);
		}
		return err_set(e, render_code(rc), "%s:%d:%d: in %s: %s", origin, s->line, s->col,
			       what, me.msg);
	}
	*out = one_line(buf_cstr(&b));
	buf_free(&b);
	return 0;
}

/* Render the body in Markdown mode into out. The body is preceded by one newline per
 * front matter line, so that the renderer's line numbers in errors are those of the
 * template file; those newlines come out first, verbatim, and are dropped. (A line
 * break before the body's first line does not change what is standalone: a template
 * start and a line start are the same to Mustache.) */
static int render_body(const char *text, size_t len, const struct layout *l, const json_t *ctx,
		       const char *origin, issue_missing_fn missing, void *missing_arg,
		       struct buf *out, struct err *e)
{
	size_t pad = (size_t)(l->body_line - 1);
	struct buf src = BUF_INIT, res = BUF_INIT;
	for (size_t i = 0; i < pad; i++)
		buf_putc(&src, '\n');
	buf_append(&src, text + l->body_off, len - l->body_off);
	struct mustache_opts o = {
		.escape = MUSTACHE_ESCAPE_MARKDOWN, .missing = missing, .missing_arg = missing_arg};
	struct err me;
	err_clear(&me);
	int rc = mustache_render(buf_cstr(&src), src.len, ctx, &o, &res, &me);
	if (rc) {
		int line = 0, col = 0, off = 0;
		if (sscanf(me.msg, "line %d, column %d: %n", &line, &col, &off) == 2 && off > 0)
			rc = err_set(e, render_code(rc), "%s:%d:%d: %s", origin, line, col,
				     me.msg + off);
		else
			rc = err_set(e, render_code(rc), "%s: in the body: %s", origin, me.msg);
		goto out;
	}
	size_t skip = 0;
	while (skip < pad && skip < res.len && res.data[skip] == '\n')
		skip++;
	if (skip != pad) {
		rc = err_set(e, ERR_INTERNAL, "%s: the body's rendering lost its leading lines",
			     origin);
		goto out;
	}
	buf_append(out, res.data ? res.data + skip : "", res.len - skip);
out:
	buf_free(&src);
	buf_free(&res);
	return rc;
}

/* The footer, rendered in Markdown mode so that the key gets the same neutralisation
 * as values in the body. */
static int append_footer(struct buf *body, const json_t *ctx, struct err *e)
{
	while (body->len && strchr(" \t\r\n", body->data[body->len - 1]))
		body->data[--body->len] = '\0';
	if (body->len)
		buf_puts(body, "\n\n");
	char *key = one_line(json_string_value(json_object_get(ctx, "key")));
	char fence[32];
	fence_for(key, 1, fence, sizeof fence);
	bool pad = *key == '`' || (*key && key[strlen(key) - 1] == '`');
	json_t *fctx = jpack("{ss ss sI ss ss}", "url",
			     json_string_value(json_object_get(ctx, "incident_url")), "key", key,
			     "id", (json_int_t)json_integer_value(json_object_get(ctx, "id")),
			     "fence", fence, "pad", pad ? " " : "");
	free(key);
	static const char with_key[] =
		"---\n_Opened by [intervene]({{url}}) for incident #{{id}} · key "
		"{{fence}}{{pad}}{{key}}{{pad}}{{fence}}_\n";
	static const char without_key[] =
		"---\n_Opened by [intervene]({{url}}) for incident #{{id}}_\n";
	const char *t = *json_string_value(json_object_get(fctx, "key")) ? with_key : without_key;
	struct mustache_opts o = {.escape = MUSTACHE_ESCAPE_MARKDOWN};
	struct err me;
	err_clear(&me);
	int rc = mustache_render(t, strlen(t), fctx, &o, body, &me);
	json_decref(fctx);
	if (rc)
		return err_set(e, ERR_INTERNAL, "rendering the footer: %s", me.msg);
	return 0;
}

int issue_render_text(const char *text, size_t len, const char *origin, const json_t *incident,
		      const char *public_url, issue_missing_fn missing, void *missing_arg,
		      struct issue_doc *out, struct err *e)
{
	memset(out, 0, sizeof *out);
	if (!origin)
		origin = "template";
	struct front_matter fm = {0};
	struct layout l = {0};
	struct buf body = BUF_INIT;
	json_t *ctx = NULL;
	struct issue_doc d = {0};
	int rc = issue_context(incident, public_url, &ctx, e);
	if (rc)
		goto out;
	if ((rc = split_template(text, len, origin, &l, e)))
		goto out;
	if ((rc = parse_front_matter(text, &l, origin, &fm, e)))
		goto out;

	if ((rc = render_fm(&fm.title, "title", ctx, origin, missing, missing_arg, &d.title, e)))
		goto out;
	if (!*d.title) {
		free(d.title);
		d.title = one_line(json_string_value(json_object_get(ctx, "summary"))
					   ? json_string_value(json_object_get(ctx, "summary"))
					   : "");
	}
	long long id = (long long)json_integer_value(json_object_get(ctx, "id"));
	if (!*d.title) {
		struct buf t = BUF_INIT;
		buf_printf(&t, "Incident #%lld", id);
		free(d.title);
		d.title = buf_steal(&t);
	}
	char own[40];
	snprintf(own, sizeof own, "intervene-%lld", id);
	for (size_t i = 0; i < fm.n_labels; i++) {
		char *s = NULL;
		char what[32];
		snprintf(what, sizeof what, "labels[%zu]", i);
		if ((rc = render_fm(&fm.labels[i], what, ctx, origin, missing, missing_arg, &s, e)))
			goto out;
		/* The two labels of code come last, spelled exactly: trackers find the issue
		 * again by them (SPEC §8.2). */
		if (ascii_ieq(s, "intervene") || ascii_ieq(s, own))
			free(s);
		else
			add_unique(&d.labels, &d.n_labels, s);
	}
	add_unique(&d.labels, &d.n_labels, xstrdup("intervene"));
	add_unique(&d.labels, &d.n_labels, xstrdup(own));
	for (size_t i = 0; i < fm.n_assignees; i++) {
		char *s = NULL;
		char what[32];
		snprintf(what, sizeof what, "assignees[%zu]", i);
		if ((rc = render_fm(&fm.assignees[i], what, ctx, origin, missing, missing_arg, &s,
				    e)))
			goto out;
		add_unique(&d.assignees, &d.n_assignees, s);
	}

	if ((rc = render_body(text, len, &l, ctx, origin, missing, missing_arg, &body, e)))
		goto out;
	if ((rc = append_footer(&body, ctx, e)))
		goto out;
	d.body = buf_steal(&body);
	*out = d;
	memset(&d, 0, sizeof d);
out:
	issue_doc_clear(&d);
	buf_free(&body);
	fm_clear(&fm);
	json_decref(ctx);
	return rc;
}

int issue_render(const char *template_name, const char *templates_dir, const json_t *incident,
		 const char *public_url, issue_missing_fn missing, void *missing_arg,
		 struct issue_doc *out, struct err *e)
{
	memset(out, 0, sizeof *out);
	const char *name = template_name;
	if (!name)
		name = issue_template_for_kind(
			json_string_value(json_object_get(incident, "kind")));
	char *text = NULL, *origin = NULL;
	int rc = issue_template_load(name, templates_dir, &text, &origin, e);
	if (!rc)
		rc = issue_render_text(text, strlen(text), origin, incident, public_url, missing,
				       missing_arg, out, e);
	free(text);
	free(origin);
	return rc;
}

static void free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void issue_doc_clear(struct issue_doc *d)
{
	if (!d)
		return;
	free(d->title);
	free_list(d->labels, d->n_labels);
	free_list(d->assignees, d->n_assignees);
	free(d->body);
	memset(d, 0, sizeof *d);
}
