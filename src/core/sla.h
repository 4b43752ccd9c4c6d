/* sla.h — the SLA check (SPEC §4.4): every `watcher.sla_interval`, each stage of an
 * active incident whose due time passed unmet gets exactly one sla_breached event
 * {incident_id, stage, due_at} (and the notifications of the webhooks that list it),
 * also when several instances check. Runs in a write transaction on the writer. */
#ifndef INTERVENE_CORE_SLA_H
#define INTERVENE_CORE_SLA_H

#include <stdint.h>

#include "config/config.h"
#include "store/store.h"

/* Check every active incident at now; counts[stage] (0 ack, 1 mitigate, 2 resolve)
 * gets the breaches recorded by this call (for intervene_sla_breaches_total). */
int sla_check(struct store_conn *c, const struct config *cfg, int64_t now, int64_t counts[3],
	      struct err *e);

#endif
