/* config.h — the intervene configuration (SPEC §2).
 *
 * One YAML file read through a table of keys over libyaml's document API: every key
 * has a type, a default, bounds, and a secret flag. `${VAR}` and `${VAR:-default}` are
 * expanded per scalar value after parsing. Errors carry file:line:column.
 *
 * A struct config is immutable once loaded and may be read from any thread.
 * Durations are milliseconds. Strings are never NULL after a successful load
 * (empty string when unset). Relative paths are resolved against the directory of
 * the config file (against the working directory when there is no file). */
#ifndef INTERVENE_CONFIG_H
#define INTERVENE_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/err.h"

enum config_kind {
	CONFIG_KIND_INVARIANT,
	CONFIG_KIND_BUDGET,
	CONFIG_KIND_PLANNER,
	CONFIG_KIND_MANUAL,
	CONFIG_KIND_ALERT,
	CONFIG_KIND_COUNT
};
enum config_auth_mode { CONFIG_AUTH_TOKENS, CONFIG_AUTH_NONE };
enum config_provider {
	CONFIG_PROVIDER_NONE,
	CONFIG_PROVIDER_GITHUB,
	CONFIG_PROVIDER_GITLAB,
	CONFIG_PROVIDER_JIRA
};
enum config_close_on { CONFIG_CLOSE_ON_RESOLVED, CONFIG_CLOSE_ON_CLOSED, CONFIG_CLOSE_ON_NEVER };

/* One priority word → severity (1..4) pair of policy.severity. */
struct config_severity_word {
	char *word;
	int sev;
};

/* SLA targets of one severity; 0 = no target for that stage. */
struct config_sla {
	int64_t ack_ms, mitigate_ms, resolve_ms;
};

struct config_kv { /* a string → string map entry (github.assignees) */
	char *key;
	char *value;
};

enum config_webhook_format { CONFIG_WEBHOOK_JSON, CONFIG_WEBHOOK_SLACK, CONFIG_WEBHOOK_PAGERDUTY };

struct config_webhook {
	char *name, *url, *secret;
	char **events; /* NULL-terminated; empty = none */
	size_t n_events;
	int min_severity; /* 1..4, default 4 (all) */
	enum config_webhook_format format;
	char *routing_key; /* pagerduty only */
};

/* An optional threshold: set is false when the key is absent. */
struct config_threshold {
	bool set;
	double value;
};

struct config_budget {
	char *agent;
	bool enabled;
	char *description;
	struct config_threshold min_quality_score, min_success_rate, max_avg_latency_ms,
		max_p95_latency_ms, max_p99_latency_ms, max_avg_cost, max_invariant_failures;
};

struct config {
	char *path; /* the file loaded, or "" for built-in defaults */
	char *dir;  /* its directory (for relative paths), or the cwd */

	struct {
		char *listen;	  /* host:port, "[::1]:8080" form for IPv6 */
		char *public_url; /* "" → http://<listen> (see config_public_url) */
		int64_t max_body_bytes;
		int64_t read_timeout_ms;
		int64_t max_connections;
		int64_t sse_heartbeat_ms;
		int64_t sse_max_clients;
		bool metrics_public;
		bool web;
	} server;

	struct {
		char *url; /* sqlite://PATH (PATH resolved against dir) or postgres://... */
		int64_t event_retention_ms;
	} storage;

	struct {
		enum config_auth_mode mode;
	} auth;

	struct {
		bool enabled;
		int64_t interval_ms, sla_interval_ms, invariant_lookback_ms;
		bool auto_resolve;
		int64_t auto_resolve_after;
	} watcher;

	struct {
		int64_t rate_limit_max;
		int64_t rate_limit_window_ms[CONFIG_KIND_COUNT];
		struct config_severity_word *severity; /* n_severity entries */
		size_t n_severity;
		struct config_sla sla[5]; /* index 1..4 = sev1..sev4; [0] unused */
	} policy;

	struct {
		enum config_provider provider;
		struct {
			char *token, *owner, *repo, *base_url;
			struct config_kv *assignees;
			size_t n_assignees;
		} github;
		struct {
			char *token, *project_id, *base_url;
		} gitlab;
		struct {
			char *base_url, *email, *api_token, *project_key, *issue_type,
				*close_transition;
		} jira;
		struct {
			bool comment_on_transition;
			enum config_close_on close_on;
		} sync;
		struct {
			int64_t per_minute, burst; /* calls per provider (token bucket) */
		} pace;
		char *templates_dir;
	} tracker;

	struct {
		struct config_webhook *webhooks;
		size_t n_webhooks;
	} notify;

	struct {
		struct {
			char *command;
			char **project_dirs;
			size_t n_project_dirs;
			char *profiles_dir, *target;
			int64_t timeout_ms;
			char **env;
			size_t n_env; /* NAME=VALUE or NAME (taken from our env) */
		} dbt;
		struct {
			char *url, *api_key, *username, *password;
			int64_t timeout_ms;
		} elasticsearch;
		int64_t approval_ttl_ms;
		int64_t canary_step_ms;	      /* adjust_canary_split: a step of 10 points every */
		int64_t rollback_duration_ms; /* rollback_planner, gradual: current → half → 0 over */
	} actions;

	struct config_budget *budgets;
	size_t n_budgets;

	struct {
		int64_t window_runs, min_samples;
		double max_quality_drop, max_p95_latency_ms, max_avg_cost;
	} canary;
};

/* Load the configuration. path: an explicit file (--config), or NULL to use
 * $INTERVENE_CONFIG, else ./intervene.yaml if it exists, else built-in defaults.
 * On success *out is a new config (free with config_free). On failure returns
 * ERR_INVALID (bad content) or ERR_IO (unreadable file) with e->msg of the form
 * "FILE:LINE:COLUMN: message" (every problem found, one per line, at most 20). */
int config_load(const char *path, struct config **out, struct err *e);

/* Like config_load; on failure *errors (when errors is not NULL) also receives the full
 * text of every problem found, one per line (malloc'd, the caller frees it; NULL on
 * success). e->msg is bounded (ERR_MSG_MAX) and holds only the lines that fit, ending
 * with "(N more errors)" when some did not; `intervene config check` prints *errors. */
int config_load_verbose(const char *path, struct config **out, struct err *e, char **errors);

/* Parse YAML text as if read from a file named `name` (used by tests and fuzzers).
 * dir is the directory relative paths resolve against. Same errors as config_load. */
int config_load_string(const char *text, size_t len, const char *name, const char *dir,
		       struct config **out, struct err *e);

/* ---- one section from and to JSON: the runtime settings (SPEC §5.3) ---- */

/* A configuration whose section `name` is value (a JSON object; JSON is YAML), every
 * other section at its built-in defaults, read with the file's own key table and
 * checks; relative paths resolve against dir. ${VAR} is plain text, never read from
 * the environment: the value does not come from the operator's file, and the server's
 * environment is not for API clients to read. On failure ERR_INVALID with e->field the
 * dotted key of the first problem ("tracker.github.token") and e->msg every problem
 * (at most 20) one per line, without positions: "tracker.github.token: required when
 * tracker.provider is github". *out: free with config_free. */
int config_load_section_json(const char *name, const json_t *value, const char *dir,
			     struct config **out, struct err *e);

/* Section `name` of c as the JSON config_load_section_json takes back: every key,
 * durations and enums as a file writes them, secrets in clear (mask before showing).
 * New reference; NULL for an unknown section. */
json_t *config_section_json(const struct config *c, const char *name);

/* A tracker.provider name → its value; false (*out untouched) for an unknown name. */
bool config_provider_parse(const char *name, enum config_provider *out);

/* The built-in defaults (never fails). */
struct config *config_defaults(void);

void config_free(struct config *c);

/* Write the effective configuration as YAML, every key, secrets masked as "****"
 * when set (empty stays ""). Then, as YAML comments, one "# note: KEYS ... takes
 * effect with FEATURE (not in this version)" line per section and feature for keys
 * that are accepted and validated but not used by any code yet. */
void config_dump(const struct config *c, FILE *f);

/* public_url, or "http://<listen>" when empty. Returns a pointer into c or into buf. */
const char *config_public_url(const struct config *c, char *buf, size_t bufsz);

/* Parse a duration "500ms", "30s", "15m", "4h", "7d" → milliseconds; -1 if invalid. */
int64_t config_parse_duration(const char *s);

/* Whether host:port names a loopback address (127.0.0.0/8, ::1, localhost). */
bool config_listen_is_loopback(const char *listen);

#endif
