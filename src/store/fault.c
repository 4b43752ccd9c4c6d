/* fault.c — counting and deciding injected store faults (fault.h). */
#include "store/fault.h"

#include <string.h>

#include "store/backend.h"

static const char *const op_names[STORE_FAULT_OPS] = {
	"prepare", "step", "begin", "savepoint", "release", "rollback_to", "commit",
};

static const char *const error_names[] = {"none", "full", "ioerr", "busy"};

void store_fault_init(struct store_fault *f)
{
	atomic_init(&f->armed, false);
	atomic_init(&f->op, 0);
	atomic_init(&f->error, STORE_FAULT_NONE);
	atomic_init(&f->persistent, false);
	atomic_init(&f->writer_only, false);
	atomic_init(&f->lose_txn, false);
	atomic_init(&f->nth, 0);
	for (int i = 0; i < STORE_FAULT_OPS; i++)
		atomic_init(&f->calls[i], 0);
	atomic_init(&f->injected, 0);
}

void store_fault_arm(struct store *s, const struct store_fault_plan *plan)
{
	struct store_fault *f = &s->fault;
	/* Disarmed while the plan changes, so no call sees half of it. */
	atomic_store(&f->armed, false);
	atomic_store(&f->op, (int)plan->op);
	atomic_store(&f->error, (int)plan->error);
	atomic_store(&f->nth, plan->nth);
	atomic_store(&f->persistent, plan->persistent);
	atomic_store(&f->writer_only, plan->writer_only);
	atomic_store(&f->lose_txn, plan->lose_txn);
	for (int i = 0; i < STORE_FAULT_OPS; i++)
		atomic_store(&f->calls[i], 0);
	atomic_store(&f->injected, 0);
	atomic_store_explicit(&f->armed, true, memory_order_release);
}

void store_fault_disarm(struct store *s)
{
	atomic_store(&s->fault.armed, false);
}

void store_fault_read(struct store *s, struct store_fault_counts *out)
{
	struct store_fault *f = &s->fault;
	out->armed = atomic_load(&f->armed);
	for (int i = 0; i < STORE_FAULT_OPS; i++)
		out->calls[i] = atomic_load(&f->calls[i]);
	out->injected = atomic_load(&f->injected);
}

enum store_fault_error store_fault_hit(struct store_fault *f, enum store_fault_op op, bool writer,
				       bool *lose_txn)
{
	*lose_txn = false;
	/* pairs with the release store that armed it: the plan is complete */
	if (!atomic_load_explicit(&f->armed, memory_order_acquire))
		return STORE_FAULT_NONE;
	if (atomic_load_explicit(&f->writer_only, memory_order_relaxed) && !writer)
		return STORE_FAULT_NONE;
	uint64_t n = atomic_fetch_add_explicit(&f->calls[op], 1, memory_order_relaxed) + 1;
	enum store_fault_error err = atomic_load_explicit(&f->error, memory_order_relaxed);
	uint64_t nth = atomic_load_explicit(&f->nth, memory_order_relaxed);
	if (err == STORE_FAULT_NONE ||
	    atomic_load_explicit(&f->op, memory_order_relaxed) != (int)op || nth == 0)
		return STORE_FAULT_NONE;
	if (n != nth && !(n > nth && atomic_load_explicit(&f->persistent, memory_order_relaxed)))
		return STORE_FAULT_NONE;
	atomic_fetch_add_explicit(&f->injected, 1, memory_order_relaxed);
	*lose_txn =
		err != STORE_FAULT_BUSY && atomic_load_explicit(&f->lose_txn, memory_order_relaxed);
	return err;
}

const char *store_fault_op_name(enum store_fault_op op)
{
	return (unsigned)op < STORE_FAULT_OPS ? op_names[op] : "?";
}

bool store_fault_op_parse(const char *name, enum store_fault_op *out)
{
	for (int i = 0; name && i < STORE_FAULT_OPS; i++)
		if (!strcmp(name, op_names[i])) {
			*out = (enum store_fault_op)i;
			return true;
		}
	return false;
}

const char *store_fault_error_name(enum store_fault_error err)
{
	return (unsigned)err <= STORE_FAULT_BUSY ? error_names[err] : "?";
}

bool store_fault_error_parse(const char *name, enum store_fault_error *out)
{
	for (int i = 0; name && i <= STORE_FAULT_BUSY; i++)
		if (!strcmp(name, error_names[i])) {
			*out = (enum store_fault_error)i;
			return true;
		}
	return false;
}
