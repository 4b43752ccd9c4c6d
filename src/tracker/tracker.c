/* tracker.c — the provider registry and the helpers every adapter shares: how an
 * answer is classified for the outbox, how Retry-After is read, and how a body is cut
 * to a tracker's limit. See tracker.h. */
#include "tracker/tracker.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "tracker/rest.h"
#include "util/json.h"
#include "util/utf8.h"

const struct tracker_ops *const tracker_providers[] = {
	&tracker_github,
	&tracker_gitlab,
	&tracker_jira,
	NULL,
};

const struct tracker_ops *tracker_find(const char *name)
{
	if (!name)
		return NULL;
	for (const struct tracker_ops *const *p = tracker_providers; *p; p++)
		if (!strcmp((*p)->name, name))
			return *p;
	return NULL;
}

/* ---------------------------------------------------------- timeouts ---- */

/* Written before delivery threads start (tracker.h), read by rest_open. */
static long timeout_connect_ms, timeout_total_ms;

void tracker_set_timeouts(long connect_ms, long total_ms)
{
	timeout_connect_ms = connect_ms > 0 ? connect_ms : 0;
	timeout_total_ms = total_ms > 0 ? total_ms : 0;
}

void tracker_get_timeouts(long *connect_ms, long *total_ms)
{
	*connect_ms = timeout_connect_ms ? timeout_connect_ms : TRACKER_CONNECT_TIMEOUT_MS;
	*total_ms = timeout_total_ms ? timeout_total_ms : TRACKER_TOTAL_TIMEOUT_MS;
}

/* ------------------------------------------------------- Retry-After ---- */

/* Seconds beyond this are taken as this: keeps the milliseconds far from overflow
 * (about 31 years; no tracker asks for more than an hour). */
#define MAX_WAIT_S ((int64_t)1000000000)

static int month_of(const char *s)
{
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	for (int i = 0; i < 12; i++)
		if (!strncmp(s, months[i], 3))
			return i;
	return -1;
}

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return n > 0;
}

/* The three HTTP-date forms RFC 9110 §5.6.7 says a recipient must accept:
 *   IMF-fixdate  Sun, 06 Nov 1994 08:49:37 GMT
 *   RFC 850      Sunday, 06-Nov-94 08:49:37 GMT
 *   asctime      Sun Nov  6 08:49:37 1994
 * Returns false when s is none of them. */
static bool parse_http_date(const char *s, int64_t *epoch_s)
{
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	char mon[4] = "", zone[4] = "", wday[10] = "";
	int day = 0, year = 0, hh = 0, mm = 0, ss = 0, used = 0;
	size_t wlen = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
	if (wlen == 3 && s[3] == ',' &&
	    sscanf(s + 4, " %2d %3[A-Za-z] %4d %2d:%2d:%2d %3[A-Z]%n", &day, mon, &year, &hh, &mm,
		   &ss, zone, &used) == 7) {
		/* IMF-fixdate (the weekday is not checked: it adds nothing) */
		used += 4;
	} else if (wlen > 3 && wlen < 10 && s[wlen] == ',' &&
		   sscanf(s + wlen + 1, " %2d-%3[A-Za-z]-%2d %2d:%2d:%2d %3[A-Z]%n", &day, mon,
			  &year, &hh, &mm, &ss, zone, &used) == 7) {
		/* RFC 850: a two-digit year "that appears to be more than 50 years in the
		 * future" is in the past century (RFC 9110); 00..69 are 20xx here. */
		used += (int)wlen + 1;
		year += year < 70 ? 2000 : 1900;
	} else if (wlen == 3 && s[3] == ' ' &&
		   sscanf(s, "%3s %3[A-Za-z] %2d %2d:%2d:%2d %4d%n", wday, mon, &day, &hh, &mm, &ss,
			  &year, &used) == 7) {
		strcpy(zone, "GMT"); /* asctime */
	} else {
		return false;
	}
	while (s[used] == ' ' || s[used] == '\t')
		used++;
	int m = month_of(mon);
	if (s[used] || strcmp(zone, "GMT") || m < 0 || day < 1 || day > 31 || hh > 23 || mm > 59 ||
	    ss > 60 || year < 1970 || year > 9999)
		return false;
	tm.tm_year = year - 1900;
	tm.tm_mon = m;
	tm.tm_mday = day;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	time_t t = timegm(&tm);
	if (t == (time_t)-1 || tm.tm_mday != day) /* 31 Feb normalised away */
		return false;
	*epoch_s = (int64_t)t;
	return true;
}

int64_t tracker_retry_after_ms(const char *value, int64_t now_ms)
{
	if (!value)
		return -1;
	while (*value == ' ' || *value == '\t')
		value++;
	size_t n = strlen(value);
	while (n && (value[n - 1] == ' ' || value[n - 1] == '\t'))
		n--;
	if (all_digits(value, n)) {
		int64_t secs = 0;
		for (size_t i = 0; i < n && secs < MAX_WAIT_S; i++)
			secs = secs * 10 + (value[i] - '0');
		return (secs < MAX_WAIT_S ? secs : MAX_WAIT_S) * 1000;
	}
	char date[64];
	if (n == 0 || n >= sizeof date)
		return -1;
	memcpy(date, value, n);
	date[n] = '\0';
	int64_t at;
	if (!parse_http_date(date, &at))
		return -1;
	int64_t wait = at * 1000 - now_ms;
	if (wait < 0)
		return 0;
	return wait < MAX_WAIT_S * 1000 ? wait : MAX_WAIT_S * 1000;
}

/* ----------------------------------------------------- classification ---- */

/* Whether s contains the lower-case ASCII word, ignoring ASCII case. */
static bool contains_nocase(const char *s, const char *word)
{
	size_t n = strlen(word);
	for (; *s; s++)
		if (!strncasecmp(s, word, n))
			return true;
	return false;
}

static bool retryable_status(long st)
{
	return st >= 500 || st == 408 || st == 423 || st == 425 || st == 429;
}

/* GitHub's primary limit: x-ratelimit-remaining 0, reset at x-ratelimit-reset (epoch
 * seconds). Returns the wait in ms (0 when the reset is past or absent), or -1 when the
 * response does not say the limit is exhausted. */
static int64_t ratelimit_reset_ms(const struct http_response *resp, int64_t now_ms)
{
	const char *rem = http_response_header(resp, "x-ratelimit-remaining");
	if (!rem || strcmp(rem, "0"))
		return -1;
	const char *reset = http_response_header(resp, "x-ratelimit-reset");
	if (!reset || !all_digits(reset, strlen(reset)) || strlen(reset) > 12)
		return 0;
	int64_t at = 0;
	for (const char *p = reset; *p; p++)
		at = at * 10 + (*p - '0');
	int64_t wait = at * 1000 - now_ms;
	return wait > 0 ? (wait < MAX_WAIT_S * 1000 ? wait : MAX_WAIT_S * 1000) : 0;
}

static void put_sep(struct buf *b)
{
	if (b->len)
		buf_puts(b, "; ");
}

/* A JSON value that is a string, or an array of strings, as text ("a, b"). */
static void put_str_or_list(struct buf *b, const json_t *v)
{
	if (json_is_string(v)) {
		buf_puts(b, json_string_value(v));
		return;
	}
	size_t i, n = 0;
	const json_t *x;
	json_array_foreach(v, i, x)
	{
		if (!json_is_string(x))
			continue;
		if (n++)
			buf_puts(b, ", ");
		buf_puts(b, json_string_value(x));
	}
}

/* {"field": "text"} or {"field": ["text", ...]} → "field: text" pairs. */
static void put_field_map(struct buf *b, const json_t *obj)
{
	const char *k;
	const json_t *v;
	json_object_foreach((json_t *)obj, k, v)
	{
		if (!json_is_string(v) && !json_is_array(v))
			continue;
		put_sep(b);
		buf_printf(b, "%s: ", k);
		put_str_or_list(b, v);
	}
}

/* The error text of the providers' JSON error bodies:
 *   GitHub  {"message": "...", "errors": [{"resource","field","code"[,"message"]}]}
 *   GitLab  {"message": "..."} or {"message": {"field": ["..."]}} or {"error": "..."}
 *   Jira    {"errorMessages": ["..."], "errors": {"field": "..."}}
 * Anything else contributes nothing. */
static void json_error_text(const json_t *j, struct buf *b)
{
	const json_t *v = json_object_get(j, "message");
	if (json_is_string(v)) {
		put_sep(b);
		buf_puts(b, json_string_value(v));
	} else if (json_is_object(v)) {
		put_field_map(b, v);
	}
	size_t i;
	const json_t *x;
	json_array_foreach(json_object_get(j, "errorMessages"), i, x)
	{
		if (json_is_string(x) && *json_string_value(x)) {
			put_sep(b);
			buf_puts(b, json_string_value(x));
		}
	}
	v = json_object_get(j, "errors");
	if (json_is_object(v)) {
		put_field_map(b, v);
	} else {
		json_array_foreach(v, i, x)
		{
			const char *msg = json_get_str(x, "message");
			const char *field = json_get_str(x, "field");
			const char *code = json_get_str(x, "code");
			if (json_is_string(x)) {
				put_sep(b);
				buf_puts(b, json_string_value(x));
			} else if (msg) {
				put_sep(b);
				buf_puts(b, msg);
			} else if (field || code) {
				put_sep(b);
				buf_printf(b, "%s: %s", field ? field : "?",
					   code ? code : "invalid");
			}
		}
	}
	v = json_object_get(j, "error");
	if (json_is_string(v)) {
		put_sep(b);
		buf_puts(b, json_string_value(v));
		const char *d = json_get_str(j, "error_description");
		if (d)
			buf_printf(b, " (%s)", d);
	}
}

/* Printable text from arbitrary bytes: control characters become spaces, runs of
 * spaces one space, ill-formed UTF-8 U+FFFD. */
static void put_clean(struct buf *b, const char *s, size_t n)
{
	struct buf t = BUF_INIT;
	utf8_repair(&t, s, n);
	bool space = b->len == 0 || b->data[b->len - 1] == ' ';
	for (size_t i = 0; i < t.len; i++) {
		unsigned char c = (unsigned char)t.data[i];
		if (c < 0x20 || c == 0x7f || c == ' ') {
			if (!space)
				buf_putc(b, ' ');
			space = true;
		} else {
			buf_putc(b, (char)c);
			space = false;
		}
	}
	buf_free(&t);
	while (b->len && b->data[b->len - 1] == ' ')
		b->data[--b->len] = '\0';
}

void tracker_response_text(const struct http_response *resp, struct buf *out)
{
	size_t start = out->len;
	const char *p = resp->body.data;
	size_t n = resp->body.len;
	size_t i = 0;
	while (i < n && isspace((unsigned char)p[i]))
		i++;
	if (i < n && (p[i] == '{' || p[i] == '[')) {
		json_t *j = json_loadb(p, n, 0, NULL);
		if (json_is_object(j)) {
			struct buf t = BUF_INIT;
			json_error_text(j, &t);
			if (t.len)
				put_clean(out, t.data, t.len);
			buf_free(&t);
		}
		json_decref(j);
	}
	if (out->len == start && n > 0)
		put_clean(out, p, utf8_cut(p, n, 200));
}

/* Copy text into a fixed field, cut at a character boundary. */
static void set_text(char *dst, size_t cap, const char *s)
{
	size_t n = utf8_cut(s, strlen(s), cap - 1);
	memcpy(dst, s, n);
	dst[n] = '\0';
}

void tracker_classify(int rc, const struct err *e, const struct http_response *resp, int64_t now_ms,
		      const char *what, struct tracker_result *r)
{
	struct buf msg = BUF_INIT;
	r->calls++; /* every classify follows one request attempt */
	r->retry_after_ms = 0;
	r->error[0] = '\0';
	if (!what)
		what = "request";
	if (rc != 0) {
		/* No usable response. Whether the tracker may have acted on the request:
		 * not when the name did not resolve, the connection or the TLS handshake
		 * failed (nothing was sent), nor when the request was refused before being
		 * made; yes once it may have been written (a timeout, a broken connection,
		 * an interrupted or oversized answer). */
		enum http_fail f = resp ? resp->fail : HTTP_FAIL_NONE;
		r->http_status = 0;
		if (rc == ERR_UPSTREAM) {
			r->outcome = TRACKER_RETRY;
			r->sent = !(f == HTTP_FAIL_DNS || f == HTTP_FAIL_CONNECT ||
				    f == HTTP_FAIL_TLS);
		} else if (rc == ERR_IO) { /* interrupted: try again after the restart */
			r->outcome = TRACKER_RETRY;
			r->sent = true;
		} else if (rc == ERR_TOOLARGE) {
			r->outcome = TRACKER_FAILED;
			r->sent = true;
		} else {
			r->outcome = TRACKER_FAILED;
			r->sent = false;
		}
		buf_printf(&msg, "%s: %s", what, e && e->msg[0] ? e->msg : err_code_name(rc));
		set_text(r->error, sizeof r->error, buf_cstr(&msg));
		buf_free(&msg);
		return;
	}
	long st = resp->status;
	r->http_status = st;
	r->sent = true;
	if (st >= 200 && st < 300) {
		r->outcome = TRACKER_OK;
		return;
	}
	struct buf text = BUF_INIT;
	tracker_response_text(resp, &text);
	const char *ra = http_response_header(resp, "retry-after");
	int64_t reset = ratelimit_reset_ms(resp, now_ms);
	bool retry = retryable_status(st);
	if (st == 403 && (ra || reset >= 0))
		retry = true;
	/* GitHub's secondary limits may answer 403 with neither header; its documentation
	 * says to wait at least a minute then. */
	if (st == 403 && !retry && contains_nocase(buf_cstr(&text), "secondary rate limit")) {
		retry = true;
		r->retry_after_ms = 60000;
	}
	if (retry) {
		int64_t w = ra ? tracker_retry_after_ms(ra, now_ms) : -1;
		if (w >= 0)
			r->retry_after_ms = w;
		else if (reset > 0)
			r->retry_after_ms = reset;
	}
	r->outcome = retry ? TRACKER_RETRY : TRACKER_FAILED;
	buf_printf(&msg, "%s: HTTP %ld", what, st);
	if (st >= 300 && st < 400) {
		const char *loc = http_response_header(resp, "location");
		buf_printf(&msg,
			   ": redirected to %s (redirects are not followed: check the base URL)",
			   loc ? loc : "another address");
	} else if (text.len) {
		buf_printf(&msg, ": %s", text.data);
	}
	set_text(r->error, sizeof r->error, buf_cstr(&msg));
	buf_free(&text);
	buf_free(&msg);
}

/* ---------------------------------------------------------- fit_body ---- */

/* Characters (code points) of valid UTF-8 s[0..n). */
static size_t cps(const char *s, size_t n)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			c++;
	return c;
}

/* Byte length of the first k characters of s[0..n). */
static size_t bytes_of(const char *s, size_t n, size_t k)
{
	size_t i = 0;
	while (i < n && k > 0) {
		i++;
		while (i < n && ((unsigned char)s[i] & 0xC0) == 0x80)
			i++;
		k--;
	}
	return i;
}

/* The fence a line opens or closes, CommonMark §4.5: up to three spaces, then three or
 * more backticks or tildes (an opening backtick fence has no backtick after it). Lines
 * inside block quotes or indented four or more are not seen as fences. */
struct fence {
	char ch;    /* '`' or '~'; 0 = not in a fence */
	size_t len; /* length of the opening run */
};

static void fence_step(struct fence *f, const char *line, size_t n)
{
	size_t i = 0;
	while (i < n && i < 3 && line[i] == ' ')
		i++;
	if (i >= n || (line[i] != '`' && line[i] != '~'))
		return;
	char ch = line[i];
	size_t run = 0;
	while (i + run < n && line[i + run] == ch)
		run++;
	if (run < 3)
		return;
	const char *rest = line + i + run;
	size_t rn = n - i - run;
	if (f->ch) {
		if (ch != f->ch || run < f->len)
			return;
		for (size_t k = 0; k < rn; k++)
			if (rest[k] != ' ' && rest[k] != '\t' && rest[k] != '\r' && rest[k] != '\n')
				return;
		f->ch = 0;
		f->len = 0;
		return;
	}
	if (ch == '`' && memchr(rest, '`', rn))
		return;
	f->ch = ch;
	f->len = run;
}

static void put_fence_close(struct buf *out, const struct fence *f)
{
	for (size_t i = 0; i < f->len; i++)
		buf_putc(out, f->ch);
	buf_putc(out, '\n');
}

void tracker_fit_body(const char *md, size_t max_chars, const char *incident_url, struct buf *out)
{
	if (!md)
		md = "";
	struct buf fixed = BUF_INIT;
	size_t n = strlen(md);
	if (!utf8_valid(md, n)) {
		utf8_repair(&fixed, md, n);
		md = buf_cstr(&fixed);
		n = fixed.len;
	}
	size_t total = cps(md, n);
	if (total <= max_chars) {
		buf_append(out, md, n);
		goto out;
	}
	struct buf note = BUF_INIT;
	buf_puts(&note, "\n> **Cut to fit the tracker's limit.**");
	if (incident_url && *incident_url) {
		buf_puts(&note, " The full incident: ");
		put_clean(&note, incident_url, strlen(incident_url));
	}
	buf_putc(&note, '\n');
	size_t note_n = cps(note.data, note.len);
	if (note_n + 8 > max_chars) { /* no room for the note and text: only ever a test */
		buf_reset(&note);
		note_n = 0;
	}
	size_t budget = max_chars - note_n; /* for the text and a fence close */

	/* The last line end where the text so far, plus the close of a fence open there,
	 * fits the budget. */
	size_t best_pos = 0, best_chars = 0, chars = 0, pos = 0;
	struct fence st = {0, 0}, best_st = {0, 0};
	while (pos < n) {
		const char *nl = memchr(md + pos, '\n', n - pos);
		size_t end = nl ? (size_t)(nl - md) + 1 : n;
		size_t after = chars + cps(md + pos, end - pos);
		if (after > budget)
			break;
		fence_step(&st, md + pos, end - pos);
		size_t need = after + (st.ch ? st.len + 1 : 0);
		if (nl && need <= budget) {
			best_pos = end;
			best_chars = after;
			best_st = st;
		}
		chars = after;
		pos = end;
	}
	buf_append(out, md, best_pos);

	/* A single line so long that stopping before it keeps less than half the budget
	 * (a log pasted as one line) is cut inside, after its last blank that fits, or
	 * at a character boundary when it has none. Fence lines are never cut inside. */
	const char *line = md + best_pos;
	const char *nl = memchr(line, '\n', n - best_pos);
	size_t line_len = nl ? (size_t)(nl - line) : n - best_pos;
	struct fence probe = best_st;
	fence_step(&probe, line, line_len);
	bool fence_line = probe.ch != best_st.ch || probe.len != best_st.len;
	size_t close_n = best_st.ch ? best_st.len + 1 : 0;
	if (best_chars < budget / 2 && !fence_line && best_chars + 1 + close_n < budget) {
		size_t room = budget - best_chars - 1 - close_n; /* characters; 1 for '\n' */
		size_t cut = bytes_of(line, line_len, room);
		size_t blank = cut;
		while (blank > cut / 2 && line[blank - 1] != ' ' && line[blank - 1] != '\t')
			blank--;
		if (blank > cut / 2)
			cut = blank;
		while (cut > 0 && (line[cut - 1] == ' ' || line[cut - 1] == '\t'))
			cut--;
		if (cut > 0) {
			buf_append(out, line, cut);
			buf_putc(out, '\n');
		}
	}
	if (best_st.ch)
		put_fence_close(out, &best_st);
	buf_append(out, buf_cstr(&note), note.len);
	buf_free(&note);
out:
	buf_free(&fixed);
}

void tracker_fit_line(const char *s, size_t max_chars, struct buf *out)
{
	if (!s)
		s = "";
	struct buf t = BUF_INIT;
	put_clean(&t, s, strlen(s));
	size_t total = cps(buf_cstr(&t), t.len);
	if (total <= max_chars || max_chars < 2) {
		buf_append(out, buf_cstr(&t), bytes_of(buf_cstr(&t), t.len, max_chars));
	} else {
		size_t b = bytes_of(t.data, t.len, max_chars - 1);
		while (b > 0 && t.data[b - 1] == ' ')
			b--;
		buf_append(out, t.data, b);
		buf_puts(out, "\xE2\x80\xA6"); /* … */
	}
	buf_free(&t);
}
