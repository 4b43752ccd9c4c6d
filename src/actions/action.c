/* action.c — the registry of action types and what every type shares; see action.h. */
#include "actions/action.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "util/json.h"

extern const struct action_type action_rerun_dbt, action_refresh_dbt_dependencies,
	action_refresh_synonyms, action_clear_cache, action_rollback_planner,
	action_adjust_canary_split, action_restore_canary;

/* The registry: one row per type. */
const struct action_type *const action_types[] = {
	&action_rerun_dbt,	  &action_refresh_dbt_dependencies,
	&action_refresh_synonyms, &action_clear_cache,
	&action_rollback_planner, &action_adjust_canary_split,
	&action_restore_canary,	  NULL,
};

const struct action_type *action_type_find(const char *name)
{
	for (size_t i = 0; name && action_types[i]; i++)
		if (!strcmp(action_types[i]->name, name))
			return action_types[i];
	return NULL;
}

void action_plan_clear(struct action_plan *p)
{
	if (!p)
		return;
	json_decref(p->plan);
	json_decref(p->inverse);
	memset(p, 0, sizeof *p);
}

const char *action_param_str(const json_t *params, const char *name)
{
	const char *s = json_get_str(params, name);
	return s ? s : "";
}

static bool allowed(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (!strcmp(*list, s))
			return true;
	return false;
}

int action_params_validate(const struct action_type *t, const struct config *cfg,
			   const json_t *params, json_t **out, struct err *e)
{
	*out = NULL;
	size_t n = 0;
	while (t->params[n].v.name)
		n++;
	struct vfield *fields = xcalloc(n + 1, sizeof *fields);
	for (size_t i = 0; i < n; i++)
		fields[i] = t->params[i].v;
	/* JSON null is absent, as everywhere in the API: {}. */
	json_t *p = params && !json_is_null(params) ? json_deep_copy(params) : json_object();
	int rc = 0;
	if (!json_is_object(p)) {
		rc = err_field(e, ERR_INVALID, "params", "params must be an object");
		goto out;
	}
	if ((rc = validate_object(p, fields, "params.", e)))
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct action_param *ap = &t->params[i];
		json_t *v = json_object_get(p, ap->v.name);
		if (json_is_null(v)) {
			json_object_del(p, ap->v.name);
			v = NULL;
		}
		if (!v && ap->dflt) {
			json_object_set_new(p, ap->v.name,
					    json_loads(ap->dflt, JSON_DECODE_ANY, NULL));
			continue;
		}
		if (v && ap->items_allowed) {
			size_t k;
			json_t *item;
			json_array_foreach(v, k, item)
			{
				if (!allowed(ap->items_allowed, json_string_value(item))) {
					rc = err_field(
						e, ERR_INVALID, "params.x",
						"params.%s[%zu]: '%s' is not one of the allowed "
						"values",
						ap->v.name, k, json_string_value(item));
					snprintf(e->field, sizeof e->field, "params.%s",
						 ap->v.name);
					goto out;
				}
			}
		}
	}
	if (t->check && (rc = t->check(cfg, p, e)))
		goto out;
	*out = p;
	p = NULL;
out:
	json_decref(p);
	free(fields);
	return rc;
}

static const char *const type_names[] = {
	[V_STRING] = "string", [V_INT] = "integer",   [V_NUMBER] = "number",
	[V_BOOL] = "boolean",  [V_OBJECT] = "object", [V_STRING_ARRAY] = "array",
	[V_TIME] = "string",   [V_ANY] = "any",
};

json_t *action_type_describe(const struct action_type *t)
{
	json_t *params = json_array();
	for (const struct action_param *ap = t->params; ap->v.name; ap++) {
		json_t *d = jpack("{ss ss sb ss}", "name", ap->v.name, "type",
				  type_names[ap->v.type], "required", ap->v.required, "description",
				  ap->description ? ap->description : "");
		if (ap->dflt)
			json_object_set_new(d, "default",
					    json_loads(ap->dflt, JSON_DECODE_ANY, NULL));
		if (ap->v.min || ap->v.max) {
			json_object_set_new(d, "min", json_integer(ap->v.min));
			json_object_set_new(d, "max", json_integer(ap->v.max));
		}
		const char *const *list = ap->v.allowed ? ap->v.allowed : ap->items_allowed;
		if (list) {
			json_t *a = json_array();
			for (; *list; list++)
				json_array_append_new(a, json_string(*list));
			json_object_set_new(d, "allowed", a);
		}
		json_array_append_new(params, d);
	}
	return jpack("{ss ss ss so ss sb so}", "name", t->name, "display_name", t->display_name,
		     "description", t->description, "params", params, "approval", t->approval_rule,
		     "reversible", t->rollback != NULL, "rollback", json_str_or_null(t->rollback));
}

void action_plan_hash(const char *type, const json_t *params, char out[65])
{
	json_t *o = jpack("{ss sO}", "action_type", type, "params", params);
	char *text = json_canon(o);
	unsigned char d[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(d, (const unsigned char *)text, strlen(text));
	for (size_t i = 0; i < sizeof d; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
	free(text);
	json_decref(o);
}
