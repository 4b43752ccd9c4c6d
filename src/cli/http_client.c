/* http_client.c — see http_client.h. */
#include "cli/http_client.h"

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
	char *base;		    /* without a trailing '/' */
	struct curl_slist *headers; /* "Name: value" sent with every request */
	volatile sig_atomic_t *cancel;
	char errbuf[CURL_ERROR_SIZE];
};

struct sink {
	struct buf *body;
	size_t cap;
	bool over;
	char *content_type;
	size_t content_type_size;
};

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

void http_client_cancel_on(struct http_client *c, volatile sig_atomic_t *flag)
{
	c->cancel = flag;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct sink *s = arg;
	size_t len = size * n;
	if (s->body->len + len > s->cap) {
		s->over = true;
		return 0; /* libcurl stops with CURLE_WRITE_ERROR */
	}
	buf_append(s->body, p, len);
	return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct sink *s = arg;
	size_t len = size * n;
	static const char want[] = "content-type:";
	if (len > sizeof want - 1 && !strncasecmp(p, want, sizeof want - 1)) {
		const char *v = p + sizeof want - 1;
		size_t vl = len - (sizeof want - 1);
		while (vl && (*v == ' ' || *v == '\t'))
			v++, vl--;
		while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
			vl--;
		if (vl >= s->content_type_size)
			vl = s->content_type_size - 1;
		memcpy(s->content_type, v, vl);
		s->content_type[vl] = '\0';
	}
	return len;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	(void)dt, (void)dn, (void)ut, (void)un;
	volatile sig_atomic_t *flag = arg;
	return *flag ? 1 : 0;
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
	if (!rc)
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

int http_client_request(struct http_client *c, const char *method, const char *path,
			const char *body, size_t body_len, const struct http_header *extra,
			size_t n_extra, struct http_response *resp, struct err *e)
{
	struct curl_slist *hdrs = NULL;
	struct buf url = BUF_INIT;
	int rc = 0;
	buf_reset(&resp->body);
	resp->status = 0;
	resp->content_type[0] = '\0';
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
	struct sink sink = {.body = &resp->body,
			    .cap = HTTP_CLIENT_MAX_RESPONSE,
			    .content_type = resp->content_type,
			    .content_type_size = sizeof resp->content_type};
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
	SETOPT(CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
	SETOPT(CURLOPT_TIMEOUT_MS, TOTAL_TIMEOUT_MS);
	SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)HTTP_CLIENT_MAX_RESPONSE);
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
	if (cc == CURLE_WRITE_ERROR && sink.over) {
		rc = err_set(e, ERR_TOOLARGE, "the response from %s is larger than %zu bytes",
			     url.data, HTTP_CLIENT_MAX_RESPONSE);
		goto out;
	}
	if (cc == CURLE_FILESIZE_EXCEEDED) {
		rc = err_set(e, ERR_TOOLARGE, "the response from %s is larger than %zu bytes",
			     url.data, HTTP_CLIENT_MAX_RESPONSE);
		goto out;
	}
	if (cc == CURLE_ABORTED_BY_CALLBACK) {
		rc = err_set(e, ERR_IO, "interrupted");
		goto out;
	}
	if (cc != CURLE_OK) {
		rc = err_set(e, ERR_UPSTREAM, "cannot reach the server at %s: %s", c->base,
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

void http_response_clear(struct http_response *resp)
{
	buf_free(&resp->body);
	resp->status = 0;
	resp->content_type[0] = '\0';
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
