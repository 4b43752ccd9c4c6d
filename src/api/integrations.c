/* integrations.c — POST /api/integrations/alertmanager: the alerts of one Alertmanager
 * notification become one batch of signals (core/alertmanager.h), stored and answered
 * by the signals route's run() and counted by its finish(). */
#include "api/api.h"
#include "core/alertmanager.h"
#include "http/server.h"

int api_alertmanager_prepare(struct http_req *r)
{
	struct err e;
	err_clear(&e);
	struct signal *items = NULL; /* owned here until adopted by r */
	size_t n = 0;
	if (alertmanager_parse(r->body, &items, &n, &e)) {
		req_reply_err(r, &e);
		return 1;
	}
	api_signals_adopt(r, items, n);
	return 0;
}
