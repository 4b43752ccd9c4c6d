/* sqlite.c — the embedded SQLite backend of store.h.
 *
 * One sqlite3 handle per struct store_conn, opened with SQLITE_OPEN_NOMUTEX: the
 * connection belongs to one thread. Every connection runs in WAL mode with
 * synchronous=FULL, so a COMMIT that returned is on disk. Statements used on hot
 * paths are prepared once per connection and reset after each use, so no read
 * snapshot stays open between calls (an open snapshot would stop the WAL from
 * being reset). */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/backend.h"
#include "util/embed.h"
#include "util/json.h"

extern const struct embedded_file store_sqlite_migrations[];

struct sq_store {
	struct store base;
	char *path;
};

enum stmt_id {
	S_INC_GET,
	S_INC_ACTIVE,
	S_INC_INSERT,
	S_INC_UPDATE,
	S_INC_TOUCH,
	S_INC_COUNT_SINCE,
	S_EVENT_LAST,
	S_EVENT_SEQ,
	S_EVENT_INSERT,
	S_SAVEPOINT,
	S_RELEASE,
	S_ROLLBACK_TO,
	S_BEGIN,
	S_COMMIT,
	S_ROLLBACK,
	S_BEGIN_READ,
	S_TOKEN_VERSION,
	S_IDEM_GET,
	S_IDEM_PUT,
	S_SILENCE_ACTIVE,
	S_COUNT
};

/* The incident columns, in the order read_incident() expects. */
#define INC_COLS                                                                                   \
	"id, kind, key, severity, status, summary, details, source, playbooks, assigned_to, "      \
	"parent_id, issue_url, issue_ref, occurrences, last_seen_at, created_at, updated_at, "     \
	"acknowledged_at, acknowledged_by, mitigated_at, mitigated_by, resolved_at, "              \
	"resolved_by, closed_at, closed_by, reopened_at, notes, metadata"

/* The lean columns of list pages, in the order read_incident_lean() expects. */
#define INC_LEAN_COLS                                                                              \
	"id, kind, key, severity, status, summary, assigned_to, occurrences, created_at, "         \
	"updated_at, issue_url, acknowledged_at, mitigated_at, resolved_at, closed_at, "           \
	"reopened_at, last_seen_at"

#define ACTIVE_SQL "(status = 'open' OR status = 'acknowledged' OR status = 'mitigated')"

static const char *const stmt_sql[S_COUNT] = {
	[S_INC_GET] = "SELECT " INC_COLS " FROM incidents WHERE id = ?1",
	[S_INC_ACTIVE] =
		"SELECT " INC_COLS " FROM incidents WHERE kind = ?1 AND key = ?2 AND " ACTIVE_SQL,
	[S_INC_INSERT] =
		"INSERT INTO incidents (kind, key, severity, status, summary, details, source, "
		"playbooks, assigned_to, parent_id, issue_url, issue_ref, occurrences, last_seen_at, "
		"created_at, updated_at, acknowledged_at, acknowledged_by, mitigated_at, mitigated_by, "
		"resolved_at, resolved_by, closed_at, closed_by, reopened_at, notes, metadata) VALUES "
		"(?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, "
		"?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28)",
	[S_INC_UPDATE] =
		"UPDATE incidents SET kind = ?2, key = ?3, severity = ?4, status = ?5, summary = ?6, "
		"details = ?7, source = ?8, playbooks = ?9, assigned_to = ?10, parent_id = ?11, "
		"issue_url = ?12, issue_ref = ?13, occurrences = ?14, last_seen_at = ?15, "
		"created_at = ?16, updated_at = ?17, acknowledged_at = ?18, acknowledged_by = ?19, "
		"mitigated_at = ?20, mitigated_by = ?21, resolved_at = ?22, resolved_by = ?23, "
		"closed_at = ?24, closed_by = ?25, reopened_at = ?26, notes = ?27, metadata = ?28 "
		"WHERE id = ?1",
	[S_INC_TOUCH] = "UPDATE incidents SET occurrences = ?2, last_seen_at = ?3, severity = ?4, "
			"updated_at = ?3 WHERE id = ?1",
	[S_INC_COUNT_SINCE] = "SELECT count(*) FROM incidents WHERE kind = ?1 AND key = ?2 AND "
			      "created_at >= ?3",
	[S_EVENT_LAST] = "SELECT id, hash FROM events ORDER BY id DESC LIMIT 1",
	[S_EVENT_SEQ] = "SELECT seq FROM sqlite_sequence WHERE name = 'events'",
	[S_EVENT_INSERT] = "INSERT INTO events (id, type, incident_id, actor, data, created_at, "
			   "prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[S_SAVEPOINT] = "SAVEPOINT job",
	[S_RELEASE] = "RELEASE job",
	[S_ROLLBACK_TO] = "ROLLBACK TO job",
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_BEGIN_READ] = "BEGIN",
	[S_TOKEN_VERSION] = "SELECT value FROM meta WHERE key = 'token_version'",
	[S_IDEM_GET] = "SELECT status, body FROM idempotency WHERE scope = ?1 AND key = ?2 AND "
		       "created_at >= ?3",
	[S_IDEM_PUT] = "INSERT OR REPLACE INTO idempotency (scope, key, status, body, created_at) "
		       "VALUES (?1, ?2, ?3, ?4, ?5)",
	[S_SILENCE_ACTIVE] =
		"SELECT id, kind, key_glob, reason, created_by, starts_at, ends_at "
		"FROM silences WHERE starts_at <= ?1 AND ends_at > ?1 ORDER BY id DESC",
};

struct sq_conn {
	struct store_conn base;
	sqlite3 *db;
	bool readonly;
	sqlite3_stmt *stmt[S_COUNT];
	int wal_frames; /* frames in the WAL after the last commit (writer only) */
	/* Statements built from filter fragments, cached by their text (few shapes). */
	struct {
		char *sql;
		sqlite3_stmt *st;
	} dyn[16];
};

static const struct store_ops sq_ops;

static struct sq_conn *SQ(struct store_conn *c)
{
	return (struct sq_conn *)c;
}

/* Map a SQLite result to our codes, with the database's own message. */
static int sq_err(sqlite3 *db, int rc, struct err *e, const char *what)
{
	int ext = db ? sqlite3_extended_errcode(db) : rc;
	const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
	int code = ERR_IO;
	if ((rc & 0xff) == SQLITE_CONSTRAINT &&
	    (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY))
		code = ERR_CONFLICT;
	else if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
		code = ERR_BUSY;
	return err_set(e, code, "storage: %s: %s", what, msg);
}

static sqlite3_stmt *stmt_get(struct sq_conn *c, enum stmt_id id, struct err *e)
{
	if (!c->stmt[id]) {
		int rc = sqlite3_prepare_v3(c->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
					    &c->stmt[id], NULL);
		if (rc != SQLITE_OK) {
			sq_err(c->db, rc, e, "prepare");
			return NULL;
		}
	}
	return c->stmt[id];
}

/* A cached statement for SQL built at run time; NULL with rc set on error. */
static sqlite3_stmt *dyn_get(struct sq_conn *c, const char *sql, int *rc)
{
	int i;
	for (i = 0; i < 16 && c->dyn[i].sql; i++)
		if (!strcmp(c->dyn[i].sql, sql))
			return c->dyn[i].st;
	sqlite3_stmt *st = NULL;
	*rc = sqlite3_prepare_v3(c->db, sql, -1, i < 16 ? SQLITE_PREPARE_PERSISTENT : 0, &st, NULL);
	if (*rc != SQLITE_OK)
		return NULL;
	if (i < 16) {
		c->dyn[i].sql = xstrdup(sql);
		c->dyn[i].st = st;
	}
	return st;
}

static void dyn_put(struct sq_conn *c, sqlite3_stmt *st)
{
	for (int i = 0; i < 16 && c->dyn[i].sql; i++)
		if (c->dyn[i].st == st) {
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			return;
		}
	sqlite3_finalize(st);
}

static void stmt_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

static void bind_ms(sqlite3_stmt *st, int i, int64_t v)
{
	if (v)
		sqlite3_bind_int64(st, i, v);
	else
		sqlite3_bind_null(st, i);
}

static void bind_json(sqlite3_stmt *st, int i, const json_t *v, const char *dflt)
{
	if (!v) {
		bind_text(st, i, dflt);
		return;
	}
	char *s = json_canon(v);
	sqlite3_bind_text(st, i, s, -1, free);
}

static char *col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? xstrdup((const char *)t) : NULL;
}

static json_t *col_json(sqlite3_stmt *st, int i, bool array)
{
	const char *t = (const char *)sqlite3_column_text(st, i);
	json_t *v = t ? json_loads(t, JSON_DECODE_ANY, NULL) : NULL;
	if (!v)
		v = array ? json_array() : json_object();
	return v;
}

static enum incident_status status_from(const char *s)
{
	enum incident_status st = ST_OPEN;
	incident_status_parse(s, &st);
	return st;
}

static void read_incident(sqlite3_stmt *st, struct incident *o)
{
	memset(o, 0, sizeof *o);
	o->id = sqlite3_column_int64(st, 0);
	o->kind = col_text(st, 1);
	o->key = col_text(st, 2);
	o->severity = sqlite3_column_int(st, 3);
	o->status = status_from((const char *)sqlite3_column_text(st, 4));
	o->summary = col_text(st, 5);
	o->details = col_json(st, 6, false);
	o->source = col_text(st, 7);
	o->playbooks = col_json(st, 8, true);
	o->assigned_to = col_text(st, 9);
	o->parent_id = sqlite3_column_int64(st, 10);
	o->issue_url = col_text(st, 11);
	o->issue_ref = sqlite3_column_type(st, 12) == SQLITE_NULL ? NULL : col_json(st, 12, false);
	o->occurrences = sqlite3_column_int64(st, 13);
	o->last_seen_at = sqlite3_column_int64(st, 14);
	o->created_at = sqlite3_column_int64(st, 15);
	o->updated_at = sqlite3_column_int64(st, 16);
	o->acknowledged_at = sqlite3_column_int64(st, 17);
	o->acknowledged_by = col_text(st, 18);
	o->mitigated_at = sqlite3_column_int64(st, 19);
	o->mitigated_by = col_text(st, 20);
	o->resolved_at = sqlite3_column_int64(st, 21);
	o->resolved_by = col_text(st, 22);
	o->closed_at = sqlite3_column_int64(st, 23);
	o->closed_by = col_text(st, 24);
	o->reopened_at = sqlite3_column_int64(st, 25);
	o->notes = col_json(st, 26, false);
	o->metadata = col_json(st, 27, false);
}

static void read_incident_lean(sqlite3_stmt *st, struct incident *o)
{
	memset(o, 0, sizeof *o);
	o->id = sqlite3_column_int64(st, 0);
	o->kind = col_text(st, 1);
	o->key = col_text(st, 2);
	o->severity = sqlite3_column_int(st, 3);
	o->status = status_from((const char *)sqlite3_column_text(st, 4));
	o->summary = col_text(st, 5);
	o->assigned_to = col_text(st, 6);
	o->occurrences = sqlite3_column_int64(st, 7);
	o->created_at = sqlite3_column_int64(st, 8);
	o->updated_at = sqlite3_column_int64(st, 9);
	o->issue_url = col_text(st, 10);
	o->acknowledged_at = sqlite3_column_int64(st, 11);
	o->mitigated_at = sqlite3_column_int64(st, 12);
	o->resolved_at = sqlite3_column_int64(st, 13);
	o->closed_at = sqlite3_column_int64(st, 14);
	o->reopened_at = sqlite3_column_int64(st, 15);
	o->last_seen_at = sqlite3_column_int64(st, 16);
}

static void bind_incident(sqlite3_stmt *st, const struct incident *i)
{
	sqlite3_bind_int64(st, 1, i->id);
	bind_text(st, 2, i->kind);
	bind_text(st, 3, i->key);
	sqlite3_bind_int(st, 4, i->severity);
	bind_text(st, 5, incident_status_name(i->status));
	bind_text(st, 6, i->summary);
	bind_json(st, 7, i->details, "{}");
	bind_text(st, 8, i->source ? i->source : "api");
	bind_json(st, 9, i->playbooks, "[]");
	bind_text(st, 10, i->assigned_to);
	bind_ms(st, 11, i->parent_id);
	bind_text(st, 12, i->issue_url);
	if (i->issue_ref)
		bind_json(st, 13, i->issue_ref, NULL);
	else
		sqlite3_bind_null(st, 13);
	sqlite3_bind_int64(st, 14, i->occurrences);
	sqlite3_bind_int64(st, 15, i->last_seen_at);
	sqlite3_bind_int64(st, 16, i->created_at);
	sqlite3_bind_int64(st, 17, i->updated_at);
	bind_ms(st, 18, i->acknowledged_at);
	bind_text(st, 19, i->acknowledged_by);
	bind_ms(st, 20, i->mitigated_at);
	bind_text(st, 21, i->mitigated_by);
	bind_ms(st, 22, i->resolved_at);
	bind_text(st, 23, i->resolved_by);
	bind_ms(st, 24, i->closed_at);
	bind_text(st, 25, i->closed_by);
	bind_ms(st, 26, i->reopened_at);
	bind_json(st, 27, i->notes, "{}");
	bind_json(st, 28, i->metadata, "{}");
}

/* Run a cached statement that returns no rows. */
static int exec_stmt(struct sq_conn *c, enum stmt_id id, struct err *e)
{
	sqlite3_stmt *st = stmt_get(c, id, e);
	if (!st)
		return ERR_IO;
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return sq_err(c->db, rc, e, stmt_sql[id]);
	return 0;
}

/* ---- store and connections ---- */

static void sq_free(struct store *s)
{
	struct sq_store *q = (struct sq_store *)s;
	free(q->path);
	free(q);
}

static int open_db(const char *path, bool readonly, bool create, sqlite3 **out, struct err *e)
{
	int flags = SQLITE_OPEN_NOMUTEX | (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE);
	if (create)
		flags |= SQLITE_OPEN_CREATE;
	flags |= SQLITE_OPEN_URI;
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(path, &db, flags, NULL);
	if (rc != SQLITE_OK) {
		err_set(e, ERR_IO, "cannot open database %s: %s", path,
			db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return ERR_IO;
	}
	sqlite3_busy_timeout(db, 10000);
	sqlite3_extended_result_codes(db, 1);
	const char *pragmas =
		readonly
			? "PRAGMA foreign_keys = ON;"
			: "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA temp_store = MEMORY; "
			  "PRAGMA foreign_keys = ON;";
	/* Switching a new file to WAL needs an exclusive lock that the busy handler does
	 * not wait for: two processes creating the database together retry here. */
	char *msg = NULL;
	for (int attempt = 0;; attempt++) {
		sqlite3_free(msg);
		msg = NULL;
		rc = sqlite3_exec(db, pragmas, NULL, NULL, &msg);
		if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED)
			break;
		if (attempt == 1000)
			break;
		sqlite3_sleep(10);
	}
	if (rc != SQLITE_OK) {
		int code = ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) ? ERR_BUSY
											: ERR_IO;
		err_set(e, code, "cannot configure database %s: %s", path,
			msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		sqlite3_close(db);
		return code;
	}
	*out = db;
	return 0;
}

static int schema_count(void)
{
	int n = 0;
	while (store_sqlite_migrations[n].name)
		n++;
	return n;
}

static int user_version(sqlite3 *db, int *v, struct err *e)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sq_err(db, rc, e, "read schema version");
	rc = sqlite3_step(st);
	*v = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return sq_err(db, rc, e, "read schema version");
	return 0;
}

static int newer_error(int have, struct err *e)
{
	return err_set(e, ERR_BUSY,
		       "database schema version %d is newer than this binary supports (%d); "
		       "upgrade intervene",
		       have, schema_count());
}

static int sq_migrate(struct store *s, int *version, struct err *e)
{
	struct sq_store *q = (struct sq_store *)s;
	sqlite3 *db = NULL;
	int rc = open_db(q->path, false, true, &db, e);
	if (rc)
		return rc;
	char *msg = NULL;
	/* Take the write lock first so two processes starting together migrate once. */
	rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		goto sqlfail;
	int have = 0;
	if ((rc = user_version(db, &have, e)))
		goto fail;
	int want = schema_count();
	if (have > want) {
		rc = newer_error(have, e);
		goto fail;
	}
	for (int v = have; v < want; v++) {
		rc = sqlite3_exec(db, store_sqlite_migrations[v].text, NULL, NULL, &msg);
		if (rc != SQLITE_OK)
			goto sqlfail;
		char pragma[64];
		snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v + 1);
		rc = sqlite3_exec(db, pragma, NULL, NULL, &msg);
		if (rc != SQLITE_OK)
			goto sqlfail;
	}
	rc = sqlite3_exec(db, "COMMIT", NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		goto sqlfail;
	*version = want;
	sqlite3_close(db);
	return 0;
sqlfail:
	rc = err_set(e, (rc & 0xff) == SQLITE_BUSY ? ERR_BUSY : ERR_IO, "migration failed: %s",
		     msg ? msg : sqlite3_errstr(rc));
	sqlite3_free(msg);
fail:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(db);
	return rc;
}

static int sq_check_schema(struct store *s, struct err *e)
{
	struct sq_store *q = (struct sq_store *)s;
	sqlite3 *db = NULL;
	int rc = open_db(q->path, true, false, &db, e);
	if (rc) {
		char why[ERR_MSG_MAX];
		snprintf(why, sizeof why, "%s", e ? e->msg : "");
		return err_set(e, ERR_BUSY, "%s; run 'intervene migrate' to create it", why);
	}
	int have = 0;
	rc = user_version(db, &have, e);
	sqlite3_close(db);
	if (rc)
		return rc;
	if (have > schema_count())
		return newer_error(have, e);
	if (have < schema_count())
		return err_set(e, ERR_BUSY,
			       "database schema version %d is older than %d; run "
			       "'intervene migrate'",
			       have, schema_count());
	return 0;
}

static int sq_connect(struct store *s, bool readonly, struct store_conn **out, struct err *e)
{
	struct sq_store *q = (struct sq_store *)s;
	struct sq_conn *c = xcalloc(1, sizeof *c);
	c->base.ops = &sq_ops;
	c->readonly = readonly;
	int rc = open_db(q->path, readonly, false, &c->db, e);
	if (rc) {
		free(c);
		return rc;
	}
	*out = &c->base;
	return 0;
}

static void sq_disconnect(struct store_conn *cc)
{
	struct sq_conn *c = SQ(cc);
	for (int i = 0; i < S_COUNT; i++)
		sqlite3_finalize(c->stmt[i]);
	for (int i = 0; i < 16; i++) {
		sqlite3_finalize(c->dyn[i].st);
		free(c->dyn[i].sql);
	}
	sqlite3_close(c->db);
	free(c);
}

static int sq_begin(struct store_conn *c, struct err *e)
{
	return exec_stmt(SQ(c), S_BEGIN, e);
}

/* Frames past which the writer finishes a checkpoint itself. Under steady load the
 * background PASSIVE checkpoint never catches up with the last frame, so the WAL would
 * never restart and would grow without bound. 2048 frames (8 MB) keeps each of these
 * checkpoints short: measured p99 of new-key signals 10.6 ms against 19-21 ms at 8192,
 * at the same throughput (bench/README.md). */
#define WAL_RESTART_FRAMES 2048

static int sq_commit(struct store_conn *c, struct err *e)
{
	return exec_stmt(SQ(c), S_COMMIT, e);
}

static void sq_rollback(struct store_conn *c)
{
	if (!sqlite3_get_autocommit(SQ(c)->db))
		exec_stmt(SQ(c), S_ROLLBACK, NULL);
}

static int sq_savepoint(struct store_conn *c, struct err *e)
{
	return exec_stmt(SQ(c), S_SAVEPOINT, e);
}

static int sq_release(struct store_conn *c, struct err *e)
{
	return exec_stmt(SQ(c), S_RELEASE, e);
}

static void sq_rollback_to(struct store_conn *c)
{
	/* ROLLBACK TO keeps the savepoint open; release it so the next job starts clean. */
	if (!exec_stmt(SQ(c), S_ROLLBACK_TO, NULL))
		exec_stmt(SQ(c), S_RELEASE, NULL);
}

static int sq_read_begin(struct store_conn *c, struct err *e)
{
	return exec_stmt(SQ(c), S_BEGIN_READ, e);
}

static void sq_read_end(struct store_conn *c)
{
	if (!sqlite3_get_autocommit(SQ(c)->db))
		exec_stmt(SQ(c), S_COMMIT, NULL);
}

static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	(void)db;
	(void)name;
	((struct sq_conn *)arg)->wal_frames = frames;
	return SQLITE_OK;
}

static void sq_writer_setup(struct store_conn *c)
{
	sqlite3_wal_autocheckpoint(SQ(c)->db, 0);
	sqlite3_wal_hook(SQ(c)->db, wal_hook, SQ(c));
}

static void sq_writer_maintain(struct store_conn *cc)
{
	struct sq_conn *c = SQ(cc);
	if (c->wal_frames > WAL_RESTART_FRAMES) {
		c->wal_frames = 0;
		sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	}
}

static int sq_checkpoint(struct store_conn *c)
{
	int rc = sqlite3_wal_checkpoint_v2(SQ(c)->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	return rc == SQLITE_OK ? 0 : ERR_IO;
}

static int sq_meta_hash_key(struct store_conn *cc, unsigned char key[32], struct err *e)
{
	struct sq_conn *c = SQ(cc);
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(c->db, "SELECT value FROM meta WHERE key = 'hash_key'", -1, &st,
				    NULL);
	if (rc != SQLITE_OK)
		return sq_err(c->db, rc, e, "read hash key");
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 32) {
		memcpy(key, sqlite3_column_blob(st, 0), 32);
		sqlite3_finalize(st);
		return 0;
	}
	sqlite3_finalize(st);
	return err_set(e, ERR_IO, "storage: the token hash key is missing from the database");
}

/* ---- incidents ---- */

static int get_one_incident(struct sq_conn *c, sqlite3_stmt *st, struct incident *out,
			    struct err *e)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		read_incident(st, out);
		stmt_done(st);
		return 0;
	}
	stmt_done(st);
	if (rc == SQLITE_DONE)
		return err_set(e, ERR_NOTFOUND, "incident not found");
	return sq_err(c->db, rc, e, "read incident");
}

static int sq_incident_get(struct store_conn *cc, int64_t id, struct incident *out, struct err *e)
{
	struct sq_conn *c = SQ(cc);
	sqlite3_stmt *st = stmt_get(c, S_INC_GET, e);
	if (!st)
		return ERR_IO;
	sqlite3_bind_int64(st, 1, id);
	int rc = get_one_incident(c, st, out, e);
	if (rc == ERR_NOTFOUND)
		err_set(e, ERR_NOTFOUND, "incident %lld not found", (long long)id);
	return rc;
}

static int sq_incident_find_active(struct store_conn *cc, const char *kind, const char *key,
				   struct incident *out, struct err *e)
{
	struct sq_conn *c = SQ(cc);
	sqlite3_stmt *st = stmt_get(c, S_INC_ACTIVE, e);
	if (!st)
		return ERR_IO;
	bind_text(st, 1, kind);
	bind_text(st, 2, key);
	return get_one_incident(c, st, out, e);
}

static int sq_incident_insert(struct store_conn *cc, struct incident *inc, struct err *e)
{
	struct sq_conn *c = SQ(cc);
	sqlite3_stmt *st = stmt_get(c, S_INC_INSERT, e);
	if (!st)
		return ERR_IO;
	bind_incident(st, inc);
	/* No RETURNING: SQLite materialises RETURNING rows in an ephemeral table, which
	 * costs more than the insert itself; the rowid is the id. */
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		inc->id = sqlite3_last_insert_rowid(c->db);
	int ret = rc == SQLITE_DONE ? 0 : sq_err(c->db, rc, e, "insert incident");
	stmt_done(st);
	if (ret == ERR_CONFLICT)
		err_set(e, ERR_CONFLICT, "an incident with key %s is already active", inc->key);
	return ret;
}

static int sq_incident_update(struct store_conn *cc, const struct incident *inc, struct err *e)
{
	struct sq_conn *c = SQ(cc);
	sqlite3_stmt *st = stmt_get(c, S_INC_UPDATE, e);
	if (!st)
		return ERR_IO;
	bind_incident(st, inc);
	int rc = sqlite3_step(st);
	int ret = rc == SQLITE_DONE ? 0 : sq_err(c->db, rc, e, "update incident");
	stmt_done(st);
	if (!ret && sqlite3_changes(c->db) == 0)
		ret = err_set(e, ERR_NOTFOUND, "incident %lld not found", (long long)inc->id);
	if (ret == ERR_CONFLICT)
		err_set(e, ERR_CONFLICT, "another incident with key %s is active", inc->key);
	return ret;
}

static int sq_incident_touch(struct store_conn *cc, int64_t id, int64_t occurrences,
			     int64_t last_seen_at, int severity, struct err *e)
{
	struct sq_conn *c = SQ(cc);
	sqlite3_stmt *st = stmt_get(c, S_INC_TOUCH, e);
	if (!st)
		return ERR_IO;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, occurrences);
	sqlite3_bind_int64(st, 3, last_seen_at);
	sqlite3_bind_int(st, 4, severity);
	int rc = sqlite3_step(st);
	stmt_done(st);
	if (rc == SQLITE_DONE && sqlite3_changes(c->db) == 0)
		return err_set(e, ERR_NOTFOUND, "incident %lld not found", (long long)id);
	return rc == SQLITE_DONE ? 0 : sq_err(c->db, rc, e, "update incident");
}

static int sq_incident_count_since(struct store_conn *cc, const char *kind, const char *key,
				   int64_t since, int64_t *count, struct err *e)
{
	struct sq_conn *c = SQ(cc);
	sqlite3_stmt *st = stmt_get(c, S_INC_COUNT_SINCE, e);
	if (!st)
		return ERR_IO;
	bind_text(st, 1, kind);
	bind_text(st, 2, key);
	sqlite3_bind_int64(st, 3, since);
	int rc = sqlite3_step(st);
	*count = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	stmt_done(st);
	return rc == SQLITE_ROW ? 0 : sq_err(c->db, rc, e, "count incidents");
}

/* A WHERE clause built from fixed fragments; every value is bound, never spliced. */
struct where {
	struct buf sql;
	struct bind {
		enum { B_TEXT, B_INT } t;
		const char *s;
		int64_t i;
	} * binds;
	int n, cap;
};

static struct bind *where_push(struct where *w)
{
	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 16;
		w->binds = xrealloc(w->binds, (size_t)w->cap * sizeof *w->binds);
	}
	return &w->binds[w->n++];
}

static void where_free(struct where *w)
{
	buf_free(&w->sql);
	free(w->binds);
}

static void where_and(struct where *w, const char *frag)
{
	buf_puts(&w->sql, w->sql.len ? " AND " : " WHERE ");
	buf_puts(&w->sql, frag);
}

static void where_text(struct where *w, const char *s)
{
	struct bind *b = where_push(w);
	b->t = B_TEXT;
	b->s = s;
}

static void where_int(struct where *w, int64_t i)
{
	struct bind *b = where_push(w);
	b->t = B_INT;
	b->i = i;
}

/* "col IN (?, ?, ...)" over a NULL-terminated list. */
static void where_in_text(struct where *w, const char *col, const char *const *vals)
{
	struct buf f = BUF_INIT;
	buf_printf(&f, "%s IN (", col);
	for (int i = 0; vals[i]; i++) {
		buf_puts(&f, i ? ", ?" : "?");
		where_text(w, vals[i]);
	}
	buf_putc(&f, ')');
	where_and(w, buf_cstr(&f));
	buf_free(&f);
}

static void where_bind(const struct where *w, sqlite3_stmt *st, int offset)
{
	for (int i = 0; i < w->n; i++) {
		if (w->binds[i].t == B_TEXT)
			bind_text(st, offset + i + 1, w->binds[i].s);
		else
			sqlite3_bind_int64(st, offset + i + 1, w->binds[i].i);
	}
}

static int count_where(struct sq_conn *c, const char *table, const struct where *w, int64_t *total,
		       struct err *e)
{
	char *sql = sqlite3_mprintf("SELECT count(*) FROM %s%s", table, buf_cstr(&w->sql));
	int rc = SQLITE_OK;
	sqlite3_stmt *st = dyn_get(c, sql, &rc);
	sqlite3_free(sql);
	if (!st)
		return sq_err(c->db, rc, e, "count");
	where_bind(w, st, 0);
	rc = sqlite3_step(st);
	*total = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	dyn_put(c, st);
	return rc == SQLITE_ROW ? 0 : sq_err(c->db, rc, e, "count");
}

static int sq_incident_list(struct store_conn *cc, const struct incident_filter *f,
			    store_incident_cb cb, void *arg, int64_t *total, struct err *e)
{
	struct sq_conn *c = SQ(cc);
	struct where w = {.sql = BUF_INIT};
	const char *st_vals[ST_COUNT + 1] = {0};
	static const char *const sev_vals[] = {"", "1", "2", "3", "4"};
	int n = 0;
	int rc = 0;
	if (f->statuses) {
		for (int i = 0; i < ST_COUNT; i++)
			if (f->statuses & (1 << i))
				st_vals[n++] = incident_status_name((enum incident_status)i);
		where_in_text(&w, "status", st_vals);
	}
	if (f->severities) {
		struct buf b = BUF_INIT;
		buf_puts(&b, "severity IN (");
		n = 0;
		for (int s = 1; s <= 4; s++)
			if (f->severities & (1 << s)) {
				buf_puts(&b, n++ ? ", ?" : "?");
				where_int(&w, s);
			}
		buf_putc(&b, ')');
		where_and(&w, buf_cstr(&b));
		buf_free(&b);
		(void)sev_vals;
	}
	if (f->kinds)
		where_in_text(&w, "kind", f->kinds);
	if (f->assignees)
		where_in_text(&w, "assigned_to", f->assignees);
	if (f->q && *f->q) {
		where_and(
			&w,
			"(instr(lower(summary), lower(?)) > 0 OR instr(lower(key), lower(?)) > 0)");
		where_text(&w, f->q);
		where_text(&w, f->q);
	}
	if (f->since) {
		where_and(&w, "created_at >= ?");
		where_int(&w, f->since);
	}
	if (total && (rc = count_where(c, "incidents", &w, total, e)))
		goto out;
	char *sql = sqlite3_mprintf(
		"SELECT " INC_LEAN_COLS " FROM incidents%s ORDER BY %s LIMIT ? OFFSET ?",
		buf_cstr(&w.sql),
		f->sort_severity ? "severity ASC, id DESC" : "created_at DESC, id DESC");
	rc = SQLITE_OK;
	sqlite3_stmt *st = dyn_get(c, sql, &rc);
	sqlite3_free(sql);
	if (!st) {
		rc = sq_err(c->db, rc, e, "list incidents");
		goto out;
	}
	where_bind(&w, st, 0);
	sqlite3_bind_int64(st, w.n + 1, f->per_page);
	sqlite3_bind_int64(st, w.n + 2, (f->page - 1) * f->per_page);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct incident inc;
		read_incident_lean(st, &inc);
		int stop = cb(&inc, arg);
		incident_clear(&inc);
		if (stop)
			break;
	}
	rc = (rc == SQLITE_ROW || rc == SQLITE_DONE) ? 0 : sq_err(c->db, rc, e, "list incidents");
	dyn_put(c, st);
out:
	where_free(&w);
	return rc;
}

static int sq_incident_counts(struct store_conn *cc, int64_t counts[ST_COUNT][5], struct err *e)
{
	struct sq_conn *c = SQ(cc);
	sqlite3_stmt *st = NULL;
	memset(counts, 0, sizeof(int64_t) * ST_COUNT * 5);
	int rc = sqlite3_prepare_v2(
		c->db,
		"SELECT status, severity, count(*) FROM incidents GROUP BY status, "
		"severity",
		-1, &st, NULL);
	if (rc != SQLITE_OK)
		return sq_err(c->db, rc, e, "count incidents");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		enum incident_status stt = status_from((const char *)sqlite3_column_text(st, 0));
		int sev = sqlite3_column_int(st, 1);
		if (sev >= 1 && sev <= 4)
			counts[stt][sev] = sqlite3_column_int64(st, 2);
	}
	rc = rc == SQLITE_DONE ? 0 : sq_err(c->db, rc, e, "count incidents");
	sqlite3_finalize(st);
	return rc;
}

static int sq_incident_recent_keys(struct store_conn *cc, int64_t since, int limit, store_key_cb cb,
				   void *arg, struct err *e)
{
	struct sq_conn *c = SQ(cc);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(c->db,
				    "SELECT kind, key, max(created_at) AS m FROM incidents WHERE "
				    "created_at >= ?1 GROUP BY kind, key ORDER BY m DESC LIMIT ?2",
				    -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sq_err(c->db, rc, e, "recent keys");
	sqlite3_bind_int64(st, 1, since);
	sqlite3_bind_int(st, 2, limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (cb((const char *)sqlite3_column_text(st, 0),
		       (const char *)sqlite3_column_text(st, 1), arg))
			break;
	rc = (rc == SQLITE_ROW || rc == SQLITE_DONE) ? 0 : sq_err(c->db, rc, e, "recent keys");
	sqlite3_finalize(st);
	return rc;
}

/* ---- comments ---- */

static int sq_comment_insert(struct store_conn *cc, struct comment *cm, struct err *e)
{
	struct sq_conn *c = SQ(cc);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(c->db,
				    "INSERT INTO incident_comments (incident_id, author, body, "
				    "created_at) VALUES (?1, ?2, ?3, ?4) RETURNING id",
				    -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sq_err(c->db, rc, e, "insert comment");
	sqlite3_bind_int64(st, 1, cm->incident_id);
	bind_text(st, 2, cm->author);
	bind_text(st, 3, cm->body);
	sqlite3_bind_int64(st, 4, cm->created_at);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		cm->id = sqlite3_column_int64(st, 0);
		rc = sqlite3_step(st);
	}
	int ret = rc == SQLITE_DONE ? 0 : sq_err(c->db, rc, e, "insert comment");
	sqlite3_finalize(st);
	return ret;
}

static int sq_comment_list(struct store_conn *cc, int64_t incident_id, int64_t offset,
			   int64_t limit, store_comment_cb cb, void *arg, int64_t *total,
			   struct err *e)
{
	struct sq_conn *c = SQ(cc);
	struct where w = {.sql = BUF_INIT};
	where_and(&w, "incident_id = ?");
	where_int(&w, incident_id);
	int rc = total ? count_where(c, "incident_comments", &w, total, e) : 0;
	where_free(&w);
	if (rc)
		return rc;
	sqlite3_stmt *st = NULL;
	rc = sqlite3_prepare_v2(
		c->db,
		"SELECT id, incident_id, author, body, created_at FROM "
		"incident_comments WHERE incident_id = ?1 ORDER BY id LIMIT ?2 OFFSET ?3",
		-1, &st, NULL);
	if (rc != SQLITE_OK)
		return sq_err(c->db, rc, e, "list comments");
	sqlite3_bind_int64(st, 1, incident_id);
	sqlite3_bind_int64(st, 2, limit);
	sqlite3_bind_int64(st, 3, offset);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct comment cm = {
			.id = sqlite3_column_int64(st, 0),
			.incident_id = sqlite3_column_int64(st, 1),
			.author = (char *)sqlite3_column_text(st, 2),
			.body = (char *)sqlite3_column_text(st, 3),
			.created_at = sqlite3_column_int64(st, 4),
		};
		if (cb(&cm, arg))
			break;
	}
	rc = (rc == SQLITE_ROW || rc == SQLITE_DONE) ? 0 : sq_err(c->db, rc, e, "list comments");
	sqlite3_finalize(st);
	return rc;
}

/* ---- events ---- */

static int sq_event_last(struct store_conn *cc, int64_t *id, char hash[65], struct err *e)
{
	struct sq_conn *c = SQ(cc);
	sqlite3_stmt *st = stmt_get(c, S_EVENT_LAST, e);
	if (!st)
		return ERR_IO;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		snprintf(hash, 65, "%s", (const char *)sqlite3_column_text(st, 1));
	} else {
		*id = 0;
		memset(hash, '0', 64);
		hash[64] = '\0';
	}
	stmt_done(st);
	return (rc == SQLITE_ROW || rc == SQLITE_DONE) ? 0
						       : sq_err(c->db, rc, e, "read last event");
}

static int sq_event_next_id(struct store_conn *cc, int64_t *id, struct err *e)
{
	struct sq_conn *c = SQ(cc);
	sqlite3_stmt *st = stmt_get(c, S_EVENT_SEQ, e);
	if (!st)
		return ERR_IO;
	int rc = sqlite3_step(st);
	*id = (rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0) + 1;
	stmt_done(st);
	return (rc == SQLITE_ROW || rc == SQLITE_DONE) ? 0 : sq_err(c->db, rc, e, "event sequence");
}

static int sq_event_insert(struct store_conn *cc, const struct event *ev, struct err *e)
{
	struct sq_conn *c = SQ(cc);
	sqlite3_stmt *st = stmt_get(c, S_EVENT_INSERT, e);
	if (!st)
		return ERR_IO;
	sqlite3_bind_int64(st, 1, ev->id);
	bind_text(st, 2, ev->type);
	bind_ms(st, 3, ev->incident_id);
	bind_text(st, 4, ev->actor);
	sqlite3_bind_text(st, 5, ev->data, -1, SQLITE_STATIC);
	bind_text(st, 6, ev->created_at);
	bind_text(st, 7, ev->prev_hash);
	bind_text(st, 8, ev->hash);
	int rc = sqlite3_step(st);
	stmt_done(st);
	return rc == SQLITE_DONE ? 0 : sq_err(c->db, rc, e, "append event");
}

static int sq_event_list(struct store_conn *cc, const struct event_filter *f, store_event_cb cb,
			 void *arg, int64_t *total, struct err *e)
{
	struct sq_conn *c = SQ(cc);
	struct where w = {.sql = BUF_INIT};
	int rc = 0;
	where_and(&w, "id > ?");
	where_int(&w, f->after_id);
	if (f->incident_id) {
		where_and(&w, "incident_id = ?");
		where_int(&w, f->incident_id);
	}
	if (f->types)
		where_in_text(&w, "type", f->types);
	if (total && f->count_total && (rc = count_where(c, "events", &w, total, e)))
		goto out;
	char *sql = sqlite3_mprintf("SELECT id, type, incident_id, actor, data, created_at, "
				    "prev_hash, hash FROM events%s ORDER BY id LIMIT ? OFFSET ?",
				    buf_cstr(&w.sql));
	sqlite3_stmt *st = NULL;
	rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
	sqlite3_free(sql);
	if (rc != SQLITE_OK) {
		rc = sq_err(c->db, rc, e, "list events");
		goto out;
	}
	where_bind(&w, st, 0);
	sqlite3_bind_int64(st, w.n + 1, f->limit > 0 ? f->limit : -1);
	sqlite3_bind_int64(st, w.n + 2, f->offset);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct event ev = {
			.id = sqlite3_column_int64(st, 0),
			.type = (char *)sqlite3_column_text(st, 1),
			.incident_id = sqlite3_column_int64(st, 2),
			.actor = (char *)sqlite3_column_text(st, 3),
			.data = (char *)sqlite3_column_text(st, 4),
		};
		snprintf(ev.created_at, sizeof ev.created_at, "%s",
			 (const char *)sqlite3_column_text(st, 5));
		snprintf(ev.prev_hash, sizeof ev.prev_hash, "%s",
			 (const char *)sqlite3_column_text(st, 6));
		snprintf(ev.hash, sizeof ev.hash, "%s", (const char *)sqlite3_column_text(st, 7));
		if (cb(&ev, arg))
			break;
	}
	rc = (rc == SQLITE_ROW || rc == SQLITE_DONE) ? 0 : sq_err(c->db, rc, e, "list events");
	sqlite3_finalize(st);
out:
	where_free(&w);
	return rc;
}

/* ---- silences ---- */

static void read_silence(sqlite3_stmt *st, struct silence *s)
{
	s->id = sqlite3_column_int64(st, 0);
	s->kind = col_text(st, 1);
	s->key_glob = col_text(st, 2);
	s->reason = col_text(st, 3);
	s->created_by = col_text(st, 4);
	s->starts_at = sqlite3_column_int64(st, 5);
	s->ends_at = sqlite3_column_int64(st, 6);
}

#define SILENCE_COLS "id, kind, key_glob, reason, created_by, starts_at, ends_at"

static int sq_silence_insert(struct store_conn *cc, struct silence *s, struct err *e)
{
	struct sq_conn *c = SQ(cc);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(
		c->db,
		"INSERT INTO silences (kind, key_glob, reason, created_by, "
		"starts_at, ends_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
		-1, &st, NULL);
	if (rc != SQLITE_OK)
		return sq_err(c->db, rc, e, "insert silence");
	bind_text(st, 1, s->kind);
	bind_text(st, 2, s->key_glob);
	bind_text(st, 3, s->reason);
	bind_text(st, 4, s->created_by);
	sqlite3_bind_int64(st, 5, s->starts_at);
	sqlite3_bind_int64(st, 6, s->ends_at);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		s->id = sqlite3_column_int64(st, 0);
		rc = sqlite3_step(st);
	}
	int ret = rc == SQLITE_DONE ? 0 : sq_err(c->db, rc, e, "insert silence");
	sqlite3_finalize(st);
	return ret;
}

static int sq_silence_get(struct store_conn *cc, int64_t id, struct silence *out, struct err *e)
{
	struct sq_conn *c = SQ(cc);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(c->db, "SELECT " SILENCE_COLS " FROM silences WHERE id = ?1",
				    -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sq_err(c->db, rc, e, "read silence");
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	int ret = 0;
	if (rc == SQLITE_ROW)
		read_silence(st, out);
	else if (rc == SQLITE_DONE)
		ret = err_set(e, ERR_NOTFOUND, "silence %lld not found", (long long)id);
	else
		ret = sq_err(c->db, rc, e, "read silence");
	sqlite3_finalize(st);
	return ret;
}

static int sq_silence_set_end(struct store_conn *cc, int64_t id, int64_t ends_at, struct err *e)
{
	struct sq_conn *c = SQ(cc);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(c->db, "UPDATE silences SET ends_at = ?2 WHERE id = ?1", -1,
				    &st, NULL);
	if (rc != SQLITE_OK)
		return sq_err(c->db, rc, e, "end silence");
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, ends_at);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE && sqlite3_changes(c->db) == 0)
		return err_set(e, ERR_NOTFOUND, "silence %lld not found", (long long)id);
	return rc == SQLITE_DONE ? 0 : sq_err(c->db, rc, e, "end silence");
}

static int sq_silence_list(struct store_conn *cc, int64_t now, bool include_ended, int64_t offset,
			   int64_t limit, store_silence_cb cb, void *arg, int64_t *total,
			   struct err *e)
{
	struct sq_conn *c = SQ(cc);
	if (!include_ended && !total && offset == 0 && limit <= 0) {
		sqlite3_stmt *cs = stmt_get(c, S_SILENCE_ACTIVE, e);
		if (!cs)
			return ERR_IO;
		sqlite3_bind_int64(cs, 1, now);
		int r;
		while ((r = sqlite3_step(cs)) == SQLITE_ROW) {
			struct silence s;
			read_silence(cs, &s);
			int stop = cb(&s, arg);
			silence_clear(&s);
			if (stop)
				break;
		}
		r = (r == SQLITE_ROW || r == SQLITE_DONE) ? 0
							  : sq_err(c->db, r, e, "list silences");
		stmt_done(cs);
		return r;
	}
	struct where w = {.sql = BUF_INIT};
	int rc = 0;
	if (!include_ended) {
		where_and(&w, "starts_at <= ? AND ends_at > ?");
		where_int(&w, now);
		where_int(&w, now);
	}
	if (total && (rc = count_where(c, "silences", &w, total, e)))
		goto out;
	char *sql = sqlite3_mprintf("SELECT " SILENCE_COLS " FROM silences%s ORDER BY id DESC "
				    "LIMIT ? OFFSET ?",
				    buf_cstr(&w.sql));
	sqlite3_stmt *st = NULL;
	rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
	sqlite3_free(sql);
	if (rc != SQLITE_OK) {
		rc = sq_err(c->db, rc, e, "list silences");
		goto out;
	}
	where_bind(&w, st, 0);
	sqlite3_bind_int64(st, w.n + 1, limit > 0 ? limit : -1);
	sqlite3_bind_int64(st, w.n + 2, offset);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct silence s;
		read_silence(st, &s);
		int stop = cb(&s, arg);
		silence_clear(&s);
		if (stop)
			break;
	}
	rc = (rc == SQLITE_ROW || rc == SQLITE_DONE) ? 0 : sq_err(c->db, rc, e, "list silences");
	sqlite3_finalize(st);
out:
	where_free(&w);
	return rc;
}

/* ---- tokens ---- */

static int sq_token_insert(struct store_conn *cc, struct token_row *t, struct err *e)
{
	struct sq_conn *c = SQ(cc);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(c->db,
				    "INSERT INTO tokens (name, role, hash, created_at, created_by, "
				    "expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
				    -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sq_err(c->db, rc, e, "insert token");
	bind_text(st, 1, t->name);
	bind_text(st, 2, t->role);
	sqlite3_bind_blob(st, 3, t->hash, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, t->created_at);
	bind_text(st, 5, t->created_by);
	bind_ms(st, 6, t->expires_at);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		t->id = sqlite3_column_int64(st, 0);
		rc = sqlite3_step(st);
	}
	int ret = rc == SQLITE_DONE ? 0 : sq_err(c->db, rc, e, "insert token");
	sqlite3_finalize(st);
	if (ret == ERR_CONFLICT)
		err_set(e, ERR_CONFLICT, "a token named %s already exists", t->name);
	return ret;
}

#define TOKEN_COLS "id, name, role, hash, created_at, expires_at, revoked_at, created_by"

static void read_token(sqlite3_stmt *st, struct token_row *t)
{
	memset(t, 0, sizeof *t);
	t->id = sqlite3_column_int64(st, 0);
	t->name = col_text(st, 1);
	t->role = col_text(st, 2);
	if (sqlite3_column_bytes(st, 3) == 32)
		memcpy(t->hash, sqlite3_column_blob(st, 3), 32);
	t->created_at = sqlite3_column_int64(st, 4);
	t->expires_at = sqlite3_column_int64(st, 5);
	t->revoked_at = sqlite3_column_int64(st, 6);
	t->created_by = col_text(st, 7);
}

static int sq_token_list(struct store_conn *cc, store_token_cb cb, void *arg, struct err *e)
{
	struct sq_conn *c = SQ(cc);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(c->db, "SELECT " TOKEN_COLS " FROM tokens ORDER BY id", -1, &st,
				    NULL);
	if (rc != SQLITE_OK)
		return sq_err(c->db, rc, e, "list tokens");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct token_row t;
		read_token(st, &t);
		int stop = cb(&t, arg);
		token_row_clear(&t);
		if (stop)
			break;
	}
	rc = (rc == SQLITE_ROW || rc == SQLITE_DONE) ? 0 : sq_err(c->db, rc, e, "list tokens");
	sqlite3_finalize(st);
	return rc;
}

static int sq_token_revoke(struct store_conn *cc, const char *name, int64_t at,
			   struct token_row *out, struct err *e)
{
	struct sq_conn *c = SQ(cc);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(
		c->db,
		"UPDATE tokens SET revoked_at = ?2 WHERE name = ?1 AND revoked_at "
		"IS NULL RETURNING " TOKEN_COLS,
		-1, &st, NULL);
	if (rc != SQLITE_OK)
		return sq_err(c->db, rc, e, "revoke token");
	bind_text(st, 1, name);
	sqlite3_bind_int64(st, 2, at);
	rc = sqlite3_step(st);
	int ret = 0;
	if (rc == SQLITE_ROW) {
		read_token(st, out);
		rc = sqlite3_step(st);
		if (rc != SQLITE_DONE)
			ret = sq_err(c->db, rc, e, "revoke token");
	} else if (rc == SQLITE_DONE) {
		ret = err_set(e, ERR_NOTFOUND, "no active token named %s", name);
	} else {
		ret = sq_err(c->db, rc, e, "revoke token");
	}
	sqlite3_finalize(st);
	return ret;
}

static int sq_token_version(struct store_conn *cc, int64_t *version, struct err *e)
{
	struct sq_conn *c = SQ(cc);
	sqlite3_stmt *st = stmt_get(c, S_TOKEN_VERSION, e);
	if (!st)
		return ERR_IO;
	int rc = sqlite3_step(st);
	*version = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	stmt_done(st);
	return rc == SQLITE_ROW ? 0 : sq_err(c->db, rc, e, "token version");
}

static int sq_token_find(struct store_conn *cc, const unsigned char hash[32], struct token_row *out,
			 struct err *e)
{
	struct sq_conn *c = SQ(cc);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(c->db, "SELECT " TOKEN_COLS " FROM tokens WHERE hash = ?1", -1,
				    &st, NULL);
	if (rc != SQLITE_OK)
		return sq_err(c->db, rc, e, "find token");
	sqlite3_bind_blob(st, 1, hash, 32, SQLITE_STATIC);
	rc = sqlite3_step(st);
	int ret = 0;
	if (rc == SQLITE_ROW)
		read_token(st, out);
	else if (rc == SQLITE_DONE)
		ret = err_set(e, ERR_NOTFOUND, "unknown token");
	else
		ret = sq_err(c->db, rc, e, "find token");
	sqlite3_finalize(st);
	return ret;
}

static int sq_session_insert(struct store_conn *cc, const unsigned char hash[32], int64_t token_id,
			     int64_t created_at, int64_t expires_at, struct err *e)
{
	struct sq_conn *c = SQ(cc);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(c->db,
				    "INSERT INTO sessions (hash, token_id, created_at, expires_at) "
				    "VALUES (?1, ?2, ?3, ?4)",
				    -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sq_err(c->db, rc, e, "insert session");
	sqlite3_bind_blob(st, 1, hash, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, token_id);
	sqlite3_bind_int64(st, 3, created_at);
	sqlite3_bind_int64(st, 4, expires_at);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : sq_err(c->db, rc, e, "insert session");
}

static int sq_session_end(struct store_conn *cc, const unsigned char hash[32], int64_t at,
			  struct err *e)
{
	struct sq_conn *c = SQ(cc);
	sqlite3_stmt *st = NULL;
	int rc =
		sqlite3_prepare_v2(c->db,
				   "UPDATE sessions SET ended_at = ?2 WHERE hash = ?1 AND ended_at "
				   "IS NULL",
				   -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sq_err(c->db, rc, e, "end session");
	sqlite3_bind_blob(st, 1, hash, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, at);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE && sqlite3_changes(c->db) == 0)
		return err_set(e, ERR_NOTFOUND, "no such session");
	return rc == SQLITE_DONE ? 0 : sq_err(c->db, rc, e, "end session");
}

static int sq_session_list(struct store_conn *cc, int64_t now, store_session_cb cb, void *arg,
			   struct err *e)
{
	struct sq_conn *c = SQ(cc);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(
		c->db,
		"SELECT s.hash, t.name, t.role, s.expires_at FROM sessions s JOIN tokens t ON "
		"t.id = s.token_id WHERE s.ended_at IS NULL AND s.expires_at > ?1 AND "
		"t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > ?1)",
		-1, &st, NULL);
	if (rc != SQLITE_OK)
		return sq_err(c->db, rc, e, "list sessions");
	sqlite3_bind_int64(st, 1, now);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct session_row r = {
			.token_name = (char *)sqlite3_column_text(st, 1),
			.role = (char *)sqlite3_column_text(st, 2),
			.expires_at = sqlite3_column_int64(st, 3),
		};
		if (sqlite3_column_bytes(st, 0) != 32)
			continue;
		memcpy(r.hash, sqlite3_column_blob(st, 0), 32);
		if (cb(&r, arg))
			break;
	}
	rc = (rc == SQLITE_ROW || rc == SQLITE_DONE) ? 0 : sq_err(c->db, rc, e, "list sessions");
	sqlite3_finalize(st);
	return rc;
}

/* ---- idempotency ---- */

static int sq_idem_get(struct store_conn *cc, const char *scope, const char *key, int64_t since,
		       int *status, struct buf *body, struct err *e)
{
	struct sq_conn *c = SQ(cc);
	sqlite3_stmt *st = stmt_get(c, S_IDEM_GET, e);
	if (!st)
		return ERR_IO;
	bind_text(st, 1, scope);
	bind_text(st, 2, key);
	sqlite3_bind_int64(st, 3, since);
	int rc = sqlite3_step(st);
	int ret = 0;
	if (rc == SQLITE_ROW) {
		*status = sqlite3_column_int(st, 0);
		buf_append(body, sqlite3_column_text(st, 1), (size_t)sqlite3_column_bytes(st, 1));
	} else if (rc == SQLITE_DONE) {
		ret = ERR_NOTFOUND;
	} else {
		ret = sq_err(c->db, rc, e, "idempotency lookup");
	}
	stmt_done(st);
	return ret;
}

static int sq_idem_put(struct store_conn *cc, const char *scope, const char *key, int status,
		       const char *body, int64_t at, struct err *e)
{
	struct sq_conn *c = SQ(cc);
	sqlite3_stmt *st = stmt_get(c, S_IDEM_PUT, e);
	if (!st)
		return ERR_IO;
	bind_text(st, 1, scope);
	bind_text(st, 2, key);
	sqlite3_bind_int(st, 3, status);
	bind_text(st, 4, body);
	sqlite3_bind_int64(st, 5, at);
	int rc = sqlite3_step(st);
	stmt_done(st);
	return rc == SQLITE_DONE ? 0 : sq_err(c->db, rc, e, "idempotency store");
}

static const struct store_ops sq_ops = {
	.name = "sqlite",
	.free = sq_free,
	.migrate = sq_migrate,
	.check_schema = sq_check_schema,
	.connect = sq_connect,
	.disconnect = sq_disconnect,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.savepoint = sq_savepoint,
	.release = sq_release,
	.rollback_to = sq_rollback_to,
	.read_begin = sq_read_begin,
	.read_end = sq_read_end,
	.writer_setup = sq_writer_setup,
	.writer_maintain = sq_writer_maintain,
	.checkpoint = sq_checkpoint,
	.meta_hash_key = sq_meta_hash_key,
	.incident_get = sq_incident_get,
	.incident_find_active = sq_incident_find_active,
	.incident_insert = sq_incident_insert,
	.incident_update = sq_incident_update,
	.incident_touch = sq_incident_touch,
	.incident_count_since = sq_incident_count_since,
	.incident_list = sq_incident_list,
	.incident_counts = sq_incident_counts,
	.incident_recent_keys = sq_incident_recent_keys,
	.comment_insert = sq_comment_insert,
	.comment_list = sq_comment_list,
	.event_last = sq_event_last,
	.event_next_id = sq_event_next_id,
	.event_insert = sq_event_insert,
	.event_list = sq_event_list,
	.silence_insert = sq_silence_insert,
	.silence_get = sq_silence_get,
	.silence_set_end = sq_silence_set_end,
	.silence_list = sq_silence_list,
	.token_insert = sq_token_insert,
	.token_list = sq_token_list,
	.token_revoke = sq_token_revoke,
	.token_version = sq_token_version,
	.token_find = sq_token_find,
	.session_insert = sq_session_insert,
	.session_end = sq_session_end,
	.session_list = sq_session_list,
	.idem_get = sq_idem_get,
	.idem_put = sq_idem_put,
};

int store_sqlite_new(const char *path, struct store **out, struct err *e)
{
	if (!*path)
		return err_set(e, ERR_INVALID, "storage.url: the sqlite path is empty");
	struct sq_store *q = xcalloc(1, sizeof *q);
	q->base.ops = &sq_ops;
	q->path = xstrdup(path);
	*out = &q->base;
	return 0;
}
