/* sections.h — the sections of the configuration (private to src/config/).
 *
 * Which sections exist, in the order the file is documented and dumped, and what each
 * section file exports to the shared loader. */
#ifndef INTERVENE_CONFIG_SECTIONS_H
#define INTERVENE_CONFIG_SECTIONS_H

#include "config/keys.h"

/* config.c: the top level of the file, one row per section. */
extern const struct key cfg_root_keys[];

/* config.c: the checks that need more than one key, run once every single value is
 * valid; their messages appear in the order they run. */
void cfg_check_across(struct ctx *x, const struct config *c);

/* server.c: `server` and `auth`; auth.mode none only on a loopback listen address. */
extern const struct key cfg_server_keys[], cfg_auth_keys[];
void cfg_check_auth(struct ctx *x, const struct config *c);

/* storage.c: `storage`. */
extern const struct key cfg_storage_keys[];

/* policy.c: `policy`; also the severity names sev1..sev4 other sections use. Every
 * priority word must be reachable (no two differing only in case, none of P0..P4). */
extern const struct key cfg_policy_keys[];
extern const struct enum_name cfg_severities[];
void cfg_check_policy(struct ctx *x, const struct config *c);

/* tracker.c: `tracker` and `notify`; webhook names must be unique. cfg_providers are
 * the values of tracker.provider: the walker reads that key before the others, since
 * it decides which provider section's ${VAR}s must resolve and which keys are
 * required. */
extern const struct key cfg_tracker_keys[], cfg_notify_keys[];
extern const struct enum_name cfg_providers[];
void cfg_check_notify(struct ctx *x, const struct config *c);

/* actions.c: `actions`. */
extern const struct key cfg_actions_keys[];

/* gates.c: `watcher`, `budgets` (the map's entries) and `canary`; min_samples may not
 * exceed window_runs. */
extern const struct key cfg_watcher_keys[], cfg_canary_keys[];
extern const struct coll cfg_budget_coll;
void cfg_check_canary(struct ctx *x, const struct config *c);

#endif
