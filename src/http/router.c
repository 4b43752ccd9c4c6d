#include "http/router.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

const char *router_method_name(enum http_method m)
{
	switch (m) {
	case M_GET: return "GET";
	case M_POST: return "POST";
	case M_PUT: return "PUT";
	case M_PATCH: return "PATCH";
	case M_DELETE: return "DELETE";
	case M_HEAD: return "HEAD";
	case M_OPTIONS: return "OPTIONS";
	}
	return "GET";
}

static bool parse_id(const char *s, size_t n, int64_t *out)
{
	if (n == 0 || n > 19 || s[0] == '0')
		return false;
	int64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		if (v > (INT64_MAX - (s[i] - '0')) / 10)
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

/* Match one pattern; fills id/id2/param on success. */
static bool match_pattern(const struct route *rt, const char *path, struct route_match *m)
{
	const char *p = rt->pattern, *s = path;
	int64_t ids[2] = {0, 0};
	int n_ids = 0;
	const char *param = NULL;
	size_t param_len = 0;
	while (*p && *s) {
		if (*p != '/' || *s != '/')
			return false;
		p++;
		s++;
		const char *pe = strchr(p, '/');
		const char *se = strchr(s, '/');
		size_t pl = pe ? (size_t)(pe - p) : strlen(p);
		size_t sl = se ? (size_t)(se - s) : strlen(s);
		if ((pl == 4 && !strncmp(p, "{id}", 4)) ||
		    (pl == 11 && !strncmp(p, "{action_id}", 11))) {
			if (n_ids == 2 || !parse_id(s, sl, &ids[n_ids]))
				return false;
			n_ids++;
		} else if (pl > 2 && p[0] == '{') {
			if (sl == 0)
				return false;
			if (rt->words) {
				bool ok = false;
				for (const char *const *w = rt->words; *w && !ok; w++)
					ok = strlen(*w) == sl && !strncmp(*w, s, sl);
				if (!ok)
					return false;
			}
			param = s;
			param_len = sl;
		} else if (pl != sl || strncmp(p, s, pl)) {
			return false;
		}
		p += pl;
		s += sl;
	}
	if (*p || *s)
		return false;
	m->id = ids[0];
	m->id2 = ids[1];
	m->param = param ? xstrndup(param, param_len) : NULL;
	return true;
}

int router_match(const struct route *table, size_t n, const char *path, enum http_method method,
		 struct route_match *m)
{
	memset(m, 0, sizeof *m);
	bool path_known = false;
	/* A literal pattern wins over templated ones, as paths match in OpenAPI: a path
	 * that is some route's literal pattern (POST /api/canary/runs) is served only by
	 * the routes of that pattern, never by a template (GET /api/canary/{name}). */
	bool literal = false;
	for (size_t i = 0; i < n && !literal; i++)
		literal = !strchr(table[i].pattern, '{') && !strcmp(table[i].pattern, path);
	for (size_t i = 0; i < n; i++) {
		struct route_match tmp = {0};
		if (literal && strchr(table[i].pattern, '{'))
			continue;
		if (!match_pattern(&table[i], path, &tmp))
			continue;
		path_known = true;
		m->allowed |= table[i].method;
		if (table[i].method == method && !m->route) {
			unsigned allowed = m->allowed;
			*m = tmp;
			m->allowed = allowed;
			m->route = &table[i];
		} else {
			free(tmp.param);
		}
	}
	if (m->route) {
		return 0;
	}
	return path_known ? ERR_METHOD : ERR_NOTFOUND;
}
