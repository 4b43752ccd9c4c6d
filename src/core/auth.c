#include "core/auth.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/event.h"
#include "util/json.h"
#include "util/time.h"

static const char *const role_names[] = {"none", "viewer", "responder", "approver", "admin"};

const char *auth_role_name(enum role r)
{
	return (unsigned)r <= ROLE_ADMIN ? role_names[r] : "none";
}

enum role auth_parse_role(const char *s)
{
	for (int r = ROLE_VIEWER; r <= ROLE_ADMIN; r++)
		if (s && !strcmp(s, role_names[r]))
			return (enum role)r;
	return ROLE_NONE;
}

bool auth_valid_name(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > AUTH_NAME_MAX)
		return false;
	for (const char *p = name; *p; p++) {
		char ch = *p;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-' || ch == '@'))
			return false;
	}
	return true;
}

void auth_token_generate(char out[AUTH_TOKEN_LEN + 1])
{
	unsigned char raw[32];
	randombytes_buf(raw, sizeof raw);
	sodium_bin2base64(out, AUTH_TOKEN_LEN + 1, raw, sizeof raw,
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof raw);
}

void auth_token_hash(const unsigned char key[32], const char *token, unsigned char out[32])
{
	crypto_generichash(out, 32, (const unsigned char *)token, strlen(token), key, 32);
}

int auth_token_create(struct store_conn *c, const char *name, enum role role, int64_t expires_at,
		      const char *actor, const char *token, char *token_out, struct err *e)
{
	unsigned char key[32];
	char generated[AUTH_TOKEN_LEN + 1];
	if (!auth_valid_name(name))
		return err_field(e, ERR_INVALID, "name",
				 "token names are 1 to 64 characters of A-Z a-z 0-9 . _ @ -");
	if (role == ROLE_NONE)
		return err_field(e, ERR_INVALID, "role",
				 "role must be one of: viewer, responder, approver, admin");
	int rc = store_meta_hash_key(c, key, e);
	if (rc)
		return rc;
	if (!token) {
		auth_token_generate(generated);
		token = generated;
	}
	struct token_row t = {.name = (char *)name,
			      .role = (char *)auth_role_name(role),
			      .created_at = time_now_ms(),
			      .expires_at = expires_at,
			      .created_by = (char *)actor};
	auth_token_hash(key, token, t.hash);
	sodium_memzero(key, sizeof key);
	if ((rc = store_token_insert(c, &t, e)))
		goto out;
	json_t *data = json_pack("{ss ss so}", "name", name, "role", auth_role_name(role),
				 "expires_at", json_time_or_null(expires_at));
	if ((rc = event_append(c, "token_created", 0, actor, data, NULL, e)))
		goto out;
	if (token_out && token == generated)
		memcpy(token_out, generated, AUTH_TOKEN_LEN + 1);
out:
	sodium_memzero(generated, sizeof generated);
	return rc;
}

int auth_token_revoke(struct store_conn *c, const char *name, const char *actor, struct err *e)
{
	struct token_row t = {0};
	int rc = store_token_revoke(c, name, time_now_ms(), &t, e);
	if (rc)
		return rc;
	json_t *data = json_pack("{ss ss}", "name", t.name, "role", t.role);
	rc = event_append(c, "token_revoked", 0, actor, data, NULL, e);
	token_row_clear(&t);
	return rc;
}

int auth_session_create(struct store_conn *c, const char *token, char *sid_out,
			char name[AUTH_NAME_MAX + 1], enum role *role, int64_t *expires_at,
			struct err *e)
{
	unsigned char key[32], hash[32];
	struct token_row t = {0};
	int rc = store_meta_hash_key(c, key, e);
	if (rc)
		return rc;
	auth_token_hash(key, token, hash);
	int64_t now = time_now_ms();
	rc = store_token_find(c, hash, &t, e);
	if (rc == ERR_NOTFOUND ||
	    (!rc && (t.revoked_at || (t.expires_at && t.expires_at <= now)))) {
		rc = err_set(e, ERR_UNAUTHORIZED,
			     "the token is not valid (unknown, revoked or expired)");
		goto out;
	}
	if (rc)
		goto out;
	auth_token_generate(sid_out);
	unsigned char sh[32];
	auth_token_hash(key, sid_out, sh);
	int64_t exp = now + AUTH_SESSION_TTL_MS;
	if (t.expires_at && t.expires_at < exp)
		exp = t.expires_at;
	if ((rc = store_session_insert(c, sh, t.id, now, exp, e)))
		goto out;
	snprintf(name, AUTH_NAME_MAX + 1, "%s", t.name);
	*role = auth_parse_role(t.role);
	*expires_at = exp;
out:
	sodium_memzero(key, sizeof key);
	token_row_clear(&t);
	return rc;
}

int auth_session_end(struct store_conn *c, const char *sid, struct err *e)
{
	unsigned char key[32], sh[32];
	int rc = store_meta_hash_key(c, key, e);
	if (rc)
		return rc;
	auth_token_hash(key, sid, sh);
	sodium_memzero(key, sizeof key);
	return store_session_end(c, sh, time_now_ms(), e);
}

static int cmp_entry(const void *a, const void *b)
{
	return memcmp(((const struct auth_entry *)a)->hash, ((const struct auth_entry *)b)->hash,
		      32);
}

struct load_state {
	struct auth_cache *ac;
	size_t cap;
};

static int load_cb(const struct token_row *t, void *arg)
{
	struct load_state *s = arg;
	if (t->revoked_at)
		return 0;
	if (s->ac->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->ac->entries = xrealloc(s->ac->entries, s->cap * sizeof *s->ac->entries);
	}
	struct auth_entry *en = &s->ac->entries[s->ac->n++];
	memcpy(en->hash, t->hash, 32);
	snprintf(en->name, sizeof en->name, "%s", t->name);
	en->role = auth_parse_role(t->role);
	en->expires_at = t->expires_at;
	s->ac->live_tokens++;
	return 0;
}

struct session_state {
	struct auth_cache *ac;
	size_t cap;
};

static int session_cb(const struct session_row *r, void *arg)
{
	struct session_state *s = arg;
	if (s->ac->n_sessions == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->ac->sessions = xrealloc(s->ac->sessions, s->cap * sizeof *s->ac->sessions);
	}
	struct auth_entry *en = &s->ac->sessions[s->ac->n_sessions++];
	memcpy(en->hash, r->hash, 32);
	snprintf(en->name, sizeof en->name, "%s", r->token_name);
	en->role = auth_parse_role(r->role);
	en->expires_at = r->expires_at;
	return 0;
}

int auth_cache_load(struct store_conn *c, struct auth_cache **out, struct err *e)
{
	struct auth_cache *ac = xcalloc(1, sizeof *ac);
	struct load_state s = {.ac = ac};
	struct session_state ss = {.ac = ac};
	int rc = store_token_version(c, &ac->version, e);
	if (!rc)
		rc = store_meta_hash_key(c, ac->key, e);
	if (!rc)
		rc = store_token_list(c, load_cb, &s, e);
	if (!rc)
		rc = store_session_list(c, time_now_ms(), session_cb, &ss, e);
	if (rc) {
		auth_cache_free(ac);
		return rc;
	}
	if (ac->n)
		qsort(ac->entries, ac->n, sizeof *ac->entries, cmp_entry);
	if (ac->n_sessions)
		qsort(ac->sessions, ac->n_sessions, sizeof *ac->sessions, cmp_entry);
	*out = ac;
	return 0;
}

void auth_cache_free(struct auth_cache *ac)
{
	if (!ac)
		return;
	sodium_memzero(ac->key, sizeof ac->key);
	free(ac->entries);
	free(ac->sessions);
	free(ac);
}

const struct auth_entry *auth_cache_check(const struct auth_cache *ac, const char *token,
					  int64_t now)
{
	if (!ac || !ac->n || !token || !*token || strlen(token) > 256)
		return NULL;
	struct auth_entry probe = {0};
	auth_token_hash(ac->key, token, probe.hash);
	const struct auth_entry *en =
		bsearch(&probe, ac->entries, ac->n, sizeof *ac->entries, cmp_entry);
	if (!en || (en->expires_at && en->expires_at <= now))
		return NULL;
	return en;
}

const struct auth_entry *auth_cache_check_session(const struct auth_cache *ac, const char *sid,
						  int64_t now)
{
	if (!ac || !ac->n_sessions || !sid || !*sid || strlen(sid) > 256)
		return NULL;
	struct auth_entry probe = {0};
	auth_token_hash(ac->key, sid, probe.hash);
	const struct auth_entry *en =
		bsearch(&probe, ac->sessions, ac->n_sessions, sizeof *ac->sessions, cmp_entry);
	if (!en || en->expires_at <= now)
		return NULL;
	return en;
}
