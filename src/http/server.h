/* server.h — the HTTP server: the libevent loop thread and its hand-off to the
 * store threads (DESIGN §1).
 *
 * server_run owns everything it creates and returns when the process is asked to
 * stop (SIGTERM/SIGINT): it stops accepting, lets in-flight requests finish,
 * closes connections, stops the store threads and returns 0. Only the loop thread
 * touches libevent objects; store threads hand results back through a locked queue
 * and event_active. */
#ifndef INTERVENE_HTTP_SERVER_H
#define INTERVENE_HTTP_SERVER_H

#include <stddef.h>

#include "config/config.h"
#include "core/auth.h"
#include "http/router.h"
#include "store/store.h"

struct server;

/* Serve cfg's API with the given route table (static storage) on store s, whose
 * schema must be current. Returns 0 after a clean stop, or an error (bad listen
 * address, port in use, storage failure at start) with e filled. */
int server_run(const struct config *cfg, struct store *s, const struct route *routes,
	       size_t n_routes, struct err *e);

/* Whether the server's background parts are healthy (for /readyz), on any thread. */
int server_healthy(struct server *srv, struct err *e);

/* The server's metrics (loop thread only: prepare() and finish() hooks). */
struct metrics *server_metrics(struct server *srv);

/* A session was stored / ended (loop thread: a route's finish() hook): the token
 * cache learns it in O(1), without reloading (http/auth_refresh.h). */
void server_session_added(struct server *srv, const char *sid, const char *token_name,
			  enum role role, int64_t expires_at);
void server_session_removed(struct server *srv, const char *sid);

/* Test the tracker connection in effect off the loop and answer r with
 * {ok, provider, detail} when done (a route's prepare(): sets r->deferred). */
void server_test_tracker(struct http_req *r);

/* Run a watcher cycle now, off the loop, and answer r with its counts when done (a
 * route's prepare(): sets r->deferred). */
void server_run_watcher(struct http_req *r);

/* Whether the event stream has no room for another subscriber (server.sse_max_clients),
 * and how many it has. Loop thread. */
bool server_sse_full(struct server *srv);
size_t server_sse_subscribers(struct server *srv);

/* The playbook executor (actions/executor.h). */
struct executor;
struct executor *server_executor(struct server *srv);

/* A route's finish(): defer r's reply until action id ends (then 200 {action} as it
 * ended) or wait_ms passed (then the reply r holds, the action still running). Sets
 * r->deferred. Loop thread. */
void server_wait_action(struct http_req *r, int64_t id, int64_t wait_ms);

/* Append the delivery threads' and the watcher's counters (Prometheus text). Loop
 * thread. */
void server_delivery_metrics(struct server *srv, struct buf *out);

/* The store of the server (for handlers that must check the schema). */
struct store *server_store(struct server *srv);

#endif
