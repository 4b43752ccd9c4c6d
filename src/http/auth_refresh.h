/* auth_refresh.h — the loop thread's token cache and what keeps it fresh.
 *
 * The cache (core/auth.h) answers "who is this token / session?" on the loop thread
 * without touching the database. It is rebuilt off the loop: every 0.5 s a read job
 * compares the store's token_version (bumped by triggers on any change to tokens,
 * from any process) with the cached one and, when it moved, loads a fresh cache
 * that the loop swaps in. Routes that change tokens ask for a reload before their
 * reply goes out, so a created token works on the very next request and a revoked
 * one stops at once. Sessions signing in or out change the cache in place in O(1);
 * those changes are journaled while a reload is in flight and replayed onto the
 * fresh cache, so a reload that read the store just before a sign-in cannot undo it.
 *
 * Loop thread only. */
#ifndef INTERVENE_HTTP_AUTH_REFRESH_H
#define INTERVENE_HTTP_AUTH_REFRESH_H

#include <stdint.h>

#include "core/auth.h"
#include "http/loopq.h"
#include "store/pool.h"

struct event_base;
struct auth_refresh;

/* Start refreshing `initial` (taken over) through pool, posting results to q and
 * counting full reloads in m. NULL only when libevent cannot create a timer. */
struct metrics;
struct auth_refresh *auth_refresh_new(struct event_base *base, struct store_pool *pool,
				      struct loopq *q, struct metrics *m,
				      struct auth_cache *initial);

/* The cache in effect (valid until the next return to the loop). */
const struct auth_cache *auth_refresh_cache(const struct auth_refresh *ar);

/* Reload now; done(arg) runs on the loop once the fresh cache is in place (or the
 * load failed: the old cache then stays and the failure is logged). If the loop ends
 * first, cancel(arg) runs instead. */
void auth_refresh_reload(struct auth_refresh *ar, void (*done)(void *arg),
			 void (*cancel)(void *arg), void *arg);

/* A session was stored / ended (sid in clear). */
void auth_refresh_session_added(struct auth_refresh *ar, const char *sid, const char *token_name,
				enum role role, int64_t expires_at);
void auth_refresh_session_removed(struct auth_refresh *ar, const char *sid);

/* Stop the periodic check (on shutdown, before the pool stops). */
void auth_refresh_stop(struct auth_refresh *ar);

/* Free everything; loads still in flight must have been posted and discarded
 * already (the pool stopped and the queue was freed). NULL is fine. */
void auth_refresh_free(struct auth_refresh *ar);

#endif
