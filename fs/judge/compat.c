/*
** compat.c -- "will it load?": the environment a model needs, read from its bytes.
**
** Three passes over what the decoder left: the referenced globals (m->globals),
** one bounded walk of the value graph (estimator versions, tree node records,
** pickled code objects, Python-2 strings, call shapes), and the format facts
** (protocol, skops schema).  Every finding that narrows the environment comes from
** a line of data/compat_rules.txt, so the knowledge lives in one table with a
** source per line.  An optional target ("sklearn=1.5,numpy=2.1,python=3.12") turns
** the findings into a verdict; a sidecar "<file>.meta" JSON is merged as the
** declared environment and checked against the bytes.
**
** It must never import, resolve or execute anything, never change the graph, and
** never trust a length or count from the file without a bound from limits.h.
*/
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cjson/cJSON.h>
#include "modelfs/compat.h"
#include "modelfs/data.h"
#include "modelfs/limits.h"
#include "modelfs/steps.h"
#include "modelfs/utf8.h"

/* ---------------------------------------------------------------- versions */

enum { LIB_SKLEARN, LIB_NUMPY, LIB_PYTHON, LIB_SKOPS, LIB_COUNT };
static const char *const lib_names[LIB_COUNT] = {"sklearn", "numpy", "python", "skops"};

#define VER_PARTS 4
typedef struct Ver {
  int n;                   /* components given; 0 = not a version */
  long c[VER_PARTS];
} Ver;

/* "1.4.1.post1" -> 1.4.1; "pre-0.18" -> 0.17.99999 (older than every 0.18). */
static Ver ver_parse(const char *s) {
  Ver v;
  memset(&v, 0, sizeof v);
  if (s == NULL) return v;
  if (strncmp(s, "pre-", 4) == 0) {
    Ver p = ver_parse(s + 4);
    if (p.n >= 2 && p.c[1] > 0) {
      p.c[1]--;
      p.c[2] = 99999;
      p.n = 3;
    }
    return p;
  }
  while (v.n < VER_PARTS && isdigit((unsigned char)*s)) {
    long x = 0;
    while (isdigit((unsigned char)*s)) {
      if (x < 100000000) x = x * 10 + (*s - '0');
      s++;
    }
    v.c[v.n++] = x;
    if (*s != '.' || !isdigit((unsigned char)s[1])) break;
    s++;
  }
  return v;
}

static int ver_cmp(const Ver *a, const Ver *b) {
  for (int i = 0; i < VER_PARTS; i++) {
    long x = i < a->n ? a->c[i] : 0, y = i < b->n ? b->c[i] : 0;
    if (x != y) return x < y ? -1 : 1;
  }
  return 0;
}

/* A target "1.5" stands for every 1.5.x: equal on the components it gives. */
static int ver_matches_target(const Ver *saved, const Ver *target) {
  for (int i = 0; i < target->n; i++) {
    long x = i < saved->n ? saved->c[i] : 0;
    if (x != target->c[i]) return 0;
  }
  return 1;
}

static int lib_lookup(const char *s, size_t n) {
  if (n == 12 && strncmp(s, "scikit-learn", 12) == 0) return LIB_SKLEARN;
  for (int i = 0; i < LIB_COUNT; i++)
    if (strlen(lib_names[i]) == n && strncmp(s, lib_names[i], n) == 0) return i;
  return -1;
}

/* ------------------------------------------------------------------ rules */

typedef enum RuleKind {
  RK_MODULE, RK_GLOBAL, RK_PROTOCOL, RK_SKOPS_PROTOCOL, RK_TREE_NODES, RK_CODE,
  RK_CALLARGS, RK_META, RK_PY2STR, RK_MAIN, RK_VERSION, RK_NOT_ESTIMATOR, RK_COUNT
} RuleKind;

static const char *const kind_names[RK_COUNT] = {
  "module", "global", "protocol", "skops_protocol", "tree_nodes", "code",
  "callargs", "meta", "py2str", "main", "version", "not_estimator"};

#define MAX_REQ 4
typedef struct Req {
  int lib;
  int below;               /* 0: lib >= v, 1: lib < v */
  Ver v;
  char text[24];           /* the version as written */
} Req;

typedef struct Rule {
  RuleKind kind;
  const char *match;
  const char *requires;    /* as written, "-" for none */
  Req req[MAX_REQ];
  int nreq;
  int fails;               /* severity: 1 fails, 0 warns */
  const char *reason;
  const char *source;
} Rule;

typedef struct Rules {
  char *buf;               /* a private copy of the table, cut into fields */
  Rule *r;
  size_t n;
} Rules;

static int parse_requires(Rule *r) {
  r->nreq = 0;
  if (strcmp(r->requires, "-") == 0) return 0;
  const char *p = r->requires;
  while (*p) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    const char *op = p;
    while (op < p + len && *op != '<' && *op != '>') op++;
    if (op >= p + len || r->nreq >= MAX_REQ) return -1;
    Req *q = &r->req[r->nreq];
    q->lib = lib_lookup(p, (size_t)(op - p));
    if (q->lib < 0) return -1;
    if (op[0] == '>' && op[1] == '=') { q->below = 0; op += 2; }
    else if (op[0] == '<') { q->below = 1; op += 1; }
    else return -1;
    size_t vl = (size_t)(p + len - op);
    if (vl == 0 || vl >= sizeof q->text) return -1;
    memcpy(q->text, op, vl);
    q->text[vl] = '\0';
    q->v = ver_parse(q->text);
    if (q->v.n == 0) return -1;
    r->nreq++;
    p = end ? end + 1 : p + len;
  }
  return 0;
}

/* Cut one table line into its six fields; malformed lines are skipped (and
** reported by the unit test that parses the shipped table). */
static int rule_from_line(char *line, Rule *r) {
  char *f[6];
  int n = 0;
  f[n++] = line;
  for (char *p = line; *p && n < 6; p++)
    if (*p == '\t') { *p = '\0'; f[n++] = p + 1; }
  if (n != 6) return -1;
  int k;
  for (k = 0; k < RK_COUNT; k++)
    if (strcmp(f[0], kind_names[k]) == 0) break;
  if (k == RK_COUNT) return -1;
  r->kind = (RuleKind)k;
  r->match = f[1];
  r->requires = f[2];
  r->fails = strcmp(f[3], "fails") == 0;
  r->reason = f[4];
  r->source = f[5];
  if (!r->fails && strcmp(f[3], "warns") != 0 && strcmp(f[3], "-") != 0) return -1;
  return parse_requires(r);
}

static int rules_load(Rules *rs, const char *text, size_t *bad) {
  memset(rs, 0, sizeof *rs);
  *bad = 0;
  rs->buf = strdup(text);
  if (rs->buf == NULL) return -1;
  size_t lines = 1;
  for (const char *p = text; *p; p++) lines += *p == '\n';
  rs->r = calloc(lines, sizeof *rs->r);
  if (rs->r == NULL) return -1;
  char *save = NULL;
  for (char *line = strtok_r(rs->buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    if (line[0] == '#' || line[0] == '\0') continue;
    if (rule_from_line(line, &rs->r[rs->n]) == 0) rs->n++;
    else (*bad)++;
  }
  return 0;
}

static void rules_free(Rules *rs) {
  free(rs->buf);
  free(rs->r);
}

/* ----------------------------------------------------------------- target */

typedef struct Target {
  int given;
  int has[LIB_COUNT];
  Ver v[LIB_COUNT];
  char text[LIB_COUNT][24];
  char error[128];
} Target;

static void target_parse(Target *t, const char *s) {
  memset(t, 0, sizeof *t);
  if (s == NULL) return;
  t->given = 1;
  while (*s) {
    const char *end = strchr(s, ',');
    size_t len = end ? (size_t)(end - s) : strlen(s);
    const char *eq = memchr(s, '=', len);
    if (len == 0) { s = end ? end + 1 : s + len; continue; }
    int lib = eq ? lib_lookup(s, (size_t)(eq - s)) : -1;
    size_t vl = eq ? (size_t)(s + len - eq - 1) : 0;
    if (lib < 0 || vl == 0 || vl >= sizeof t->text[0]) {
      snprintf(t->error, sizeof t->error, "bad target item '%.*s' (want sklearn=V,numpy=V,python=V,skops=V)",
               (int)(len > 60 ? 60 : len), s);
      return;
    }
    memcpy(t->text[lib], eq + 1, vl);
    t->text[lib][vl] = '\0';
    t->v[lib] = ver_parse(t->text[lib]);
    if (t->v[lib].n == 0) {
      snprintf(t->error, sizeof t->error, "bad version '%s' for %s", t->text[lib], lib_names[lib]);
      return;
    }
    t->has[lib] = 1;
    s = end ? end + 1 : s + len;
  }
}

/* A version a user typed: digits and dots only ("1.5", "2.1.3"); compat's own
** reading of saved versions is more lenient ("1.4.1.post1"), a target is not. */
static int ver_strict(const char *s) {
  if (!isdigit((unsigned char)*s)) return 0;
  for (; *s; s++)
    if (!isdigit((unsigned char)*s) && !(*s == '.' && isdigit((unsigned char)s[1]))) return 0;
  return 1;
}

int compat_target_check(const char *target, char *why, size_t n) {
  Target t;
  target_parse(&t, target);
  if (t.error[0] == '\0') {
    for (int lib = 0; lib < LIB_COUNT; lib++)
      if (t.has[lib] && !ver_strict(t.text[lib])) {
        snprintf(t.error, sizeof t.error, "bad version '%s' for %s", t.text[lib], lib_names[lib]);
        break;
      }
  }
  if (t.error[0] == '\0') return 0;
  char *want = strstr(t.error, " (want");   /* the caller names the accepted form */
  if (want) *want = '\0';
  snprintf(why, n, "%s", t.error);
  return -1;
}

/* ------------------------------------------------------------ findings */

typedef struct Hit {
  const Rule *rule;
  const char *evidence;    /* the first thing that matched */
  size_t count;
} Hit;

typedef struct Est {
  const char *cls;
  const char *path;
  const char *version;     /* "pre-0.18" when the state has none */
} Est;

typedef struct Nodes {
  const char *path;
  const char **names;      /* field names in record order */
  size_t nnames;
  int64_t itemsize;        /* -1 when the record size is not known */
  int mgl;                 /* has missing_go_to_left */
} Nodes;

typedef struct Code {
  const char *path;
  const char *producer;
  size_t nargs;
  const char *form;        /* rule match: py311 py310 py38 py30 py2, or "unknown" */
} Code;

#define VEC(T) struct { T *v; size_t n, cap; }

typedef struct Walk {
  Model *m;
  Arena *a;                /* private: strings built here die with the report */
  const Rules *rules;
  uint8_t *seen;           /* bitmap by Value id */
  size_t seen_bits;
  char *path;
  size_t plen, pcap;
  int py2str;
  int cut;                 /* a depth limit stopped the walk somewhere */
  int oom;
  VEC(Hit) hits;
  VEC(Est) ests;
  VEC(Nodes) nodes;
  VEC(Code) codes;
} Walk;

static int vec_grow(void **v, size_t *cap, size_t n, size_t elem) {
  if (n < *cap) return 0;
  size_t nc = *cap ? *cap * 2 : 16;
  void *p = realloc(*v, nc * elem);
  if (p == NULL) return -1;
  *v = p;
  *cap = nc;
  return 0;
}
#define VEC_PUSH(W, vec, item) \
  do { \
    if (vec_grow((void **)&(vec).v, &(vec).cap, (vec).n, sizeof *(vec).v) == 0) (vec).v[(vec).n++] = (item); \
    else (W)->oom = 1; \
  } while (0)

static void hit(Walk *w, const Rule *r, const char *evidence) {
  for (size_t i = 0; i < w->hits.n; i++)
    if (w->hits.v[i].rule == r) { w->hits.v[i].count++; return; }
  Hit h = {r, evidence, 1};
  VEC_PUSH(w, w->hits, h);
}

static const Rule *rule_find(const Rules *rs, RuleKind k, const char *match) {
  for (size_t i = 0; i < rs->n; i++)
    if (rs->r[i].kind == k && strcmp(rs->r[i].match, match) == 0) return &rs->r[i];
  return NULL;
}

/* s equals prefix, or starts with prefix followed by '.'. */
static int dotted_under(const char *s, const char *prefix) {
  size_t n = strlen(prefix);
  return strncmp(s, prefix, n) == 0 && (s[n] == '\0' || s[n] == '.');
}

static const char *wdup(Walk *w, const char *s, size_t n) {
  const char *p = arena_strndup(w->a, s, n);
  if (p == NULL) w->oom = 1;
  return p ? p : "?";
}

static const char *cur_path(Walk *w) {
  return w->plen == 0 ? "." : wdup(w, w->path, w->plen);
}

/* ---------------------------------------------------------------- paths */

/* Append "/label" (escaped as the tree escapes names); returns the old length. */
static size_t path_push(Walk *w, const char *s, size_t n) {
  size_t old = w->plen;
  size_t need = w->plen + 1 + 3 * n + 1;
  if (need > MFS_MAX_COMPAT_PATH) return old;   /* keep the prefix; deep paths are cut */
  if (need > w->pcap) {
    size_t nc = w->pcap ? w->pcap : 256;
    while (nc < need) nc *= 2;
    char *p = realloc(w->path, nc);
    if (p == NULL) { w->oom = 1; return old; }
    w->path = p;
    w->pcap = nc;
  }
  if (w->plen) w->path[w->plen++] = '/';
  if (n == 0) { w->path[w->plen++] = '%'; return old; }
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '%' || c == '/' || c == 0) w->plen += (size_t)sprintf(w->path + w->plen, "%%%02X", c);
    else w->path[w->plen++] = (char)c;
  }
  return old;
}

static size_t path_push_index(Walk *w, size_t i) {
  char b[32];
  int n = snprintf(b, sizeof b, "%zu", i);
  return path_push(w, b, (size_t)n);
}

static size_t path_push_key(Walk *w, const Value *k) {
  if (k && k->kind == VAL_STR) return path_push(w, k->u.str.s, k->u.str.len);
  if (k && k->kind == VAL_BYTES && (k->flags & VF_PY2STR) && k->u.bytes.mem)
    return path_push(w, (const char *)k->u.bytes.mem, (size_t)k->u.bytes.len);
  if (k && k->kind == VAL_INT) {
    char b[32];
    int n = snprintf(b, sizeof b, "%lld", (long long)k->u.i);
    return path_push(w, b, (size_t)n);
  }
  return path_push(w, "?", 1);
}

/* -------------------------------------------------------- graph helpers */

static int key_is(const Value *k, const char *s) {
  size_t n = strlen(s);
  if (k == NULL) return 0;
  if (k->kind == VAL_STR) return k->u.str.len == n && memcmp(k->u.str.s, s, n) == 0;
  if (k->kind == VAL_BYTES && k->u.bytes.mem) return k->u.bytes.len == n && memcmp(k->u.bytes.mem, s, n) == 0;
  return 0;
}

static const Value *dict_find(const Value *d, const char *key) {
  if (d == NULL || d->kind != VAL_DICT) return NULL;
  for (size_t i = 0; i < d->u.dict.n; i++)
    if (key_is(d->u.dict.keys[i], key)) return d->u.dict.vals[i];
  return NULL;
}

/* The dict part of a BUILD state: a dict, or the dict of a (dict, slots) pair. */
static const Value *state_dict(const Object *o) {
  const Value *s = o->state;
  if (s == NULL) return NULL;
  if (s->kind == VAL_DICT) return s;
  if (s->kind == VAL_TUPLE && s->u.seq.n == 2 && s->u.seq.items[0] && s->u.seq.items[0]->kind == VAL_DICT)
    return s->u.seq.items[0];
  return NULL;
}

static const Value *state_get(const Object *o, const char *key) {
  const Value *v = dict_find(state_dict(o), key);
  if (v == NULL && o->state && o->state->kind == VAL_TUPLE && o->state->u.seq.n == 2)
    v = dict_find(o->state->u.seq.items[1], key);
  return v;
}

/* Text of a str (or Python-2 str) value, copied into the walk's arena. */
static const char *text_of(Walk *w, const Value *v) {
  if (v == NULL) return NULL;
  if (v->kind == VAL_STR) return wdup(w, v->u.str.s, v->u.str.len);
  if (v->kind == VAL_BYTES && v->u.bytes.mem && v->u.bytes.len < 256)
    return wdup(w, (const char *)v->u.bytes.mem, (size_t)v->u.bytes.len);
  return NULL;
}

static const Value *tuple_item(const Value *t, size_t i) {
  if (t == NULL || (t->kind != VAL_TUPLE && t->kind != VAL_LIST) || i >= t->u.seq.n) return NULL;
  return t->u.seq.items[i];
}

/* The class an object is an instance of: the callable, or the class that
** copyreg._reconstructor / __newobj__ was handed (protocols 0-1, odd reducers). */
static const Value *obj_class(const Object *o) {
  const Value *c = o->callable;
  if (c == NULL || c->kind != VAL_GLOBAL) return NULL;
  if (value_is_global(c, "copyreg", "_reconstructor") || value_is_global(c, "copyreg", "__newobj__") ||
      value_is_global(c, "copyreg", "__newobj_ex__")) {
    const Value *k = tuple_item(o->args, 0);
    if (k && k->kind == VAL_GLOBAL) return k;
  }
  return c;
}

static const char *dotted(Walk *w, const Value *g) {
  const char *s = global_dotted(w->a, g);
  if (s == NULL) { w->oom = 1; return "?"; }
  return s;
}

static int is_not_estimator(const Walk *w, const char *cls) {
  for (size_t i = 0; i < w->rules->n; i++) {
    const Rule *r = &w->rules->r[i];
    if (r->kind == RK_NOT_ESTIMATOR && dotted_under(cls, r->match)) return 1;
  }
  return 0;
}

/* ------------------------------------------------------ object findings */

static void note_estimator(Walk *w, const Object *o, const char *cls) {
  const Value *sd = state_dict(o);
  if (sd == NULL) return;
  const char *ver = text_of(w, dict_find(sd, "_sklearn_version"));
  if (ver == NULL && is_not_estimator(w, cls)) return;
  Est e = {cls, cur_path(w), ver ? ver : "pre-0.18"};
  VEC_PUSH(w, w->ests, e);
}

/* The dtype of a node array, whatever stage of recognition it reached: a
** VAL_NDARRAY, a raw _reconstruct(...) + BUILD state (1, shape, dtype, ...), a
** protocol-5 _frombuffer(buf, dtype, shape, order), or a joblib wrapper. */
static const Value *array_dtype(const Value *a) {
  if (a == NULL) return NULL;
  if (a->kind == VAL_NDARRAY) return a->u.arr->dtype;
  if (a->kind != VAL_OBJECT) return NULL;
  const Object *o = a->u.obj;
  const Value *c = o->callable;
  if (c && c->kind == VAL_GLOBAL && c->u.global.name && strcmp(c->u.global.name, "_frombuffer") == 0)
    return tuple_item(o->args, 1);
  const Value *d = dict_find(o->state, "dtype");           /* joblib NumpyArrayWrapper */
  if (d) return d;
  if (o->state && o->state->kind == VAL_TUPLE && o->state->u.seq.n >= 5) return tuple_item(o->state, 2);
  return NULL;
}

/* Field names and itemsize of a structured dtype: a VAL_DTYPE, or the raw
** numpy.dtype('V56') object whose BUILD state is (3, '|', None, names, fields, 56, ...). */
static int dtype_fields(Walk *w, const Value *dt, Nodes *n) {
  if (dt == NULL) return 0;
  if (dt->kind == VAL_DTYPE) {
    const Dtype *d = dt->u.dtype;
    if (d->nfields == 0) return 0;
    n->names = arena_alloc(w->a, d->nfields * sizeof *n->names);
    if (n->names == NULL) { w->oom = 1; return 0; }
    for (size_t i = 0; i < d->nfields; i++) n->names[i] = d->fields[i].name ? d->fields[i].name : "";
    n->nnames = d->nfields;
    n->itemsize = (int64_t)d->itemsize;
    return 1;
  }
  if (dt->kind != VAL_OBJECT || dt->u.obj->state == NULL) return 0;
  const Value *st = dt->u.obj->state, *names = tuple_item(st, 3), *size = tuple_item(st, 5);
  if (names == NULL || names->kind != VAL_TUPLE || names->u.seq.n == 0) return 0;
  n->names = arena_alloc(w->a, names->u.seq.n * sizeof *n->names);
  if (n->names == NULL) { w->oom = 1; return 0; }
  for (size_t i = 0; i < names->u.seq.n; i++) {
    const char *t = text_of(w, names->u.seq.items[i]);
    n->names[i] = t ? t : "";
  }
  n->nnames = names->u.seq.n;
  n->itemsize = size && size->kind == VAL_INT ? size->u.i : -1;
  return 1;
}

static void note_tree(Walk *w, const Object *o) {
  Nodes n;
  memset(&n, 0, sizeof n);
  if (!dtype_fields(w, array_dtype(state_get(o, "nodes")), &n)) return;
  for (size_t i = 0; i < n.nnames; i++) n.mgl |= strcmp(n.names[i], "missing_go_to_left") == 0;
  size_t old = path_push(w, "nodes", 5);
  n.path = cur_path(w);
  w->plen = old;
  VEC_PUSH(w, w->nodes, n);
  const Rule *r = rule_find(w->rules, RK_TREE_NODES, n.mgl ? "with_missing_go_to_left" : "without_missing_go_to_left");
  if (r) hit(w, r, n.path);
}

/* The callable makes code objects: types.CodeType itself, or the CodeType that
** cloudpickle's _builtin_type / dill's _load_type hand back.  Returns the producer. */
static const char *code_factory(const Value *c, int *dill_create) {
  *dill_create = 0;
  if (c == NULL) return NULL;
  if (c->kind == VAL_GLOBAL) {
    if (value_is_global(c, "types", "CodeType")) return "python";
    if (value_is_global(c, "dill._dill", "_create_code") || value_is_global(c, "dill.dill", "_create_code")) {
      *dill_create = 1;
      return "dill";
    }
    return NULL;
  }
  if (c->kind != VAL_OBJECT || c->u.obj->callable == NULL) return NULL;
  const Value *f = c->u.obj->callable;
  const Value *a0 = tuple_item(c->u.obj->args, 0);
  if (!key_is(a0, "CodeType")) return NULL;
  if (value_is_global(f, "cloudpickle.cloudpickle", "_builtin_type") ||
      value_is_global(f, "cloudpickle.cloudpickle_fast", "_builtin_type")) return "cloudpickle";
  if (value_is_global(f, "dill._dill", "_load_type") || value_is_global(f, "dill.dill", "_load_type")) return "dill";
  return NULL;
}

/* Python 3.10's co_linetable covers the whole bytecode (its byte deltas sum to
** len(co_code)); 3.8/3.9's co_lnotab stops at the last line start. */
static int is_linetable(const Value *code, const Value *table) {
  if (code == NULL || table == NULL || code->kind != VAL_BYTES || table->kind != VAL_BYTES) return 0;
  uint64_t n = table->u.bytes.len;
  if (n == 0 || n > MFS_MAX_COMPAT_LINETABLE) return 0;
  uint8_t *buf = malloc((size_t)n);
  if (buf == NULL) return 0;
  Err e;
  err_clear(&e);
  uint64_t sum = 0;
  int ok = blob_read(&table->u.bytes, 0, buf, (size_t)n, &e) == MFS_OK;
  for (uint64_t i = 0; ok && i < n; i += 2) sum += buf[i];
  free(buf);
  return ok && sum == code->u.bytes.len;
}

static void note_code(Walk *w, const Object *o) {
  int dill_create;
  const char *producer = code_factory(o->callable, &dill_create);
  if (producer == NULL || o->args == NULL || o->args->kind != VAL_TUPLE) return;
  size_t n = o->args->u.seq.n, off = 0;
  const char *form = "unknown";
  /* dill >= 0.3.6 puts co_lnotab first for the 3.10+ layouts. */
  if (dill_create && n > 0 && tuple_item(o->args, 0)->kind == VAL_BYTES) { off = 1; n--; }
  if (n == 18 || (dill_create && off && n == 20)) form = "py311";
  else if (n == 16 && off) form = "py310";
  else if (n == 16) form = is_linetable(tuple_item(o->args, off + 6), tuple_item(o->args, off + 13)) ? "py310" : "py38";
  else if (n == 15) form = "py30";
  else if (n == 14) form = "py2";
  Code c = {cur_path(w), producer, o->args->u.seq.n, form};
  VEC_PUSH(w, w->codes, c);
  const Rule *r = rule_find(w->rules, RK_CODE, form);
  if (r) hit(w, r, c.path);
}

static void note_callargs(Walk *w, const Object *o) {
  if (o->callable == NULL || o->callable->kind != VAL_GLOBAL) return;
  size_t n = o->args && o->args->kind == VAL_TUPLE ? o->args->u.seq.n : 0;
  const char *name = NULL;
  for (size_t i = 0; i < w->rules->n; i++) {
    const Rule *r = &w->rules->r[i];
    if (r->kind != RK_CALLARGS) continue;
    if (name == NULL) name = dotted(w, o->callable);
    const char *slash = strrchr(r->match, '/');
    if (slash == NULL || (size_t)(slash - r->match) != strlen(name)) continue;
    if (strncmp(r->match, name, strlen(name)) == 0 && strtoul(slash + 1, NULL, 10) == n)
      hit(w, r, cur_path(w));
  }
}

static void note_object(Walk *w, const Object *o) {
  const Value *cls = obj_class(o);
  if (cls) {
    const char *name = dotted(w, cls);
    if (dotted_under(name, "sklearn")) note_estimator(w, o, name);
    if (strcmp(name, "sklearn.tree._tree.Tree") == 0) note_tree(w, o);
  }
  note_code(w, o);
  note_callargs(w, o);
}

/* ----------------------------------------------------------------- walk */

static int seen_before(Walk *w, const Value *v) {
  if (v->id == 0 || v->id >= w->seen_bits) return 0;   /* hand-built or foreign: no dedup */
  uint8_t bit = (uint8_t)(1u << (v->id & 7));
  if (w->seen[v->id >> 3] & bit) return 1;
  w->seen[v->id >> 3] |= bit;
  return 0;
}

static void walk(Walk *w, const Value *v, int depth);

static void walk_child(Walk *w, const Value *v, size_t old, int depth) {
  walk(w, v, depth + 1);
  w->plen = old;
}

static void walk_dict_entries(Walk *w, const Value *d, int depth) {
  for (size_t i = 0; i < d->u.dict.n; i++) {
    const Value *k = d->u.dict.keys[i];
    if (k && k->kind == VAL_BYTES && (k->flags & VF_PY2STR)) w->py2str = 1;
    walk_child(w, d->u.dict.vals[i], path_push_key(w, k), depth);
  }
}

static void walk_object(Walk *w, const Object *o, int depth) {
  note_object(w, o);
  if (o->callable && o->callable->kind != VAL_GLOBAL)
    walk_child(w, o->callable, path_push(w, "__callable__", 12), depth);
  if (o->args) walk_child(w, o->args, path_push(w, "__args__", 8), depth);
  if (o->kwargs) walk_child(w, o->kwargs, path_push(w, "__kwargs__", 10), depth);
  const Value *s = o->state;
  if (s && s->kind == VAL_DICT) {
    walk_dict_entries(w, s, depth);
  } else if (s && s->kind == VAL_TUPLE && s->u.seq.n == 2 && s->u.seq.items[0] &&
             s->u.seq.items[0]->kind == VAL_DICT) {
    walk_dict_entries(w, s->u.seq.items[0], depth);
    if (s->u.seq.items[1] && s->u.seq.items[1]->kind == VAL_DICT) walk_dict_entries(w, s->u.seq.items[1], depth);
  } else if (s) {
    walk_child(w, s, path_push(w, "__state__", 9), depth);
  }
  if (o->items) walk_child(w, o->items, path_push(w, "__items__", 9), depth);
  if (o->dictitems) walk_child(w, o->dictitems, path_push(w, "__dictitems__", 13), depth);
}

static void walk(Walk *w, const Value *v, int depth) {
  if (v == NULL || w->oom) return;
  if (v->kind == VAL_BYTES) {
    if (v->flags & VF_PY2STR) w->py2str = 1;
    return;
  }
  if (v->kind != VAL_LIST && v->kind != VAL_TUPLE && v->kind != VAL_SET && v->kind != VAL_FROZENSET &&
      v->kind != VAL_DICT && v->kind != VAL_OBJECT && v->kind != VAL_NDARRAY && v->kind != VAL_SCALAR)
    return;
  if (seen_before(w, v)) return;
  if (depth >= MFS_MAX_DEPTH) { w->cut = 1; return; }
  switch (v->kind) {
  case VAL_DICT:
    walk_dict_entries(w, v, depth);
    break;
  case VAL_OBJECT:
    walk_object(w, v->u.obj, depth);
    break;
  case VAL_NDARRAY:
    if (v->u.arr->objects) walk_child(w, v->u.arr->objects, w->plen, depth);
    break;
  case VAL_SCALAR:
    if (v->u.scalar->object) walk_child(w, v->u.scalar->object, w->plen, depth);
    break;
  default:
    if (steps_named(v)) {   /* named by step, as the tree names them */
      for (size_t i = 0; i < v->u.seq.n; i++)
        walk_child(w, v->u.seq.items[i], path_push_key(w, v->u.seq.items[i]->u.seq.items[0]), depth);
      break;
    }
    for (size_t i = 0; i < v->u.seq.n; i++) walk_child(w, v->u.seq.items[i], path_push_index(w, i), depth);
    break;
  }
}

/* -------------------------------------------------------------- globals */

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A referenced global and its dotted name; sorted by name (first member). */
typedef struct GName {
  const char *name;
  const Value *g;
} GName;

/* Sorted, unique "module.qualname" of every referenced global, with one Value each. */
static GName *unique_globals(Walk *w, size_t *count) {
  const Value *g = w->m->globals;
  *count = 0;
  if (g == NULL || g->kind != VAL_LIST || g->u.seq.n == 0) return NULL;
  GName *out = arena_alloc(w->a, g->u.seq.n * sizeof *out);
  if (out == NULL) { w->oom = 1; return NULL; }
  size_t n = 0;
  for (size_t i = 0; i < g->u.seq.n; i++) {
    const Value *x = g->u.seq.items[i];
    if (x && x->kind == VAL_GLOBAL) { out[n].name = dotted(w, x); out[n].g = x; n++; }
  }
  if (n) qsort(out, n, sizeof *out, cmp_str);
  size_t u = 0;
  for (size_t i = 0; i < n; i++)
    if (u == 0 || strcmp(out[u - 1].name, out[i].name) != 0) out[u++] = out[i];
  *count = u;
  return out;
}

static void check_global(Walk *w, const Value *g, const char *name) {
  const Rule *best = NULL;
  size_t best_len = 0;
  for (size_t i = 0; i < w->rules->n; i++) {
    const Rule *r = &w->rules->r[i];
    size_t ml = strlen(r->match);
    if (r->kind == RK_MODULE && dotted_under(g->u.global.module, r->match) && ml > best_len) {
      best = r;
      best_len = ml;
    } else if (r->kind == RK_GLOBAL && strcmp(name, r->match) == 0) {
      hit(w, r, name);
    } else if (r->kind == RK_MAIN && dotted_under(g->u.global.module, r->match)) {
      hit(w, r, name);
    }
  }
  if (best) hit(w, best, name);
}

/* One pass per distinct name: a forest repeats the same few globals thousands of times. */
static void check_globals(Walk *w, const GName *names, size_t n) {
  for (size_t u = 0; u < n; u++) check_global(w, names[u].g, names[u].name);
}

/* ------------------------------------------------------- format facts */

static int truthy(const Value *v) {
  if (v == NULL) return 0;
  switch (v->kind) {
  case VAL_BOOL: return v->u.b != 0;
  case VAL_INT: return v->u.i != 0;
  case VAL_STR: return v->u.str.len > 0;
  case VAL_NONE: return 0;
  default: return 1;
  }
}

static int is_skops(const Model *m) { return m->format && strcmp(m->format, "skops") == 0; }

static void check_format(Walk *w) {
  char num[32], ev[64];
  snprintf(num, sizeof num, "%d", w->m->protocol);
  const Rule *r = rule_find(w->rules, is_skops(w->m) ? RK_SKOPS_PROTOCOL : RK_PROTOCOL, num);
  if (r) {
    snprintf(ev, sizeof ev, is_skops(w->m) ? "schema protocol %d" : "PROTO %d", w->m->protocol);
    hit(w, r, wdup(w, ev, strlen(ev)));
  }
  for (size_t i = 0; i < w->rules->n; i++) {
    const Rule *m = &w->rules->r[i];
    if (m->kind == RK_META && truthy(dict_find(w->m->meta_extra, m->match))) hit(w, m, m->match);
  }
  if (w->py2str && (r = rule_find(w->rules, RK_PY2STR, "-")) != NULL) hit(w, r, "Python-2 str values");
}

/* --------------------------------------------------------------- JSON out */

typedef struct Buf {
  char *p;
  size_t n, cap;
  int oom;
} Buf;

static void buf_put(Buf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->n + n + 1 > b->cap) {
    size_t nc = b->cap ? b->cap : 1024;
    while (nc < b->n + n + 1) nc *= 2;
    char *p = realloc(b->p, nc);
    if (p == NULL) { b->oom = 1; return; }
    b->p = p;
    b->cap = nc;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = '\0';
}
static void buf_puts(Buf *b, const char *s) { buf_put(b, s, strlen(s)); }

static void buf_indent(Buf *b, int level) {
  buf_put(b, "\n", 1);
  for (int i = 0; i < level; i++) buf_put(b, "  ", 2);
}

/* As every JSON file modelfs writes (SPEC 4): UTF-8 as itself. */
static void buf_json_string(Buf *b, const char *str) {
  size_t n = strlen(str);
  char *out = n < SIZE_MAX / 8 ? malloc(UTF8_JSON_ROOM(n)) : NULL;
  if (out == NULL) { b->oom = 1; return; }
  buf_put(b, out, utf8_json_quote(out, str, n));
  free(out);
}

static int cmp_item_key(const void *a, const void *b) {
  return strcmp((*(cJSON *const *)a)->string, (*(cJSON *const *)b)->string);
}

/* Sorted keys, 2-space indent (json.dumps(indent=2, sort_keys=True)).  Depth is
** bounded by the shapes this file builds (plus a sidecar cJSON already bounded). */
static void buf_json(Buf *b, const cJSON *j, int level) {
  char num[64];
  if (cJSON_IsObject(j) || cJSON_IsArray(j)) {
    int obj = cJSON_IsObject(j);
    size_t n = 0;
    for (const cJSON *c = j->child; c; c = c->next) n++;
    if (n == 0 || level >= MFS_MAX_JSON_DEPTH) { buf_puts(b, obj ? "{}" : "[]"); return; }
    cJSON **items = malloc(n * sizeof *items);
    if (items == NULL) { b->oom = 1; return; }
    n = 0;
    for (cJSON *c = j->child; c; c = c->next) items[n++] = c;
    if (obj) qsort(items, n, sizeof *items, cmp_item_key);
    buf_puts(b, obj ? "{" : "[");
    for (size_t i = 0; i < n; i++) {
      buf_indent(b, level + 1);
      if (obj) { buf_json_string(b, items[i]->string); buf_puts(b, ": "); }
      buf_json(b, items[i], level + 1);
      if (i + 1 < n) buf_puts(b, ",");
    }
    free(items);
    buf_indent(b, level);
    buf_puts(b, obj ? "}" : "]");
  } else if (cJSON_IsString(j)) {
    buf_json_string(b, j->valuestring ? j->valuestring : "");
  } else if (cJSON_IsNumber(j)) {
    double d = j->valuedouble;
    if (d == (double)(long long)d && d > -9e15 && d < 9e15) snprintf(num, sizeof num, "%lld", (long long)d);
    else snprintf(num, sizeof num, "%.17g", d);
    buf_puts(b, num);
  } else if (cJSON_IsBool(j)) {
    buf_puts(b, cJSON_IsTrue(j) ? "true" : "false");
  } else {
    buf_puts(b, "null");
  }
}

/* ------------------------------------------------------------- verdict */

typedef struct Range {
  Ver min, below;
  const char *min_text, *below_text;
} Range;

static void add_str(cJSON *o, const char *k, const char *v) {
  if (v) cJSON_AddStringToObject(o, k, v);
  else cJSON_AddNullToObject(o, k);
}

static cJSON *hit_json(const Hit *h) {
  cJSON *o = cJSON_CreateObject();
  if (o == NULL) return NULL;
  cJSON_AddNumberToObject(o, "count", (double)h->count);
  add_str(o, "evidence", h->evidence);
  add_str(o, "kind", kind_names[h->rule->kind]);
  add_str(o, "match", h->rule->match);
  add_str(o, "reason", h->rule->reason);
  add_str(o, "requires", h->rule->requires);
  add_str(o, "severity", h->rule->fails ? "fails" : "warns");
  add_str(o, "source", h->rule->source);
  return o;
}

static void ranges_from_hits(const Walk *w, Range *rg) {
  memset(rg, 0, LIB_COUNT * sizeof *rg);
  for (size_t i = 0; i < w->hits.n; i++) {
    const Rule *r = w->hits.v[i].rule;
    for (int q = 0; q < r->nreq; q++) {
      const Req *x = &r->req[q];
      Range *g = &rg[x->lib];
      if (!x->below && (g->min_text == NULL || ver_cmp(&x->v, &g->min) > 0)) { g->min = x->v; g->min_text = x->text; }
      if (x->below && (g->below_text == NULL || ver_cmp(&x->v, &g->below) < 0)) { g->below = x->v; g->below_text = x->text; }
    }
  }
}

static cJSON *ranges_json(const Range *rg) {
  cJSON *o = cJSON_CreateObject();
  for (int l = 0; o && l < LIB_COUNT; l++) {
    if (rg[l].min_text == NULL && rg[l].below_text == NULL) continue;
    cJSON *x = cJSON_AddObjectToObject(o, lib_names[l]);
    if (x == NULL) continue;
    add_str(x, "min", rg[l].min_text);
    add_str(x, "below", rg[l].below_text);
    if (rg[l].min_text && rg[l].below_text && ver_cmp(&rg[l].min, &rg[l].below) >= 0)
      cJSON_AddBoolToObject(x, "conflict", 1);
  }
  return o;
}

static void reason_add(cJSON *reasons, int fails, const char *text, const char *evidence, const char *source) {
  cJSON *o = cJSON_CreateObject();
  if (o == NULL) return;
  add_str(o, "evidence", evidence);
  add_str(o, "reason", text);
  add_str(o, "severity", fails ? "fails" : "warns");
  add_str(o, "source", source);
  cJSON_AddItemToArray(reasons, o);
}

/* Judge every finding against the target; returns the worst severity (0 loads,
** 1 warns, 2 fails) and fills reasons / unchecked. */
static int judge(const Walk *w, const Target *t, cJSON *reasons, cJSON *unchecked) {
  int worst = 0;
  char text[1024];
  for (size_t i = 0; i < w->hits.n; i++) {
    const Rule *r = w->hits.v[i].rule;
    int broken = r->nreq == 0 && r->kind != RK_VERSION;
    for (int q = 0; q < r->nreq; q++) {
      const Req *x = &r->req[q];
      if (!t->has[x->lib]) {
        snprintf(text, sizeof text, "%s%s%s", lib_names[x->lib], x->below ? "<" : ">=", x->text);
        cJSON *s = cJSON_CreateString(text);
        int dup = 0;
        for (cJSON *c = unchecked->child; c && s; c = c->next) dup |= strcmp(c->valuestring, text) == 0;
        if (dup || s == NULL) cJSON_Delete(s);
        else cJSON_AddItemToArray(unchecked, s);
        continue;
      }
      int c = ver_cmp(&t->v[x->lib], &x->v);
      if (x->below ? c >= 0 : c < 0) broken = 1;
    }
    if (!broken) continue;
    if (r->nreq) snprintf(text, sizeof text, "%s (needs %s)", r->reason, r->requires);
    else snprintf(text, sizeof text, "%s", r->reason);
    reason_add(reasons, r->fails, text, w->hits.v[i].evidence, r->source);
    if ((r->fails ? 2 : 1) > worst) worst = r->fails ? 2 : 1;
  }
  const Rule *vr = rule_find(w->rules, RK_VERSION, "-");
  if (vr == NULL || !t->has[LIB_SKLEARN]) return worst;
  /* One reason per distinct saving version, naming its first estimator. */
  for (size_t i = 0; i < w->ests.n; i++) {
    int first = 1;
    for (size_t j = 0; j < i; j++) first &= strcmp(w->ests.v[j].version, w->ests.v[i].version) != 0;
    Ver v = ver_parse(w->ests.v[i].version);
    if (!first || ver_matches_target(&v, &t->v[LIB_SKLEARN])) continue;
    size_t same = 0;
    for (size_t j = 0; j < w->ests.n; j++) same += strcmp(w->ests.v[j].version, w->ests.v[i].version) == 0;
    snprintf(text, sizeof text, "%s saved by scikit-learn %s, loaded by %s (%zu estimator%s)%s: %s",
             w->ests.v[i].cls, w->ests.v[i].version, t->text[LIB_SKLEARN], same, same == 1 ? "" : "s",
             ver_cmp(&v, &t->v[LIB_SKLEARN]) > 0 ? "; the file is newer than the target, which is never supported" : "",
             vr->reason);
    reason_add(reasons, vr->fails, text, w->ests.v[i].path, vr->source);
    if ((vr->fails ? 2 : 1) > worst) worst = vr->fails ? 2 : 1;
  }
  return worst;
}

/* ---------------------------------------------------------------- sidecar */

static cJSON *sidecar_read(const char *path, char *err, size_t errn) {
  FILE *f = fopen(path, "rb");
  err[0] = '\0';
  if (f == NULL) return NULL;
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)MFS_MAX_COMPAT_META) {
    snprintf(err, errn, "sidecar is not a regular file of at most %u bytes", (unsigned)MFS_MAX_COMPAT_META);
    fclose(f);
    return NULL;
  }
  size_t n = (size_t)st.st_size;
  char *text = malloc(n + 1);
  if (text == NULL) { fclose(f); snprintf(err, errn, "out of memory"); return NULL; }
  size_t got = fread(text, 1, n, f);
  fclose(f);
  text[got] = '\0';
  cJSON *j = cJSON_ParseWithLength(text, got);
  free(text);
  if (j == NULL || !cJSON_IsObject(j)) {
    snprintf(err, errn, "sidecar is not a JSON object");
    cJSON_Delete(j);
    return NULL;
  }
  return j;
}

/* The declared version of lib, from the usual spellings of the key. */
static const char *declared_version(const cJSON *d, int lib) {
  static const char *const keys[LIB_COUNT][4] = {
    {"sklearn", "sklearn_version", "scikit-learn", "scikit_learn"},
    {"numpy", "numpy_version", NULL, NULL},
    {"python", "python_version", NULL, NULL},
    {"skops", "skops_version", NULL, NULL}};
  for (int i = 0; i < 4 && keys[lib][i]; i++) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(d, keys[lib][i]);
    if (cJSON_IsString(v) && v->valuestring[0]) return v->valuestring;
  }
  const cJSON *env = cJSON_GetObjectItemCaseSensitive(d, "environment");
  return cJSON_IsObject(env) ? declared_version(env, lib) : NULL;
}

static void disagree(cJSON *list, const char *key, const char *declared, const char *found, const char *why) {
  cJSON *o = cJSON_CreateObject();
  if (o == NULL) return;
  add_str(o, "declared", declared);
  add_str(o, "found", found);
  add_str(o, "key", key);
  add_str(o, "reason", why);
  cJSON_AddItemToArray(list, o);
}

static void sidecar_compare(const Walk *w, const cJSON *d, const Range *rg, const char *numpy_gen, cJSON *list) {
  char why[256], need[64];
  for (int l = 0; l < LIB_COUNT; l++) {
    const char *dv = declared_version(d, l);
    if (dv == NULL) continue;
    Ver v = ver_parse(dv);
    if (l == LIB_SKLEARN && w->ests.n > 0) {
      int any = 0;
      for (size_t i = 0; i < w->ests.n; i++) {
        Ver e = ver_parse(w->ests.v[i].version);
        any |= ver_cmp(&e, &v) == 0 || ver_matches_target(&e, &v);
      }
      if (!any) disagree(list, "sklearn", dv, w->ests.v[0].version, "no estimator in the file was saved by the declared scikit-learn");
    }
    if (l == LIB_NUMPY && numpy_gen && v.n > 0 && (strcmp(numpy_gen, "1") == 0 || strcmp(numpy_gen, "2") == 0) &&
        v.c[0] != atol(numpy_gen)) {
      snprintf(why, sizeof why, "the file uses numpy %s.x module names", numpy_gen);
      disagree(list, "numpy", dv, numpy_gen, why);
    }
    const Range *g = &rg[l];
    int low = g->min_text && ver_cmp(&v, &g->min) < 0;
    int high = g->below_text && ver_cmp(&v, &g->below) >= 0;
    if (low || high) {
      snprintf(need, sizeof need, "%s%s%s%s%s", g->min_text ? ">=" : "", g->min_text ? g->min_text : "",
               g->min_text && g->below_text ? "," : "", g->below_text ? "<" : "", g->below_text ? g->below_text : "");
      snprintf(why, sizeof why, "the bytes need %s %s", lib_names[l], need);
      disagree(list, lib_names[l], dv, need, why);
    }
  }
}

/* ------------------------------------------------------------- assembly */

static const char *numpy_generation(const GName *names, size_t n, const char **evidence) {
  const char *g1 = NULL, *g2 = NULL;
  for (size_t i = 0; i < n; i++) {
    if (!g2 && dotted_under(names[i].name, "numpy._core")) g2 = names[i].name;
    if (!g1 && dotted_under(names[i].name, "numpy.core")) g1 = names[i].name;
  }
  *evidence = g2 ? g2 : g1;
  return g1 && g2 ? "1 and 2" : g2 ? "2" : g1 ? "1" : NULL;
}

static cJSON *modules_json(const GName *gn, size_t n) {
  cJSON *a = cJSON_CreateArray();
  const char *prev = NULL;
  size_t prev_len = 0;
  char buf[256];
  for (size_t i = 0; a && i < n; i++) {
    size_t len = strcspn(gn[i].name, ".");
    if (prev && len == prev_len && strncmp(prev, gn[i].name, len) == 0) continue;
    snprintf(buf, sizeof buf, "%.*s", (int)(len < 255 ? len : 255), gn[i].name);
    /* names are sorted, but "a.b" < "a_c" < "a" prefixes may interleave: dedupe fully. */
    int dup = 0;
    for (cJSON *c = a->child; c; c = c->next) dup |= strcmp(c->valuestring, buf) == 0;
    if (!dup) cJSON_AddItemToArray(a, cJSON_CreateString(buf));
    prev = gn[i].name;
    prev_len = len;
  }
  return a;
}

static cJSON *estimators_json(const Walk *w) {
  cJSON *a = cJSON_CreateArray();
  for (size_t i = 0; a && i < w->ests.n; i++) {
    cJSON *o = cJSON_CreateObject();
    if (o == NULL) break;
    add_str(o, "class", w->ests.v[i].cls);
    add_str(o, "path", w->ests.v[i].path);
    add_str(o, "sklearn_version", w->ests.v[i].version);
    cJSON_AddItemToArray(a, o);
  }
  return a;
}

static cJSON *versions_json(const Walk *w) {
  size_t n = w->ests.n;
  const char **v = n ? malloc(n * sizeof *v) : NULL;
  cJSON *a = cJSON_CreateArray();
  if (n && v == NULL) return a;
  for (size_t i = 0; i < n; i++) v[i] = w->ests.v[i].version;
  if (n) qsort(v, n, sizeof *v, cmp_str);
  for (size_t i = 0; a && i < n; i++)
    if (i == 0 || strcmp(v[i - 1], v[i]) != 0) cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
  free(v);
  return a;
}

static cJSON *nodes_json(const Walk *w) {
  cJSON *a = cJSON_CreateArray();
  for (size_t i = 0; a && i < w->nodes.n; i++) {
    const Nodes *nd = &w->nodes.v[i];
    cJSON *o = cJSON_CreateObject(), *f = cJSON_CreateArray();
    if (o == NULL || f == NULL) { cJSON_Delete(o); cJSON_Delete(f); break; }
    for (size_t k = 0; k < nd->nnames; k++) cJSON_AddItemToArray(f, cJSON_CreateString(nd->names[k]));
    cJSON_AddItemToObject(o, "fields", f);
    if (nd->itemsize >= 0) cJSON_AddNumberToObject(o, "itemsize", (double)nd->itemsize);
    else cJSON_AddNullToObject(o, "itemsize");
    cJSON_AddBoolToObject(o, "missing_go_to_left", w->nodes.v[i].mgl);
    add_str(o, "path", w->nodes.v[i].path);
    cJSON_AddItemToArray(a, o);
  }
  return a;
}

static cJSON *codes_json(const Walk *w) {
  static const struct { const char *form, *python; } py[] = {
    {"py311", ">=3.11"}, {"py310", "3.10"}, {"py38", "3.8-3.9"}, {"py30", "3.0-3.7"}, {"py2", "2.x"}};
  cJSON *a = cJSON_CreateArray();
  for (size_t i = 0; a && i < w->codes.n; i++) {
    const char *python = "unknown";
    for (size_t k = 0; k < sizeof py / sizeof py[0]; k++)
      if (strcmp(py[k].form, w->codes.v[i].form) == 0) python = py[k].python;
    cJSON *o = cJSON_CreateObject();
    if (o == NULL) break;
    cJSON_AddNumberToObject(o, "args", (double)w->codes.v[i].nargs);
    add_str(o, "form", w->codes.v[i].form);
    add_str(o, "path", w->codes.v[i].path);
    add_str(o, "producer", w->codes.v[i].producer);
    add_str(o, "python", python);
    cJSON_AddItemToArray(a, o);
  }
  return a;
}

static const char *const verdict_names[] = {"loads", "loads with warnings", "fails", "unreadable"};

static char *json_finish(cJSON *doc) {
  Buf b = {0};
  buf_json(&b, doc, 0);
  buf_put(&b, "\n", 1);
  cJSON_Delete(doc);
  if (b.oom) { free(b.p); return NULL; }
  return b.p;
}

static void walk_free(Walk *w) {
  free(w->seen);
  free(w->path);
  free(w->hits.v);
  free(w->ests.v);
  free(w->nodes.v);
  free(w->codes.v);
  arena_free(w->a);
}

static void add_sidecar(cJSON *doc, const Walk *w, const Range *rg, const char *numpy_gen) {
  const char *p = w->m->path;
  if (p == NULL || strlen(p) > 4000) return;
  char side[4200], err[160];
  snprintf(side, sizeof side, "%s.meta", p);
  cJSON *d = sidecar_read(side, err, sizeof err);
  if (d == NULL) {
    if (err[0]) add_str(doc, "declared_error", err);
    return;
  }
  cJSON *list = cJSON_CreateArray();
  if (list) sidecar_compare(w, d, rg, numpy_gen, list);
  cJSON_AddItemToObject(doc, "declared", d);
  if (list) cJSON_AddItemToObject(doc, "disagreements", list);
}

static CompatVerdict build(Model *m, const char *target_text, char **out) {
  Walk w;
  Rules rs;
  Target t;
  size_t bad;
  memset(&w, 0, sizeof w);
  *out = NULL;
  if (rules_load(&rs, data_compat_rules, &bad) != 0) { rules_free(&rs); return COMPAT_UNREADABLE; }
  target_parse(&t, target_text);
  w.m = m;
  w.rules = &rs;
  w.a = arena_new();
  w.seen_bits = (size_t)m->vs.next_id + 1;
  w.seen = calloc(w.seen_bits / 8 + 1, 1);
  if (w.a == NULL || w.seen == NULL) { walk_free(&w); rules_free(&rs); return COMPAT_UNREADABLE; }

  size_t nnames;
  const GName *names = unique_globals(&w, &nnames);
  walk(&w, m->root, 0);
  check_globals(&w, names, nnames);
  check_format(&w);
  const char *np_ev, *np_gen = numpy_generation(names, nnames, &np_ev);

  cJSON *doc = cJSON_CreateObject();
  Range rg[LIB_COUNT];
  ranges_from_hits(&w, rg);
  cJSON *checks = cJSON_AddArrayToObject(doc, "checks");
  for (size_t i = 0; checks && i < w.hits.n; i++) cJSON_AddItemToArray(checks, hit_json(&w.hits.v[i]));
  cJSON_AddItemToObject(doc, "code_objects", codes_json(&w));
  cJSON_AddBoolToObject(doc, "complete", m->ok && !w.cut);
  if (!m->ok) add_str(doc, "error", m->err.msg[0] ? m->err.msg : "decode failed");
  cJSON_AddItemToObject(doc, "estimators", estimators_json(&w));
  add_str(doc, "format", m->format);
  cJSON_AddItemToObject(doc, "modules", modules_json(names, nnames));
  cJSON *np = cJSON_AddObjectToObject(doc, "numpy");
  if (np) { add_str(np, "evidence", np_ev); add_str(np, "generation", np_gen); }
  if (is_skops(m)) { cJSON_AddNullToObject(doc, "pickle_protocol"); cJSON_AddNumberToObject(doc, "skops_protocol", m->protocol); }
  else cJSON_AddNumberToObject(doc, "pickle_protocol", m->protocol);
  cJSON_AddItemToObject(doc, "requires", ranges_json(rg));
  const char *root_ver = NULL;
  for (size_t i = 0; i < w.ests.n; i++)
    if (strcmp(w.ests.v[i].path, ".") == 0) root_ver = w.ests.v[i].version;
  add_str(doc, "sklearn_version", root_ver);
  cJSON_AddItemToObject(doc, "sklearn_versions", versions_json(&w));
  cJSON_AddItemToObject(doc, "tree_nodes", nodes_json(&w));
  add_sidecar(doc, &w, rg, np_gen);

  CompatVerdict verdict = COMPAT_NO_TARGET;
  if (t.given) {
    cJSON *tg = cJSON_AddObjectToObject(doc, "target");
    for (int l = 0; tg && l < LIB_COUNT; l++)
      if (t.has[l]) add_str(tg, lib_names[l], t.text[l]);
    cJSON *reasons = cJSON_AddArrayToObject(doc, "reasons");
    cJSON *unchecked = cJSON_AddArrayToObject(doc, "unchecked");
    if (t.error[0]) {
      add_str(doc, "target_error", t.error);
      verdict = COMPAT_NO_TARGET;
    } else if (!m->ok) {
      verdict = COMPAT_UNREADABLE;
      if (reasons) reason_add(reasons, 1, m->err.msg[0] ? m->err.msg : "decode failed", m->path, "modelfs decoder");
    } else if (reasons && unchecked) {
      verdict = (CompatVerdict)judge(&w, &t, reasons, unchecked);
    }
    if (verdict != COMPAT_NO_TARGET) add_str(doc, "verdict", verdict_names[verdict]);
    else cJSON_AddNullToObject(doc, "verdict");
  } else {
    cJSON_AddNullToObject(doc, "target");
    cJSON_AddNullToObject(doc, "verdict");
  }
  if (bad) cJSON_AddNumberToObject(doc, "rules_malformed", (double)bad);
  if (w.oom) cJSON_AddBoolToObject(doc, "out_of_memory", 1);
  walk_free(&w);
  rules_free(&rs);
  *out = json_finish(doc);
  return verdict;
}

CompatVerdict compat_check(Model *m, const char *target, char **json) {
  char *out = NULL;
  CompatVerdict v = m ? build(m, target, &out) : COMPAT_UNREADABLE;
  if (json) *json = out;
  else free(out);
  return v;
}

char *compat_report_json(Model *m, const char *target) {
  char *out = NULL;
  if (m) build(m, target, &out);
  return out ? out : strdup("{\n  \"error\": \"compat report failed\"\n}\n");
}

int compat_rules_check(size_t *count, size_t *malformed) {
  Rules rs;
  int rc = rules_load(&rs, data_compat_rules, malformed);
  *count = rs.n;
  rules_free(&rs);
  return rc;
}
