/* alertmanager.h — Prometheus Alertmanager's webhook payload (version "4") as signals
 * of kind `alert` (SPEC §4.1, §5.3).
 *
 * One signal per alert: key `alert:<alertname>:<fingerprint>`, severity from the
 * `severity` label, summary from the annotations, details carrying what a responder
 * needs to find the alert again; `firing` triggers, `resolved` resolves. Ingestion is
 * signal_ingest's, so these signals deduplicate, silence and rate-limit exactly like
 * the ones of POST /api/signals. docs/alertmanager.md is the user's side of this.
 *
 * Fields Alertmanager sends are type-checked strictly; fields this version does not
 * know are ignored (not refused, unlike the rest of the API): Alertmanager has added
 * fields to version "4" before (groupKey, truncatedAlerts), and refusing a whole
 * notification over one would lose every alert in it. Pure; any thread. */
#ifndef INTERVENE_CORE_ALERTMANAGER_H
#define INTERVENE_CORE_ALERTMANAGER_H

#include <jansson.h>
#include <stddef.h>

#include "core/signal.h"
#include "util/err.h"

#define ALERTMANAGER_SUMMARY_MAX     256 /* characters */
#define ALERTMANAGER_ALERTNAME_MAX   256 /* characters */
#define ALERTMANAGER_FINGERPRINT_MAX 64	 /* hex digits (Alertmanager sends 16) */

/* The severity (1..4) of an alert whose `severity` label is label (NULL: absent),
 * compared without regard to case: critical/page → 1, error/high → 2, warning → 3,
 * info/none → 4; absent or any other word → 3, the default of every signal. */
int alertmanager_severity(const char *label);

/* The summary of an alert: annotations.summary, else annotations.description, else
 * alertname — the first that is not empty after trimming — cut to
 * ALERTMANAGER_SUMMARY_MAX characters without splitting one. annotations may be NULL.
 * Returns a malloc'd string the caller frees. */
char *alertmanager_summary(const json_t *annotations, const char *alertname);

/* Validate payload and turn each of its alerts into a signal. On success *out is an
 * array of *n signals (n ≥ 1) that the caller owns: signal_clear each, then free the
 * array. On failure *out is NULL, *n is 0 and the error is ERR_INVALID with e->field
 * naming the field (dotted: "alerts.labels.alertname") and, for a field of one alert,
 * e->index its position in `alerts`. */
int alertmanager_parse(const json_t *payload, struct signal **out, size_t *n, struct err *e);

#endif
