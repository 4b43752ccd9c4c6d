/* keys.h — the key tables of the configuration and the loader's shared functions
 * (private to src/config/).
 *
 * Every key of the file is one row of a static table: name, type, where the value lives
 * in struct config (or in an entry of a map or list), the default written as it would be
 * in the file, bounds and flags. Loading, defaults, validation, the dump and freeing all
 * walk the same tables, so a new key is one new row. Besides the types and the macros
 * that write rows, this header is the contract of value.c (one value: conversion,
 * defaults, freeing, text helpers) and walk.c (the walker, and the error reporting that
 * checks across keys use). The tables are constant; everything else belongs to one load
 * on one thread. */
#ifndef INTERVENE_CONFIG_KEYS_H
#define INTERVENE_CONFIG_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config/config.h"
#include "util/buf.h"

#define SECOND INT64_C(1000)
#define MINUTE (60 * SECOND)
#define HOUR   (60 * MINUTE)
#define DAY    (24 * HOUR)

enum ktype {
	K_STR,
	K_BOOL,
	K_INT,
	K_FLOAT,
	K_OPTFLOAT, /* struct config_threshold: a float that may be absent */
	K_DUR,	    /* int64_t milliseconds */
	K_ENUM,	    /* int, from a table of names */
	K_STRLIST,  /* char ** (NULL-terminated) at off, size_t count at off2 */
	K_SECTION,  /* fixed keys in sub; same base */
	K_MAP,	    /* arbitrary keys → coll->elem; array at off, count at off2 */
	K_LIST,	    /* sequence of coll->elem; array at off, count at off2 */
};

enum {
	F_SECRET = 1u << 0,   /* masked as "****" when shown */
	F_HEADER = 1u << 1,   /* ends up in an HTTP header: CR and LF would split it */
	F_PATH = 1u << 2,     /* relative → against the config file's directory */
	F_EXEC = 1u << 3,     /* like F_PATH, but only when it contains '/' (else $PATH) */
	F_URL = 1u << 4,      /* http:// or https:// */
	F_BASEURL = 1u << 5,  /* F_URL, no ?query or #fragment, trailing '/' removed: paths
			       * are appended to it */
	F_REQUIRED = 1u << 6, /* must not be empty (inside its provider scope only) */
	F_WHOLE = 1u << 7,    /* a section written in the file replaces all its defaults */
	F_OPTIONAL = 1u << 8, /* 0 means "not set": left out of the dump */
	F_DBURL = 1u << 9,    /* a URL whose password is masked in the dump */
};

/* K_ENUM values are stored through an int lvalue: an enum field must be int-sized
 * (each section file asserts that for its enums). */
struct enum_name {
	const char *name;
	int value;
};

struct key;
struct ctx;

/* Extra validation of a non-empty string after the generic flags ran. dir is the absolute
 * directory relative paths resolve against. May replace *s (free the old value). Returns
 * 0, or -1 with the reason in why. */
typedef int (*check_fn)(const char *dir, char **s, struct buf *why);

struct coll {
	size_t elem_size;
	size_t name_off;	     /* map: where the entry's key (char *) goes */
	const struct key *elem;	     /* the value of each entry; offsets into the entry */
	const char *const *defaults; /* map: key, value text pairs, NULL-terminated */
};

struct key {
	const char *name; /* NULL ends a table */
	enum ktype type;
	unsigned flags;
	size_t off, off2;
	const char *def;	       /* default as written in a file; NULL: empty / zero */
	int64_t min, max;	       /* K_INT; K_DUR in ms */
	double fmin, fmax;	       /* K_FLOAT, K_OPTFLOAT */
	int scope;		       /* K_SECTION: only used when tracker.provider is this */
	const struct enum_name *names; /* K_ENUM */
	const struct key *sub;	       /* K_SECTION */
	const struct coll *coll;       /* K_MAP, K_LIST */
	check_fn check;		       /* K_STR, and each item of a K_STRLIST */
	/* Not used by any code yet: the feature that will use it. The key is accepted and
	 * validated now; `config check` says so (dump.c). Drop it when the feature
	 * lands. */
	const char *later;
};

union val {
	char *s;
	bool b;
	int64_t i;
	double f;
	int e;
};

struct pos {
	int line, col; /* 1-based */
};

/* ---- writing tables ---- */

#define C(f) offsetof(struct config, f)

/* The fields of one row, without braces, so that a row can be extended (KLATER). */
#define KF_STR(n, o, d, fl, chk)                                                                   \
	.name = n, .type = K_STR, .off = o, .def = d, .flags = fl, .check = chk
#define KF_BOOL(n, o, d)	.name = n, .type = K_BOOL, .off = o, .def = d
#define KF_INT(n, o, d, lo, hi) .name = n, .type = K_INT, .off = o, .def = d, .min = lo, .max = hi
#define KF_DUR(n, o, d, lo, hi, fl)                                                                \
	.name = n, .type = K_DUR, .off = o, .def = d, .min = lo, .max = hi, .flags = fl
#define KF_FLOAT(n, o, d, lo, hi)                                                                  \
	.name = n, .type = K_FLOAT, .off = o, .def = d, .fmin = lo, .fmax = hi
#define KF_THRESH(n, o, lo, hi) .name = n, .type = K_OPTFLOAT, .off = o, .fmin = lo, .fmax = hi
#define KF_ENUM(n, o, d, nm)	.name = n, .type = K_ENUM, .off = o, .def = d, .names = nm
#define KF_STRLIST(n, o, o2, fl, chk)                                                              \
	.name = n, .type = K_STRLIST, .off = o, .off2 = o2, .flags = fl, .check = chk
#define KF_SECTION(n, s, fl, sc)                                                                   \
	.name = n, .type = K_SECTION, .off = SIZE_MAX, .sub = s, .flags = fl, .scope = sc
#define KF_MAP(n, o, o2, co)  .name = n, .type = K_MAP, .off = o, .off2 = o2, .coll = co
#define KF_LIST(n, o, o2, co) .name = n, .type = K_LIST, .off = o, .off2 = o2, .coll = co

/* One row of a table: KSTR("name", C(field), "default", flags, check), ... */
#define KROW(...)                                                                                  \
	{                                                                                          \
		__VA_ARGS__                                                                        \
	}
#define KSTR(...)     KROW(KF_STR(__VA_ARGS__))
#define KBOOL(...)    KROW(KF_BOOL(__VA_ARGS__))
#define KINT(...)     KROW(KF_INT(__VA_ARGS__))
#define KDUR(...)     KROW(KF_DUR(__VA_ARGS__))
#define KFLOAT(...)   KROW(KF_FLOAT(__VA_ARGS__))
#define KTHRESH(...)  KROW(KF_THRESH(__VA_ARGS__))
#define KENUM(...)    KROW(KF_ENUM(__VA_ARGS__))
#define KSTRLIST(...) KROW(KF_STRLIST(__VA_ARGS__))
#define KSECTION(...) KROW(KF_SECTION(__VA_ARGS__))
#define KMAP(...)     KROW(KF_MAP(__VA_ARGS__))
#define KLIST(...)    KROW(KF_LIST(__VA_ARGS__))
#define KEND	      KROW(.name = NULL)

/* A row no code uses yet, e.g.
 * KLATER(KF_BOOL("web", C(server.web), "true"), "the web dashboard"). */
#define KLATER(fields, feature) KROW(fields, .later = feature)

/* ---- reaching a key's field ---- */

static inline void *at(const void *base, size_t off)
{
	return (char *)base + off;
}

/* Array fields have different pointer types; go through memcpy rather than pun. */
static inline void *get_ptr(const void *base, size_t off)
{
	void *p;
	memcpy(&p, at(base, off), sizeof p);
	return p;
}

static inline void set_ptr(void *base, size_t off, void *p)
{
	memcpy(at(base, off), &p, sizeof p);
}

static inline size_t *count_of(const void *base, const struct key *k)
{
	return at(base, k->off2);
}

static inline bool is_scalar_type(enum ktype t)
{
	return t != K_STRLIST && t != K_SECTION && t != K_MAP && t != K_LIST;
}

/* The alphabet of ${NAME}, also used for names that must look like identifiers. */
static inline bool ident_start(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static inline bool ident_char(char c)
{
	return ident_start(c) || (c >= '0' && c <= '9');
}

/* ---- values (value.c) ---- */

/* text → value for any scalar key type, with bounds and, for strings, the generic flags
 * and the key's check. dir: where relative paths resolve. Returns 0 (v owns any string
 * it holds), or -1 with the reason in why (no position, no key name). */
int cfg_parse_value(const char *dir, const struct key *k, const char *text, union val *v,
		    struct buf *why);

/* The generic string rules of k's flags, then k's own check, on a string the caller
 * owns: *s may be replaced. Returns 0, or -1 with the reason in why. */
int cfg_finish_string(const char *dir, const struct key *k, char **s, struct buf *why);

/* Store a value from cfg_parse_value into k's field of base; takes v's string. */
void cfg_store_value(const struct key *k, void *base, union val *v);

/* Fill the keys' fields with their defaults (zero: with empty/zero values instead; a
 * section written in the file replaces its defaults that way). Assumes the fields hold
 * nothing that needs freeing. A bad default in a table aborts: it is a bug. */
void cfg_apply_defaults(const char *dir, const struct key *keys, void *base, bool zero);
void cfg_apply_default(const char *dir, const struct key *k, void *base, bool zero);

/* Free what the keys' fields own and leave them empty (NULL, count 0). */
void cfg_free_keys(const struct key *keys, void *base);
void cfg_free_key(const struct key *k, void *base);

/* "expected <what k takes>" wording: "an integer", "one of a, b or c", ... */
void cfg_put_expected(struct buf *b, const struct key *k);

/* The name of value v in names, or "?". */
const char *cfg_enum_label(const struct enum_name *names, int v);

/* A short, quoted, printable echo of a user value for error messages. */
void cfg_put_echo(struct buf *b, const char *s);

/* rel made absolute against dir and cleaned lexically ("//", "/./"; ".." kept).
 * Returns a new string. */
char *cfg_join_path(const char *dir, const char *rel);

/* A copy of URL u with the password of user:password@ replaced by ****. */
char *cfg_mask_url_password(const char *u);

/* A duration in the largest unit that represents ms exactly ("0s" for 0). */
void cfg_put_duration(struct buf *b, int64_t ms);

/* The integer and number syntax of the file (docs/config.md, Types). */
bool cfg_parse_int(const char *s, int64_t *out);
bool cfg_parse_float(const char *s, double *out);

/* ---- the walker (walk.c) ---- */

/* How cfg_walk reads its text: 0 for a file; text the program made from something else
 * (the runtime `tracker` setting, config_load_section_json) takes both. */
enum {
	CFG_WALK_LITERAL = 1u << 0, /* ${VAR} is plain text, never read from the environment */
	CFG_WALK_NO_POS = 1u << 1,  /* messages without "file:line:column: " (positions in
				     * generated text mean nothing to its author) */
};

/* Read YAML text over c, which holds the defaults: c->path names the file in messages,
 * c->dir is where relative paths resolve. Then checks required keys and, when every
 * value is valid, runs cfg_check_across. flags: CFG_WALK_*. Returns 0 (e cleared), or
 * ERR_INVALID with the problems in e->msg as config_load_verbose describes (and all of
 * them in *all when all is not NULL, malloc'd), or ERR_NOMEM. On failure c is
 * half-loaded: free it. */
int cfg_walk(const char *text, size_t len, struct config *c, unsigned flags, struct err *e,
	     char **all);

/* For checks across keys: report a problem with key (a dotted path) at p. */
void cfg_error(struct ctx *x, const char *key, struct pos p, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Where the file wrote the scalar stored at base + off, or fallback when it did not. */
struct pos cfg_pos_of(const struct ctx *x, const void *base, size_t off, struct pos fallback);

#endif
