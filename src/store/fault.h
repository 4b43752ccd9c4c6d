/* fault.h — fault injection under the store, in the spirit of SQLite's own fault
 * simulation: make the Nth call of one database operation fail as the database would.
 *
 * Every struct store carries one struct store_fault, inert until armed: a backend
 * asks store_fault_check() before each operation below, which costs one relaxed atomic
 * load while disarmed. Once armed, the store counts those calls (of any of its
 * connections, or only of the writer connection — the one store_writer_setup made)
 * and makes the plan's call fail:
 *
 *   op           the operation counted and failed (SQLite: sqlite3_prepare_v3,
 *                sqlite3_step of a query, BEGIN [IMMEDIATE], SAVEPOINT, RELEASE,
 *                ROLLBACK TO, COMMIT of a write transaction)
 *   error        FULL (disk full), IOERR (I/O error) or BUSY (locked); NONE only
 *                counts, so a test can first measure how many steps a job makes and
 *                then fail each one in turn
 *   nth          1-based: the nth call of op since arming fails …
 *   persistent   … and, when set, every later one too
 *   writer_only  count and fail only the writer connection's calls
 *   lose_txn     FULL/IOERR only: also roll the connection's open transaction back, as
 *                SQLite may do by itself on a real disk-full or I/O error
 *
 * The failure takes exactly the path of a real one: the backend returns the same result
 * code from the same place, so it is mapped by the same code (FULL, IOERR → ERR_IO;
 * BUSY → ERR_BUSY) with the database's text for that code plus " (injected fault)".
 * Counting never includes migrations, the checkpoint connection, store_check_schema or
 * the steps of BEGIN/COMMIT/SAVEPOINT/RELEASE/ROLLBACK TO themselves (those are their
 * own ops). A read job's BEGIN counts as "begin"; ending it is never failed.
 *
 * Thread rules: arm, disarm and read from any thread while the store is in use; every
 * field is atomic. Counts are exact when no call is in flight while arming (a test
 * arms between batches); a call racing with arming may or may not be counted.
 *
 * For the HTTP layer's test-only route (built behind an option): parse the names with
 * store_fault_op_parse / store_fault_error_parse, arm with store_fault_arm, answer
 * with store_fault_read (and the names), disarm with store_fault_disarm. */
#ifndef INTERVENE_STORE_FAULT_H
#define INTERVENE_STORE_FAULT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum store_fault_op {
	STORE_FAULT_PREPARE,
	STORE_FAULT_STEP,
	STORE_FAULT_BEGIN,
	STORE_FAULT_SAVEPOINT,
	STORE_FAULT_RELEASE,
	STORE_FAULT_ROLLBACK_TO,
	STORE_FAULT_COMMIT,
	STORE_FAULT_OPS
};

enum store_fault_error { STORE_FAULT_NONE, STORE_FAULT_FULL, STORE_FAULT_IOERR, STORE_FAULT_BUSY };

struct store_fault_plan {
	enum store_fault_op op;
	enum store_fault_error error;
	uint64_t nth;
	bool persistent;
	bool writer_only;
	bool lose_txn;
};

struct store_fault_counts {
	bool armed;
	uint64_t calls[STORE_FAULT_OPS]; /* since the last arm, in scope (writer_only) */
	uint64_t injected;		 /* failures made since the last arm */
};

struct store;

/* Arm s with *plan (copied), counting from zero. Replaces an earlier plan. */
void store_fault_arm(struct store *s, const struct store_fault_plan *plan);
/* Back to inert; the counts keep their values for store_fault_read. */
void store_fault_disarm(struct store *s);
/* The counts of the current (or last) arming. */
void store_fault_read(struct store *s, struct store_fault_counts *out);

/* "prepare", "step", "begin", "savepoint", "release", "rollback_to", "commit". */
const char *store_fault_op_name(enum store_fault_op op);
bool store_fault_op_parse(const char *name, enum store_fault_op *out);
/* "none", "full", "ioerr", "busy". */
const char *store_fault_error_name(enum store_fault_error err);
bool store_fault_error_parse(const char *name, enum store_fault_error *out);

/* ---- for backends (src/store/) ---- */

struct store_fault {
	atomic_bool armed;
	atomic_int op, error;
	atomic_bool persistent, writer_only, lose_txn;
	atomic_uint_least64_t nth;
	atomic_uint_least64_t calls[STORE_FAULT_OPS];
	atomic_uint_least64_t injected;
};

/* Inert state (store_new calls it for every store). */
void store_fault_init(struct store_fault *f);

/* The slow path of store_fault_check: count the call and decide. */
enum store_fault_error store_fault_hit(struct store_fault *f, enum store_fault_op op, bool writer,
				       bool *lose_txn);

/* Before each op on a connection (writer: whether it is the writer connection): the
 * error to fail it with, or STORE_FAULT_NONE. *lose_txn tells whether to roll the open
 * transaction back too. */
static inline enum store_fault_error
store_fault_check(struct store_fault *f, enum store_fault_op op, bool writer, bool *lose_txn)
{
	if (!atomic_load_explicit(&f->armed, memory_order_relaxed))
		return STORE_FAULT_NONE;
	return store_fault_hit(f, op, writer, lose_txn);
}

#endif
