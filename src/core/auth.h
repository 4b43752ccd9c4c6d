/* auth.h — tokens, roles and the token cache (SPEC §11).
 *
 * A token is 32 random bytes in URL-safe base64 (no padding), shown once. Only a
 * keyed BLAKE2b hash of it is stored (key: the database's hash_key). The server
 * keeps every live token's hash in a cache owned by the loop thread, rebuilt from
 * the store whenever the tokens table changes (checked every second), so tokens
 * created or revoked by a local command take effect within a second. */
#ifndef INTERVENE_CORE_AUTH_H
#define INTERVENE_CORE_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

struct config;

enum role { ROLE_NONE = 0, ROLE_VIEWER, ROLE_RESPONDER, ROLE_APPROVER, ROLE_ADMIN };

#define AUTH_TOKEN_LEN 43 /* base64url of 32 bytes, no padding */
#define AUTH_NAME_MAX  64

const char *auth_role_name(enum role r);
/* "viewer" … "admin" → role; ROLE_NONE when unknown. */
enum role auth_parse_role(const char *s);

/* Whether name is an acceptable token name: 1..64 of [A-Za-z0-9._@-]. */
bool auth_valid_name(const char *name);

/* A new random token into out (AUTH_TOKEN_LEN + 1 bytes). */
void auth_token_generate(char out[AUTH_TOKEN_LEN + 1]);

/* The keyed hash of token. */
void auth_token_hash(const unsigned char key[32], const char *token, unsigned char out[32]);

/* Create a token row and its token_created event inside the caller's write
 * transaction. token: the clear text (generated when NULL; then written to
 * token_out, which must hold AUTH_TOKEN_LEN + 1 bytes). expires_at 0 = never. */
int auth_token_create(struct store_conn *c, const struct config *cfg, const char *name,
		      enum role role, int64_t expires_at, const char *actor, const char *token,
		      char *token_out, struct err *e);

/* Revoke the live token called name and record token_revoked. ERR_NOTFOUND if none.
 * Both record their event through outbox_event_append: the webhooks of cfg that want
 * it are notified (cfg may be NULL). */
int auth_token_revoke(struct store_conn *c, const struct config *cfg, const char *name,
		      const char *actor, struct err *e);

#define AUTH_SESSION_TTL_MS (12LL * 3600 * 1000)

/* Sign in with a token: check it against the store (live, not expired) and create
 * a session of AUTH_SESSION_TTL_MS (capped at the token's expiry). The session id
 * (AUTH_TOKEN_LEN + 1 bytes) goes to sid_out; name/role/expires_at describe it.
 * ERR_UNAUTHORIZED for a bad token. Runs in the caller's write transaction. */
int auth_session_create(struct store_conn *c, const char *token, char *sid_out,
			char name[AUTH_NAME_MAX + 1], enum role *role, int64_t *expires_at,
			struct err *e);

/* End the session sid (ERR_NOTFOUND when it is not live). */
int auth_session_end(struct store_conn *c, const char *sid, struct err *e);

/* ---- the cache ---- */

struct auth_entry {
	unsigned char hash[32];
	char name[AUTH_NAME_MAX + 1];
	enum role role;
	int64_t expires_at;
};

struct auth_cache {
	unsigned char key[32];
	struct auth_entry *entries; /* tokens, sorted by hash */
	size_t n;
	/* Live sessions by hash of the id: open addressing, linear probing, so a session
	 * signing in or out costs O(1) (a browser's sign-in must not reload every token
	 * and session). */
	struct auth_entry *slots;
	unsigned char *slot_state; /* 0 empty, 1 used, 2 deleted */
	size_t n_slots;		   /* a power of two, or 0 */
	size_t n_sessions, n_deleted;
	int64_t version;    /* store_token_version when loaded */
	size_t live_tokens; /* unrevoked tokens, expired or not */
};

/* Load every unrevoked token, every live session and the hash key from c into a new
 * cache. */
int auth_cache_load(struct store_conn *c, struct auth_cache **out, struct err *e);
void auth_cache_free(struct auth_cache *ac);

/* Look up a presented token at time now: the entry, or NULL (unknown, revoked or
 * expired). */
const struct auth_entry *auth_cache_check(const struct auth_cache *ac, const char *token,
					  int64_t now);

/* Look up a session id presented in a cookie: the entry (token name and role), or
 * NULL. */
const struct auth_entry *auth_cache_check_session(const struct auth_cache *ac, const char *sid,
						  int64_t now);

/* A live token called name, or NULL (to tell whether a session's token still lives). */
const struct auth_entry *auth_cache_token_named(const struct auth_cache *ac, const char *name);

/* Record a session that was just stored (sid in clear, as the cookie carries it), or
 * forget one that ended: O(1) amortised. Expired sessions are dropped as the table
 * grows. */
void auth_cache_session_add(struct auth_cache *ac, const char *sid, const char *token_name,
			    enum role role, int64_t expires_at);
void auth_cache_session_remove(struct auth_cache *ac, const char *sid);

#endif
