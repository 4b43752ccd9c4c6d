#include "core/auth.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/event.h"
#include "core/outbox.h"
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

int auth_token_create(struct store_conn *c, const struct config *cfg, const char *name,
		      enum role role, int64_t expires_at, const char *actor, const char *token,
		      char *token_out, struct err *e)
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
	json_t *data = jpack("{ss ss so}", "name", name, "role", auth_role_name(role), "expires_at",
			     json_time_or_null(expires_at));
	if ((rc = outbox_event_append(c, cfg, "token_created", actor, data, e)))
		goto out;
	if (token_out && token == generated)
		memcpy(token_out, generated, AUTH_TOKEN_LEN + 1);
out:
	sodium_memzero(generated, sizeof generated);
	return rc;
}

int auth_token_revoke(struct store_conn *c, const struct config *cfg, const char *name,
		      const char *actor, struct err *e)
{
	struct token_row t = {0};
	int rc = store_token_revoke(c, name, time_now_ms(), &t, e);
	if (rc)
		return rc;
	json_t *data = jpack("{ss ss}", "name", t.name, "role", t.role);
	rc = outbox_event_append(c, cfg, "token_revoked", actor, data, e);
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

/* ---- the session table ---- */

enum { SLOT_EMPTY, SLOT_USED, SLOT_DELETED };

static size_t slot_of(const struct auth_cache *ac, const unsigned char hash[32])
{
	/* The hash is a keyed BLAKE2b digest: any 8 bytes of it are uniform. */
	uint64_t h;
	memcpy(&h, hash, sizeof h);
	return (size_t)h & (ac->n_slots - 1);
}

/* The slot holding hash, or the slot where it would go (n_slots when the table is
 * empty). */
static size_t probe(const struct auth_cache *ac, const unsigned char hash[32], bool *found)
{
	*found = false;
	if (!ac->n_slots)
		return 0;
	size_t i = slot_of(ac, hash), first_free = ac->n_slots;
	for (size_t n = 0; n < ac->n_slots; n++, i = (i + 1) & (ac->n_slots - 1)) {
		if (ac->slot_state[i] == SLOT_EMPTY)
			return first_free < ac->n_slots ? first_free : i;
		if (ac->slot_state[i] == SLOT_DELETED) {
			if (first_free == ac->n_slots)
				first_free = i;
			continue;
		}
		if (!memcmp(ac->slots[i].hash, hash, 32)) {
			*found = true;
			return i;
		}
	}
	return first_free;
}

static void table_put(struct auth_cache *ac, const struct auth_entry *en);

/* Grow (or clean) the table so that one more entry keeps it at most 70 % full,
 * dropping sessions that expired by now. */
static void table_reserve(struct auth_cache *ac, int64_t now)
{
	if (ac->n_slots && (ac->n_sessions + ac->n_deleted + 1) * 10 <= ac->n_slots * 7)
		return;
	struct auth_entry *old = ac->slots;
	unsigned char *old_state = ac->slot_state;
	size_t old_n = ac->n_slots;
	size_t want = 16;
	while (want * 7 < (ac->n_sessions + 1) * 10 * 2)
		want *= 2;
	ac->slots = xcalloc(want, sizeof *ac->slots);
	ac->slot_state = xcalloc(want, 1);
	ac->n_slots = want;
	ac->n_sessions = ac->n_deleted = 0;
	for (size_t i = 0; i < old_n; i++)
		if (old_state[i] == SLOT_USED && (now == 0 || old[i].expires_at > now))
			table_put(ac, &old[i]);
	if (old)
		sodium_memzero(old, old_n * sizeof *old);
	free(old);
	free(old_state);
}

static void table_put(struct auth_cache *ac, const struct auth_entry *en)
{
	bool found;
	size_t i = probe(ac, en->hash, &found);
	if (!found) {
		if (ac->slot_state[i] == SLOT_DELETED)
			ac->n_deleted--;
		ac->n_sessions++;
		ac->slot_state[i] = SLOT_USED;
	}
	ac->slots[i] = *en;
}

void auth_cache_session_add(struct auth_cache *ac, const char *sid, const char *token_name,
			    enum role role, int64_t expires_at)
{
	struct auth_entry en = {.role = role, .expires_at = expires_at};
	auth_token_hash(ac->key, sid, en.hash);
	snprintf(en.name, sizeof en.name, "%s", token_name);
	table_reserve(ac, time_now_ms());
	table_put(ac, &en);
}

void auth_cache_session_remove(struct auth_cache *ac, const char *sid)
{
	unsigned char hash[32];
	bool found;
	auth_token_hash(ac->key, sid, hash);
	size_t i = probe(ac, hash, &found);
	if (!found)
		return;
	sodium_memzero(&ac->slots[i], sizeof ac->slots[i]);
	ac->slot_state[i] = SLOT_DELETED;
	ac->n_sessions--;
	ac->n_deleted++;
}

static int session_cb(const struct session_row *r, void *arg)
{
	struct auth_cache *ac = arg;
	struct auth_entry en = {.role = auth_parse_role(r->role), .expires_at = r->expires_at};
	memcpy(en.hash, r->hash, 32);
	snprintf(en.name, sizeof en.name, "%s", r->token_name);
	table_reserve(ac, 0);
	table_put(ac, &en);
	return 0;
}

int auth_cache_load(struct store_conn *c, struct auth_cache **out, struct err *e)
{
	struct auth_cache *ac = xcalloc(1, sizeof *ac);
	struct load_state s = {.ac = ac};
	int rc = store_token_version(c, &ac->version, e);
	if (!rc)
		rc = store_meta_hash_key(c, ac->key, e);
	if (!rc)
		rc = store_token_list(c, load_cb, &s, e);
	if (!rc)
		rc = store_session_list(c, time_now_ms(), session_cb, ac, e);
	if (rc) {
		auth_cache_free(ac);
		return rc;
	}
	if (ac->n)
		qsort(ac->entries, ac->n, sizeof *ac->entries, cmp_entry);
	*out = ac;
	return 0;
}

void auth_cache_free(struct auth_cache *ac)
{
	if (!ac)
		return;
	sodium_memzero(ac->key, sizeof ac->key);
	if (ac->entries)
		sodium_memzero(ac->entries, ac->n * sizeof *ac->entries);
	free(ac->entries);
	if (ac->slots)
		sodium_memzero(ac->slots, ac->n_slots * sizeof *ac->slots);
	free(ac->slots);
	free(ac->slot_state);
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
	unsigned char hash[32];
	bool found;
	auth_token_hash(ac->key, sid, hash);
	size_t i = probe(ac, hash, &found);
	if (!found || ac->slots[i].expires_at <= now)
		return NULL;
	return &ac->slots[i];
}

const struct auth_entry *auth_cache_token_named(const struct auth_cache *ac, const char *name)
{
	for (size_t i = 0; ac && i < ac->n; i++)
		if (!strcmp(ac->entries[i].name, name))
			return &ac->entries[i];
	return NULL;
}
