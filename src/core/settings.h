/* settings.h — runtime settings (SPEC §5.3): operators change them over the API
 * without a restart, and every change is an event.
 *
 * Keys: `tracker` — a whole tracker block, validated by the configuration's own key
 * table (config/tracker.c), replacing the config file's block until changed again;
 * `canary.<name>` — {version, baseline_version, canary_pct 0..100, kill_switch}. Values
 * are stored as JSON text in the settings table; secret keys (token, api_token,
 * api_key, password, secret, routing_key) are masked as "****" whenever a value is
 * shown, and a "****" sent back for a secret keeps the stored one (the config file's
 * while nothing is stored) — unless the base_url (or url) beside it changed: a kept
 * secret is never sent to a new host. settings_changed events carry {key, changed_fields (dotted
 * names), updated_by, reason}, never values.
 *
 * A tracker value is stored whole, as the configuration's loader normalised it (every
 * key, defaults filled in). ${VAR} is refused in it: a setting is not expanded from
 * the server's environment. Unknown keys are ERR_NOTFOUND everywhere (404).
 *
 * Functions taking a store_conn run on a store thread (reads on a reader, puts inside
 * the writer's transaction). */
#ifndef INTERVENE_CORE_SETTINGS_H
#define INTERVENE_CORE_SETTINGS_H

#include <jansson.h>
#include <stdbool.h>

#include "config/config.h"
#include "store/store.h"

/* Whether key is a setting this version knows ("tracker", "canary.<name>" with name
 * 1..64 of [A-Za-z0-9._-]). */
bool settings_key_known(const char *key);

/* Validate value for key against what it must be: 0, or ERR_INVALID with e->field
 * naming the offending part ("value.github.token", "value.canary_pct") and the
 * loader's problems in e->msg ("value.github.token: required when tracker.provider is
 * github; ..."); ERR_NOTFOUND for an unknown key. For tracker, "****" secrets are
 * resolved against old (the stored value, may be NULL: then cfg's block) first.
 * *out gets the value to store (new reference). No storage. */
int settings_validate(const struct config *cfg, const char *key, const json_t *value,
		      const json_t *old, json_t **out, struct err *e);

/* Validate and store value for key by actor with reason (1..1000 characters after
 * trimming; stored trimmed), and record settings_changed — also when nothing changed
 * (changed_fields is then empty: who and why are still worth a line in the log).
 * ERR_INVALID (e->field "reason" or as settings_validate), ERR_NOTFOUND for an unknown
 * key; storage errors. */
int settings_put(struct store_conn *c, const struct config *cfg, const char *key,
		 const json_t *value, const char *actor, const char *reason, struct err *e);

/* The API form {key, value (masked), source ("setting" | "config"), updated_at,
 * updated_by, reason} of key; for `tracker` unset, the config file's block (source
 * "config"). ERR_NOTFOUND for an unset canary or an unknown key. New reference. */
int settings_get_json(struct store_conn *c, const struct config *cfg, const char *key, json_t **out,
		      struct err *e);

/* Every setting in that form, tracker first (config's when unset). New reference. */
int settings_list_json(struct store_conn *c, const struct config *cfg, json_t **out, struct err *e);

/* GET /api/canary/{name}: {name, version, baseline_version, canary_pct, kill_switch,
 * updated_at} of canary.<name>. ERR_NOTFOUND when it is unset or name is not a valid
 * canary name. New reference. (Added to the first contract.) */
int settings_canary_json(struct store_conn *c, const char *name, json_t **out, struct err *e);

/* The configuration whose tracker block is the one in effect: the `tracker` setting's,
 * else cfg's. A new config (free with config_free); sections other than tracker are
 * cfg's defaults, not cfg's values — read only its tracker block. */
int settings_tracker(struct store_conn *c, const struct config *cfg, struct config **out,
		     struct err *e);

/* The provider in effect (CONFIG_PROVIDER_*), cheaply (no validation): one read by
 * primary key and a scan of the stored JSON for its top-level "provider" (a full parse
 * only when the scan cannot tell), no YAML — it runs in every incident creation's write
 * job (about 2 us against a 30 us job). ERR_IO for a stored value naming no known
 * provider. */
int settings_tracker_provider(struct store_conn *c, const struct config *cfg,
			      enum config_provider *out, struct err *e);

/* A deep copy of v with every secret-named key's non-empty string value as "****".
 * New reference. */
json_t *settings_mask(const json_t *v);

#endif
