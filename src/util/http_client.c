/* http_client.c — see http_client.h. */
#include "util/http_client.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CONNECT_TIMEOUT_MS 5000L
#define TOTAL_TIMEOUT_MS   30000L

struct http_client {
	CURL *h;
	long connect_ms, total_ms;
	size_t max_response;
	char *base;		    /* without a trailing '/' */
	struct curl_slist *headers; /* "Name: value" sent with every request */
	volatile sig_atomic_t *cancel;
	char errbuf[CURL_ERROR_SIZE];
};

/* Where a streamed 2xx body goes (http_client_stream). */
struct stream_to {
	http_stream_fn on_data;
	void *arg;
	bool stopped; /* on_data asked to stop */
};

struct sink {
	struct buf *body;
	size_t cap;
	bool over;
	struct http_response *resp;
	size_t header_bytes;
	struct stream_to *stream; /* NULL: collect the whole body */
};

#define MAX_HEADER_BYTES 65536
/* A stream's error reply (not 2xx) is collected up to this for the caller to show. */
#define STREAM_ERROR_BODY_MAX ((size_t)64 * 1024)
/* A stream that delivers nothing for this long (heartbeats or not) is dead. */
#define STREAM_STALL_S 60L

static bool has_ctl_or_space(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return true;
	return false;
}

static bool is_token(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr("!#$%&'*+-.^_`|~", *s)))
			return false;
	return true;
}

static int check_header(const char *name, const char *value, struct err *e)
{
	if (!name || !is_token(name))
		return err_set(e, ERR_INVALID, "invalid HTTP header name '%s'", name ? name : "");
	if (!value || strpbrk(value, "\r\n"))
		return err_set(e, ERR_INVALID,
			       "the value of the %s header must not contain CR or LF", name);
	return 0;
}

/* The cancel flag of clients made on this thread (http_client_cancel_thread): owned by
 * the thread that sets it, read only by it. */
static _Thread_local volatile sig_atomic_t *thread_cancel;

void http_client_cancel_thread(volatile sig_atomic_t *flag)
{
	thread_cancel = flag;
}

int http_client_new(const char *base_url, struct http_client **out, struct err *e)
{
	*out = NULL;
	if (!base_url ||
	    (strncasecmp(base_url, "http://", 7) && strncasecmp(base_url, "https://", 8)))
		return err_set(e, ERR_INVALID,
			       "the server URL must start with http:// or https:// (got '%s')",
			       base_url ? base_url : "");
	const char *host = strstr(base_url, "://") + 3;
	if (!*host || *host == '/' || has_ctl_or_space(base_url))
		return err_set(e, ERR_INVALID, "'%s' is not a valid server URL", base_url);
	struct http_client *c = xcalloc(1, sizeof *c);
	c->h = curl_easy_init();
	if (!c->h) {
		free(c);
		return err_set(e, ERR_NOMEM, "libcurl could not create a handle");
	}
	c->base = xstrdup(base_url);
	c->cancel = thread_cancel;
	c->connect_ms = CONNECT_TIMEOUT_MS;
	c->total_ms = TOTAL_TIMEOUT_MS;
	c->max_response = HTTP_CLIENT_MAX_RESPONSE;
	size_t n = strlen(c->base);
	while (n > 0 && c->base[n - 1] == '/')
		c->base[--n] = '\0';
	*out = c;
	return 0;
}

void http_client_free(struct http_client *c)
{
	if (!c)
		return;
	curl_slist_free_all(c->headers);
	curl_easy_cleanup(c->h);
	free(c->base);
	free(c);
}

const char *http_client_base(const struct http_client *c)
{
	return c->base;
}

/* Append "name: value" to list; ERR_NOMEM when libcurl cannot. */
static int slist_add(struct curl_slist **list, const char *name, const char *value, struct err *e)
{
	struct buf line = BUF_INIT;
	buf_printf(&line, "%s: %s", name, value);
	struct curl_slist *l = curl_slist_append(*list, line.data);
	buf_free(&line);
	if (!l)
		return err_set(e, ERR_NOMEM, "out of memory building headers");
	*list = l;
	return 0;
}

int http_client_add_header(struct http_client *c, const char *name, const char *value,
			   struct err *e)
{
	int rc = check_header(name, value, e);
	return rc ? rc : slist_add(&c->headers, name, value, e);
}

void http_client_set_limits(struct http_client *c, long connect_ms, long total_ms,
			    size_t max_response)
{
	if (connect_ms > 0)
		c->connect_ms = connect_ms;
	if (total_ms > 0)
		c->total_ms = total_ms;
	if (max_response > 0)
		c->max_response = max_response;
}

void http_client_cancel_on(struct http_client *c, volatile sig_atomic_t *flag)
{
	c->cancel = flag;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct sink *s = arg;
	size_t len = size * n;
	if (s->stream && s->resp->status >= 200 && s->resp->status <= 299) {
		if (s->stream->on_data(s->stream->arg, p, len)) {
			s->stream->stopped = true;
			return 0; /* libcurl stops with CURLE_WRITE_ERROR */
		}
		return len;
	}
	if (s->body->len + len > s->cap) {
		s->over = true;
		return 0; /* libcurl stops with CURLE_WRITE_ERROR */
	}
	buf_append(s->body, p, len);
	return len;
}

static void clear_headers(struct http_response *r)
{
	for (size_t i = 0; i < r->n_headers; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	free(r->headers);
	r->headers = NULL;
	r->n_headers = 0;
}

/* Every header line of the response; a new status line (after 100 Continue or an
 * interim response) starts the list again, so the headers are the final response's. */
static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct sink *s = arg;
	struct http_response *r = s->resp;
	size_t len = size * n;
	s->header_bytes += len;
	if (s->header_bytes > MAX_HEADER_BYTES)
		return 0; /* a response that sends megabytes of headers is refused */
	if (len >= 5 && !strncmp(p, "HTTP/", 5)) {
		clear_headers(r);
		r->content_type[0] = '\0';
		/* "HTTP/1.1 200 OK": a stream's body callback needs the status before the
		 * transfer ends */
		const char *sp = memchr(p, ' ', len);
		size_t at = sp ? (size_t)(sp - p) + 1 : len;
		r->status = 0;
		for (size_t i = at; i < len && i < at + 3 && p[i] >= '0' && p[i] <= '9'; i++)
			r->status = r->status * 10 + (p[i] - '0');
		return len;
	}
	const char *colon = memchr(p, ':', len);
	if (!colon)
		return len;
	size_t nl = (size_t)(colon - p);
	const char *v = colon + 1;
	size_t vl = len - nl - 1;
	while (vl && (*v == ' ' || *v == '\t'))
		v++, vl--;
	while (vl &&
	       (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' ' || v[vl - 1] == '\t'))
		vl--;
	r->headers = xrealloc(r->headers, (r->n_headers + 1) * sizeof *r->headers);
	struct http_kv *kv = &r->headers[r->n_headers++];
	kv->name = xstrndup(p, nl);
	for (char *c = kv->name; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	kv->value = xstrndup(v, vl);
	if (!strcmp(kv->name, "content-type"))
		snprintf(r->content_type, sizeof r->content_type, "%s", kv->value);
	return len;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	(void)dt, (void)dn, (void)ut, (void)un;
	volatile sig_atomic_t *flag = arg;
	return *flag ? 1 : 0;
}

static enum http_fail fail_of(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY: return HTTP_FAIL_DNS;
	case CURLE_COULDNT_CONNECT: return HTTP_FAIL_CONNECT;
	case CURLE_OPERATION_TIMEDOUT: return HTTP_FAIL_TIMEOUT;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS: return HTTP_FAIL_TLS;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE: return HTTP_FAIL_IO;
	default: return HTTP_FAIL_OTHER;
	}
}

static bool method_known(const char *m)
{
	static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", NULL};
	for (const char *const *k = methods; *k; k++)
		if (!strcmp(*k, m))
			return true;
	return false;
}

/* The per-request header list: defaults, extras, and the fixed ones. */
static int build_headers(const struct http_client *c, bool has_body,
			 const struct http_header *extra, size_t n_extra, struct curl_slist **out,
			 struct err *e)
{
	struct curl_slist *l = NULL;
	int rc = 0;
	for (const struct curl_slist *d = c->headers; d && !rc; d = d->next) {
		struct curl_slist *t = curl_slist_append(l, d->data);
		if (!t)
			rc = err_set(e, ERR_NOMEM, "out of memory building headers");
		else
			l = t;
	}
	for (size_t i = 0; i < n_extra && !rc; i++)
		if (!(rc = check_header(extra[i].name, extra[i].value, e)))
			rc = slist_add(&l, extra[i].name, extra[i].value, e);
	bool accept = false;
	for (const struct curl_slist *d = c->headers; d; d = d->next)
		accept = accept || !strncasecmp(d->data, "accept:", 7);
	for (size_t i = 0; i < n_extra; i++)
		accept = accept || !strcasecmp(extra[i].name, "accept");
	if (!rc && !accept)
		rc = slist_add(&l, "Accept", "application/json", e);
	if (!rc && has_body)
		rc = slist_add(&l, "Content-Type", "application/json", e);
	/* An empty value removes the header: no 100-continue round trip on large bodies. */
	if (!rc) {
		struct curl_slist *t = curl_slist_append(l, "Expect:");
		if (!t)
			rc = err_set(e, ERR_NOMEM, "out of memory building headers");
		else
			l = t;
	}
	if (rc) {
		curl_slist_free_all(l);
		return rc;
	}
	*out = l;
	return 0;
}

/* One request: http_client_request's contract, or with stream set
 * http_client_stream's (no total timeout, a stall limit, a 2xx body to the callback). */
static int perform(struct http_client *c, const char *method, const char *path, const char *body,
		   size_t body_len, const struct http_header *extra, size_t n_extra,
		   struct stream_to *stream, struct http_response *resp, struct err *e)
{
	struct curl_slist *hdrs = NULL;
	struct buf url = BUF_INIT;
	int rc = 0;
	buf_reset(&resp->body);
	resp->status = 0;
	resp->content_type[0] = '\0';
	resp->fail = HTTP_FAIL_NONE;
	clear_headers(resp);
	if (!method_known(method)) {
		rc = err_set(e, ERR_INVALID, "unsupported HTTP method %s", method);
		goto out;
	}
	if (path[0] != '/' || has_ctl_or_space(path)) {
		rc = err_set(e, ERR_INVALID, "invalid request path '%s'", path);
		goto out;
	}
	if ((rc = build_headers(c, body != NULL, extra, n_extra, &hdrs, e)))
		goto out;
	buf_printf(&url, "%s%s", c->base, path);

	CURL *h = c->h;
	curl_easy_reset(h); /* keeps the connection cache */
	size_t cap = stream ? STREAM_ERROR_BODY_MAX : c->max_response;
	struct sink sink = {.body = &resp->body, .cap = cap, .resp = resp, .stream = stream};
	c->errbuf[0] = '\0';
	/* Every option is checked: one refused (an old libcurl without
	 * CURLOPT_PROTOCOLS_STR, say) would silently change what is sent. */
	CURLcode sc = CURLE_OK;
	const char *sc_opt = NULL;
#define SETOPT(opt, val)                                                                           \
	do {                                                                                       \
		CURLcode r_ = curl_easy_setopt(h, opt, val);                                       \
		if (r_ != CURLE_OK && sc == CURLE_OK) {                                            \
			sc = r_;                                                                   \
			sc_opt = #opt;                                                             \
		}                                                                                  \
	} while (0)
	SETOPT(CURLOPT_URL, url.data);
	SETOPT(CURLOPT_NOSIGNAL, 1L);
	SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
	SETOPT(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT(CURLOPT_CONNECTTIMEOUT_MS, c->connect_ms);
	if (stream) {
		/* open-ended: only a connection that goes silent ends it */
		SETOPT(CURLOPT_LOW_SPEED_LIMIT, 1L);
		SETOPT(CURLOPT_LOW_SPEED_TIME, STREAM_STALL_S);
	} else {
		SETOPT(CURLOPT_TIMEOUT_MS, c->total_ms);
		SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->max_response);
	}
	SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
	SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
	SETOPT(CURLOPT_USERAGENT, "intervene/" INTERVENE_VERSION);
	SETOPT(CURLOPT_HTTPHEADER, hdrs);
	SETOPT(CURLOPT_ERRORBUFFER, c->errbuf);
	SETOPT(CURLOPT_WRITEFUNCTION, on_body);
	SETOPT(CURLOPT_WRITEDATA, &sink);
	SETOPT(CURLOPT_HEADERFUNCTION, on_header);
	SETOPT(CURLOPT_HEADERDATA, &sink);
	if (c->cancel) {
		SETOPT(CURLOPT_NOPROGRESS, 0L);
		SETOPT(CURLOPT_XFERINFOFUNCTION, on_progress);
		SETOPT(CURLOPT_XFERINFODATA, (void *)c->cancel);
	}
	if (!strcmp(method, "GET")) {
		SETOPT(CURLOPT_HTTPGET, 1L);
	} else {
		if (strcmp(method, "POST"))
			SETOPT(CURLOPT_CUSTOMREQUEST, method);
		if (body || !strcmp(method, "POST")) {
			SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? body_len : 0));
			SETOPT(CURLOPT_POSTFIELDS, body ? body : "");
		}
	}

#undef SETOPT
	if (sc != CURLE_OK) {
		rc = err_set(e, ERR_INTERNAL, "libcurl refused %s: %s", sc_opt,
			     curl_easy_strerror(sc));
		goto out;
	}

	CURLcode cc = curl_easy_perform(h);
	if (cc == CURLE_WRITE_ERROR && stream && stream->stopped)
		cc = CURLE_OK; /* the caller's own stop */
	if ((cc == CURLE_WRITE_ERROR && sink.over) || cc == CURLE_FILESIZE_EXCEEDED) {
		rc = err_set(e, ERR_TOOLARGE, "the response from %s is larger than %zu bytes",
			     url.data, cap);
		goto out;
	}
	if (cc == CURLE_ABORTED_BY_CALLBACK) {
		rc = err_set(e, ERR_IO, "interrupted");
		goto out;
	}
	if (cc != CURLE_OK) {
		resp->fail = fail_of(cc);
		if (stream && resp->status && cc == CURLE_OPERATION_TIMEDOUT)
			rc = err_set(e, ERR_UPSTREAM,
				     "the stream from %s sent nothing for %ld s; the connection "
				     "is taken as lost",
				     c->base, STREAM_STALL_S);
		else if (stream && resp->status)
			rc = err_set(e, ERR_UPSTREAM, "the stream from %s broke (%s error): %s",
				     c->base, http_fail_name(resp->fail),
				     c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc));
		else
			rc = err_set(e, ERR_UPSTREAM,
				     "cannot reach the server at %s (%s error): %s", c->base,
				     http_fail_name(resp->fail),
				     c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
out:
	/* The handle keeps pointers to these until the next reset; drop them now. */
	curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	buf_free(&url);
	if (rc)
		buf_reset(&resp->body);
	return rc;
}

int http_client_request(struct http_client *c, const char *method, const char *path,
			const char *body, size_t body_len, const struct http_header *extra,
			size_t n_extra, struct http_response *resp, struct err *e)
{
	int rc = perform(c, method, path, body, body_len, extra, n_extra, NULL, resp, e);
	if (rc)
		resp->status = 0; /* no (complete) response */
	return rc;
}

int http_client_stream(struct http_client *c, const char *path, const struct http_header *extra,
		       size_t n_extra, http_stream_fn on_data, void *arg,
		       struct http_response *resp, struct err *e)
{
	struct stream_to st = {.on_data = on_data, .arg = arg};
	return perform(c, "GET", path, NULL, 0, extra, n_extra, &st, resp, e);
}

void http_response_clear(struct http_response *resp)
{
	buf_free(&resp->body);
	clear_headers(resp);
	resp->status = 0;
	resp->content_type[0] = '\0';
	resp->fail = HTTP_FAIL_NONE;
}

const char *http_response_header(const struct http_response *resp, const char *name)
{
	for (size_t i = 0; i < resp->n_headers; i++)
		if (!strcasecmp(resp->headers[i].name, name))
			return resp->headers[i].value;
	return NULL;
}

const char *http_fail_name(enum http_fail f)
{
	switch (f) {
	case HTTP_FAIL_DNS: return "DNS";
	case HTTP_FAIL_CONNECT: return "connect";
	case HTTP_FAIL_TLS: return "TLS";
	case HTTP_FAIL_TIMEOUT: return "timeout";
	case HTTP_FAIL_IO: return "I/O";
	case HTTP_FAIL_NONE:
	case HTTP_FAIL_OTHER: break;
	}
	return "transfer";
}

void http_query_escape(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
			buf_putc(b, (char)*p);
		} else {
			buf_putc(b, '%');
			buf_putc(b, hex[*p >> 4]);
			buf_putc(b, hex[*p & 15]);
		}
	}
}
