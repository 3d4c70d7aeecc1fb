/*
** test_render.c -- graphs built by hand, rendered, and every promise of SPEC 2-4
** checked: names, escaping, collisions, links (arrays link .npy and .txt),
** cycles, JSON layouts (compared with Python's json.dumps), meta.json, error
** models, depth limits, lazy .npy reads, threads.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "modelfs/dtype.h"
#include "modelfs/limits.h"
#include "modelfs/npy.h"
#include "modelfs/render.h"
#include "modelfs/trust.h"

static TrustList *trust;

static Model *model_new_test(void) {
  Model *m = calloc(1, sizeof *m);
  err_clear(&m->err);
  m->vs.arena = arena_new();
  m->vs.err = &m->err;
  m->format = "pickle";
  m->compression = "none";
  m->protocol = 4;
  m->size = 1234;
  m->ok = 1;
  m->globals = value_new(&m->vs, VAL_LIST);
  m->meta_extra = value_new(&m->vs, VAL_DICT);
  return m;
}

static void model_free_test(Model *m) {
  arena_free(m->vs.arena);
  free(m);
}

static Value *S(Model *m, const char *s) { return value_str(&m->vs, s, strlen(s)); }
static Value *I(Model *m, int64_t i) { return value_int(&m->vs, i); }

static Value *G(Model *m, const char *mod, const char *name) {
  model_note_global(m, mod, name);
  return value_global(&m->vs, mod, name);
}

static Value *list_of(Model *m, ValueKind k, int n, ...) {
  Value *l = value_new(&m->vs, k);
  va_list ap;
  va_start(ap, n);
  for (int i = 0; i < n; i++) seq_push(&m->vs, l, va_arg(ap, Value *));
  va_end(ap);
  return l;
}

static Value *array_f8(Model *m, int n, const double *data) {
  Value *v = value_new(&m->vs, VAL_NDARRAY);
  NdArray *a = arena_alloc(m->vs.arena, sizeof *a);
  a->dtype = dtype_from_str(&m->vs, "<f8", 0);
  a->ndim = 1;
  a->shape = arena_alloc(m->vs.arena, sizeof(uint64_t));
  a->shape[0] = (uint64_t)n;
  a->data.mem = arena_memdup(m->vs.arena, data, sizeof(double) * (size_t)n);
  a->data.len = sizeof(double) * (size_t)n;
  v->u.arr = a;
  return v;
}

static Value *obj(Model *m, Value *callable, Value *args, Value *state) {
  Value *o = value_object(&m->vs, callable, args, OBJ_NEWOBJ);
  o->u.obj->state = state;
  return o;
}

static char *content(RTree *t, const char *path, size_t *len) {
  const RNode *n = render_path(t, path);
  if (n == NULL) {
    fprintf(stderr, "  missing %s\n", path);
    return NULL;
  }
  Err e;
  err_clear(&e);
  uint64_t size;
  if (render_size(t, n, &size, &e) != MFS_OK) return NULL;
  char *buf = malloc(size + 1);
  size_t got = 0, total = 0;
  /* read in odd-sized pieces to exercise offsets */
  while (total < size) {
    if (render_read(t, n, total, buf + total, 7, &got, &e) != MFS_OK) {
      free(buf);
      return NULL;
    }
    if (got == 0) break;
    total += got;
  }
  buf[total] = '\0';
  if (len) *len = total;
  return buf;
}

static void assert_content(RTree *t, const char *path, const char *want) {
  char *c = content(t, path, NULL);
  if (c == NULL || strcmp(c, want) != 0)
    fprintf(stderr, "  %s: got [%s] want [%s]\n", path, c ? c : "(error)", want);
  assert_non_null(c);
  assert_string_equal(c, want);
  free(c);
}

static void assert_link(RTree *t, const char *path, const char *target) {
  const RNode *n = render_path(t, path);
  if (n == NULL) fprintf(stderr, "  no link %s\n", path);
  assert_non_null(n);
  if (n->kind != RK_LINK || strcmp(n->target, target) != 0)
    fprintf(stderr, "  %s: kind %d target %s want %s\n", path, n->kind,
            n->kind == RK_LINK ? n->target : "-", target);
  assert_int_equal(n->kind, RK_LINK);
  assert_string_equal(n->target, target);
}

static char *listing(RTree *t, const char *path) {
  const RNode *d = render_path(t, path);
  assert_non_null(d);
  assert_int_equal(d->kind, RK_DIR);
  static char buf[1 << 16];
  buf[0] = '\0';
  for (uint32_t i = 0; i < d->nchildren; i++) {
    const RNode *c = render_node(t, d->children[i]);
    if (i) strcat(buf, " ");
    strcat(buf, c->name);
  }
  return buf;
}

/* An estimator-like object exercising most rules. */
static void test_estimator(void **state) {
  (void)state;
  Model *m = model_new_test();
  double d3[3] = {0.1, 1e-05, 1e16};
  Value *arr = array_f8(m, 3, d3);
  Value *inner = obj(m, G(m, "sklearn.tree._tree", "Tree"), list_of(m, VAL_TUPLE, 2, I(m, 4), arr),
                     NULL);
  Value *st_inner = value_new(&m->vs, VAL_DICT);
  dict_put(&m->vs, st_inner, S(m, "values"), arr);
  inner->u.obj->state = st_inner;
  Value *st = value_new(&m->vs, VAL_DICT);
  Value *root = obj(m, G(m, "sklearn.tree._classes", "DecisionTreeClassifier"),
                    value_new(&m->vs, VAL_TUPLE), st);
  G(m, "numpy.core.multiarray", "_reconstruct");
  G(m, "numpy.core.multiarray", "_reconstruct");
  G(m, "mypkg", "Thing");
  dict_put(&m->vs, st, S(m, "criterion"), S(m, "gini"));
  dict_put(&m->vs, st, S(m, "max_depth"), value_none(&m->vs));
  dict_put(&m->vs, st, S(m, "alpha"), value_float(&m->vs, 0.0001));
  dict_put(&m->vs, st, S(m, "tol"), value_float(&m->vs, 1e-5));
  dict_put(&m->vs, st, S(m, "flag"), value_bool(&m->vs, 1));
  dict_put(&m->vs, st, S(m, "z"), value_new(&m->vs, VAL_COMPLEX));
  st->u.dict.vals[st->u.dict.n - 1]->u.c.re = 1;
  st->u.dict.vals[st->u.dict.n - 1]->u.c.im = 2;
  dict_put(&m->vs, st, S(m, "coef_"), arr);
  dict_put(&m->vs, st, S(m, "tree_"), inner);
  dict_put(&m->vs, st, S(m, "names"), list_of(m, VAL_LIST, 3, S(m, "a"), S(m, "b\"q"), value_float(&m->vs, 0.0 / 0.0)));
  dict_put(&m->vs, st, S(m, "empty"), value_new(&m->vs, VAL_DICT));
  dict_put(&m->vs, st, S(m, "empty2"), value_new(&m->vs, VAL_LIST));
  dict_put(&m->vs, st, S(m, "tags"), list_of(m, VAL_SET, 3, S(m, "b"), I(m, 2), S(m, "a")));
  dict_put(&m->vs, st, S(m, "a/b"), I(m, 1));
  dict_put(&m->vs, st, S(m, ""), I(m, 2));
  dict_put(&m->vs, st, S(m, "."), I(m, 3));
  dict_put(&m->vs, st, S(m, ".."), I(m, 4));
  dict_put(&m->vs, st, S(m, "50%"), I(m, 5));
  dict_put(&m->vs, st, S(m, "meta.json"), I(m, 6));
  dict_put(&m->vs, st, S(m, "x.npy"), I(m, 7));
  dict_put(&m->vs, st, S(m, "x"), arr);
  dict_put(&m->vs, st, S(m, "blob"), value_bytes_mem(&m->vs, VAL_BYTES, "\x00\x01\xff", 3));
  dict_put(&m->vs, st, S(m, "fn"), G(m, "numpy.core._multiarray_umath", "log1p"));
  Value *mixed = value_new(&m->vs, VAL_DICT);
  dict_put(&m->vs, mixed, I(m, 3), list_of(m, VAL_LIST, 1, arr));
  dict_put(&m->vs, mixed, list_of(m, VAL_TUPLE, 2, S(m, "a"), I(m, 1)), S(m, "tuplekey"));
  dict_put(&m->vs, mixed, value_float(&m->vs, 0.5), S(m, "floatkey"));
  dict_put(&m->vs, st, S(m, "mixed"), mixed);
  dict_put(&m->vs, st, S(m, "self"), root);
  dict_put(&m->vs, st, S(m, "_sklearn_version"), S(m, "1.2.1"));
  model_set_meta_str(m, "joblib_note", "extra");
  m->root = root;

  RTree *t = render_tree(m, trust);
  assert_non_null(t);
  assert_string_equal(listing(t, ""),
                      "meta.json types.txt untrusted.txt object.json compat.json summary.txt __class__ "
                      "criterion max_depth alpha tol flag z coef_.npy coef_.txt tree_ names.json "
                      "empty.json empty2.json tags.json a%2Fb % %2E %2E%2E 50%25 meta.json~2 x.npy "
                      "x~2.npy x~2.txt blob.bin fn mixed self _sklearn_version");
  /* "x" needs x.npy and x.txt free; x.npy is taken by the scalar, so x~2 */
  assert_content(t, "__class__", "sklearn.tree._classes.DecisionTreeClassifier\n");
  assert_content(t, "criterion", "gini\n");
  assert_content(t, "max_depth", "None\n");
  assert_content(t, "alpha", "0.0001\n");
  assert_content(t, "tol", "1e-05\n");
  assert_content(t, "flag", "True\n");
  assert_content(t, "z", "(1+2j)\n");
  assert_content(t, "fn", "numpy.core._multiarray_umath.log1p\n");
  assert_content(t, "coef_.txt", "0.1\n1e-05\n1e+16\n");
  assert_content(t, "names.json", "[\n  \"a\",\n  \"b\\\"q\",\n  \"nan\"\n]\n");
  assert_content(t, "empty.json", "{}\n");
  assert_content(t, "empty2.json", "[]\n");
  assert_content(t, "tags.json", "[\n  \"a\",\n  \"b\",\n  2\n]\n");
  assert_content(t, "a%2Fb", "1\n");
  assert_content(t, "%", "2\n");
  assert_content(t, "meta.json~2", "6\n");
  size_t bl;
  char *blob = content(t, "blob.bin", &bl);
  assert_int_equal(bl, 3);
  assert_memory_equal(blob, "\x00\x01\xff", 3);
  free(blob);
  /* the tree_ object, its args and its shared array */
  assert_string_equal(listing(t, "tree_"), "__class__ __args__ values.npy values.txt");
  assert_string_equal(listing(t, "tree_/__args__"), "0 1.npy 1.txt");
  assert_link(t, "tree_/__args__/1.npy", "../../coef_.npy");
  assert_link(t, "tree_/__args__/1.txt", "../../coef_.txt");
  assert_link(t, "tree_/values.npy", "../coef_.npy");
  assert_link(t, "self", ".");
  assert_string_equal(listing(t, "mixed"), "3 ('a', 1) 0.5");
  assert_link(t, "mixed/3/0.npy", "../../coef_.npy");
  /* .npy served by offset equals header + data */
  size_t nl;
  char *npy = content(t, "coef_.npy", &nl);
  assert_int_equal(nl, 128 + 24);
  assert_memory_equal(npy + 128, d3, 24);
  assert_memory_equal(npy, "\x93NUMPY\x01\x00\x76\x00{'descr': '<f8'", 25);
  free(npy);
  assert_content(t, "types.txt",
                 "mypkg.Thing\nnumpy.core._multiarray_umath.log1p\nnumpy.core.multiarray._reconstruct\n"
                 "sklearn.tree._classes.DecisionTreeClassifier\nsklearn.tree._tree.Tree\n");
  assert_content(t, "untrusted.txt", "mypkg.Thing\n");
  assert_content(t, "meta.json",
                 "{\n"
                 "  \"array_bytes\": 24,\n"
                 "  \"arrays\": 1,\n"
                 "  \"class\": \"sklearn.tree._classes.DecisionTreeClassifier\",\n"
                 "  \"compression\": \"none\",\n"
                 "  \"format\": \"pickle\",\n"
                 "  \"joblib_note\": \"extra\",\n"
                 "  \"protocol\": 4,\n"
                 "  \"size\": 1234,\n"
                 "  \"sklearn_version\": \"1.2.1\",\n"
                 "  \"status\": \"ok\",\n"
                 "  \"verdict\": \"untrusted\",\n"
                 "  \"verdict_globals\": [\n"
                 "    \"mypkg.Thing\"\n"
                 "  ],\n"
                 "  \"verdict_where\": {\n"   /* only the model's globals list names it */
                 "    \"mypkg.Thing\": []\n"
                 "  }\n"
                 "}\n");
  /* object.json parses, refs point at first places */
  char *oj = content(t, "object.json", NULL);
  assert_non_null(oj);
  cJSON *j = cJSON_Parse(oj);
  assert_non_null(j);
  assert_string_equal(cJSON_GetObjectItem(j, "__class__")->valuestring,
                      "sklearn.tree._classes.DecisionTreeClassifier");
  cJSON *coef = cJSON_GetObjectItem(j, "coef_");
  assert_string_equal(cJSON_GetObjectItem(coef, "__ndarray__")->valuestring, "coef_.npy");
  assert_string_equal(cJSON_GetObjectItem(coef, "dtype")->valuestring, "<f8");
  cJSON *tv = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "tree_"), "values");
  assert_string_equal(cJSON_GetObjectItem(tv, "__ref__")->valuestring, "coef_.npy");
  assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "self"), "__ref__")->valuestring, ".");
  assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "blob"), "__bytes__")->valueint, 3);
  assert_string_equal(cJSON_GetObjectItem(j, "z")->valuestring, "(1+2j)");
  cJSON_Delete(j);
  free(oj);
  render_free(t);
  model_free_test(m);
}

/* Layout identical to Python's json.dumps(indent=2) for nested data. */
static void test_json_layout_vs_python(void **state) {
  (void)state;
  Model *m = model_new_test();
  Value *d = value_new(&m->vs, VAL_DICT);
  dict_put(&m->vs, d, S(m, "k\xc3\xa9y"), value_float(&m->vs, 1e22));
  dict_put(&m->vs, d, I(m, 7), value_float(&m->vs, -0.0));
  dict_put(&m->vs, d, value_none(&m->vs), S(m, "tab\t\x01 \xf0\x9f\x98\x80"));
  dict_put(&m->vs, d, value_bool(&m->vs, 1), I(m, -12345678901234LL));
  m->root = d;
  RTree *t = render_tree(m, trust);
  char *got = content(t, "value.json", NULL);
  assert_non_null(got);
  FILE *f = fopen("/tmp/modelfs_render_json.py", "w");
  fputs("import json,sys\n"
        "d={'k\\u00e9y':1e22,'7':-0.0,'None':'tab\\t\\x01 \\U0001f600','True':-12345678901234}\n"
        "sys.stdout.buffer.write((json.dumps(d,indent=2,ensure_ascii=False)+'\\n').encode())\n", f);
  fclose(f);
  FILE *p = popen("/usr/bin/python3 /tmp/modelfs_render_json.py", "r");
  char want[4096];
  size_t n = fread(want, 1, sizeof want - 1, p);
  want[n] = '\0';
  assert_int_equal(pclose(p), 0);
  assert_string_equal(got, want);
  free(got);
  render_free(t);
  model_free_test(m);
}

static void test_root_forms(void **state) {
  (void)state;
  Model *m = model_new_test();
  double d2[2] = {1.5, -2};
  m->root = array_f8(m, 2, d2);
  RTree *t = render_tree(m, trust);
  assert_string_equal(listing(t, ""),
                      "meta.json types.txt untrusted.txt object.json compat.json summary.txt value.npy value.txt");
  assert_content(t, "value.txt", "1.5\n-2.0\n");
  render_free(t);
  m->root = list_of(m, VAL_LIST, 2, S(m, "x"), S(m, "y"));
  t = render_tree(m, trust);
  assert_content(t, "value.json", "[\n  \"x\",\n  \"y\"\n]\n");
  assert_content(t, "object.json", "[\n  \"x\",\n  \"y\"\n]\n");
  render_free(t);
  m->root = value_float(&m->vs, 0.5);
  t = render_tree(m, trust);
  assert_content(t, "value", "0.5\n");
  render_free(t);
  /* a list of non-scalars: entries in the model directory, shared -> link */
  Value *a = array_f8(m, 2, d2);
  m->root = list_of(m, VAL_LIST, 2, a, a);
  t = render_tree(m, trust);
  assert_string_equal(listing(t, ""), "meta.json types.txt untrusted.txt object.json compat.json summary.txt "
                                      "0.npy 0.txt 1.npy 1.txt");
  assert_link(t, "1.txt", "0.txt");
  assert_content(t, "meta.json",
                 "{\n  \"array_bytes\": 16,\n  \"arrays\": 1,\n  \"class\": \"builtins.list\",\n"
                 "  \"compression\": \"none\",\n  \"format\": \"pickle\",\n  \"protocol\": 4,\n"
                 "  \"size\": 1234,\n  \"sklearn_version\": null,\n  \"status\": \"ok\",\n"
                 "  \"verdict\": \"safe\",\n  \"verdict_globals\": [],\n  \"verdict_where\": {}\n}\n");
  render_free(t);
  model_free_test(m);
}

static void test_error_model(void **state) {
  (void)state;
  Model *m = model_new_test();
  m->ok = 0;
  err_set(&m->err, MFS_ETRUNC, 77, "offset 77: truncated BINUNICODE");
  G(m, "os", "system");
  RTree *t = render_tree(m, trust);
  assert_non_null(t);
  assert_string_equal(listing(t, ""), "meta.json types.txt untrusted.txt object.json compat.json summary.txt");
  char *meta = content(t, "meta.json", NULL);
  assert_non_null(strstr(meta, "\"error\": \"offset 77: truncated BINUNICODE\""));
  assert_non_null(strstr(meta, "\"status\": \"error\""));
  assert_non_null(strstr(meta, "\"verdict\": \"dangerous\""));
  assert_non_null(strstr(meta, "\"verdict_globals\": [\n    \"os.system\"\n  ]"));
  assert_non_null(strstr(meta, "\"class\": null"));
  free(meta);
  assert_content(t, "object.json", "null\n");
  render_free(t);
  /* partial root with an unreadable array: no size, read fails, never bytes */
  Value *l = value_new(&m->vs, VAL_LIST);
  double d1[1] = {1};
  Value *a = array_f8(m, 1, d1);
  a->u.arr->error = "companion file model.pkl_01.npy is missing";
  seq_push(&m->vs, l, a);
  Value *short_arr = array_f8(m, 1, d1);
  short_arr->u.arr->shape[0] = 5;   /* claims more than the blob holds */
  seq_push(&m->vs, l, short_arr);
  seq_push(&m->vs, l, NULL);
  m->root = l;
  t = render_tree(m, trust);
  Err e;
  err_clear(&e);
  uint64_t size;
  const RNode *n = render_path(t, "0.npy");
  /* no size (stat says 0, open fails): not a header that then fails to read */
  assert_int_equal(render_size(t, n, &size, &e), MFS_EIO);
  assert_non_null(strstr(e.msg, "missing"));
  err_clear(&e);
  char buf[512];
  size_t got;
  assert_int_not_equal(render_read(t, n, 0, buf, sizeof buf, &got, &e), MFS_OK);
  assert_non_null(strstr(e.msg, "missing"));
  err_clear(&e);
  assert_int_not_equal(render_read(t, render_path(t, "0.txt"), 0, buf, sizeof buf, &got, &e), MFS_OK);
  err_clear(&e);
  assert_int_not_equal(render_read(t, render_path(t, "1.npy"), 0, buf, sizeof buf, &got, &e), MFS_OK);
  err_clear(&e);
  assert_int_not_equal(render_read(t, render_path(t, "2"), 0, buf, sizeof buf, &got, &e), MFS_OK);
  render_free(t);
  model_free_test(m);
}

/* Hostile shapes: deep nesting, cycles, many equal names. */
static void test_hostile(void **state) {
  (void)state;
  Model *m = model_new_test();
  Value *inner = S(m, "leaf");
  for (int i = 0; i < 200000; i++) inner = list_of(m, VAL_LIST, 2, inner, I(m, i));
  m->root = inner;
  RTree *t = render_tree(m, trust);
  assert_non_null(t);
  char *oj = content(t, "object.json", NULL);
  assert_non_null(oj);
  assert_non_null(strstr(oj, "nesting too deep"));
  free(oj);
  render_free(t);
  /* a list that holds itself */
  Value *cyc = value_new(&m->vs, VAL_LIST);
  seq_push(&m->vs, cyc, cyc);
  seq_push(&m->vs, cyc, list_of(m, VAL_LIST, 1, cyc));
  m->root = cyc;
  t = render_tree(m, trust);
  assert_link(t, "0", ".");
  assert_link(t, "1/0", "..");
  render_free(t);
  /* 20000 keys that all print as <object>-like names */
  Value *d = value_new(&m->vs, VAL_DICT);
  for (int i = 0; i < 20000; i++)
    dict_put(&m->vs, d, value_new(&m->vs, VAL_LIST), list_of(m, VAL_LIST, 1, value_new(&m->vs, VAL_OBJECT)));
  for (size_t i = 0; i < d->u.dict.n; i++) d->u.dict.vals[i]->u.seq.items[0]->u.obj = arena_alloc(m->vs.arena, sizeof(Object));
  m->root = d;
  t = render_tree(m, trust);
  assert_non_null(t);
  assert_non_null(render_path(t, "<list>~20000"));
  render_free(t);
  model_free_test(m);
}

static Value *object_array(Model *m, int ndim, const uint64_t *shape, Value *items) {
  Value *v = value_new(&m->vs, VAL_NDARRAY);
  NdArray *a = arena_alloc(m->vs.arena, sizeof *a);
  a->dtype = dtype_from_str(&m->vs, "|O", 0);
  a->ndim = ndim;
  a->shape = arena_memdup(m->vs.arena, shape, sizeof *shape * (size_t)(ndim ? ndim : 1));
  a->objects = items;
  v->u.arr = a;
  return v;
}

static Value *np_scalar(Model *m, const char *t, const void *raw) {
  Value *v = value_new(&m->vs, VAL_SCALAR);
  v->u.scalar = arena_alloc(m->vs.arena, sizeof(Scalar));
  v->u.scalar->dtype = dtype_from_str(&m->vs, t, 0);
  v->u.scalar->data.mem = arena_memdup(m->vs.arena, raw, v->u.scalar->dtype->u.dtype->itemsize);
  v->u.scalar->data.len = v->u.scalar->dtype->u.dtype->itemsize;
  return v;
}

/* Object arrays, dynamic callables, slot states, items, kwargs, odd scalars. */
static void test_object_forms(void **state) {
  (void)state;
  Model *m = model_new_test();
  Value *st = value_new(&m->vs, VAL_DICT);
  m->root = obj(m, G(m, "sklearn.pipeline", "Pipeline"), NULL, st);
  uint64_t s1[1] = {2}, s2[2] = {2, 2};
  dict_put(&m->vs, st, S(m, "feature_names_in_"),
           object_array(m, 1, s1, list_of(m, VAL_LIST, 2, S(m, "f0"), S(m, "f1"))));
  dict_put(&m->vs, st, S(m, "grid"),
           object_array(m, 2, s2, list_of(m, VAL_LIST, 4, S(m, "a"), S(m, "b"), I(m, 1), value_none(&m->vs))));
  /* a callable that is itself a built value; state (dict, slots); extras */
  Value *dyn = obj(m, obj(m, G(m, "functools", "partial"), list_of(m, VAL_TUPLE, 1, G(m, "numpy", "clip")), NULL),
                   list_of(m, VAL_TUPLE, 1, I(m, 3)), NULL);
  Value *slots = value_new(&m->vs, VAL_DICT);
  dict_put(&m->vs, slots, S(m, "slot_a"), I(m, 1));
  Value *dd = value_new(&m->vs, VAL_DICT);
  dict_put(&m->vs, dd, S(m, "attr"), S(m, "x"));
  dyn->u.obj->state = list_of(m, VAL_TUPLE, 2, dd, slots);
  dyn->u.obj->items = list_of(m, VAL_LIST, 1, I(m, 9));
  dyn->u.obj->dictitems = value_new(&m->vs, VAL_DICT);
  dict_put(&m->vs, dyn->u.obj->dictitems, S(m, "k"), I(m, 8));
  dyn->u.obj->kwargs = value_new(&m->vs, VAL_DICT);
  dict_put(&m->vs, dyn->u.obj->kwargs, S(m, "kw"), value_bool(&m->vs, 0));
  dict_put(&m->vs, st, S(m, "dyn"), dyn);
  Value *nd = obj(m, G(m, "mod", "C"), NULL, list_of(m, VAL_LIST, 2, I(m, 1), S(m, "s")));
  dict_put(&m->vs, st, S(m, "liststate"), nd);
  dict_put(&m->vs, st, S(m, "py2"), value_bytes_mem(&m->vs, VAL_BYTES, "caf\xe9", 4));
  m->root->u.obj->state->u.dict.vals[m->root->u.obj->state->u.dict.n - 1]->flags |= VF_PY2STR;
  uint8_t big[9] = {0, 0, 0, 0, 0, 0, 0, 0, 1};
  dict_put(&m->vs, st, S(m, "big"), value_bigint(&m->vs, big, 9));
  float f32 = 0.1f;
  int64_t i64 = -3;
  dict_put(&m->vs, st, S(m, "n_classes_"), np_scalar(m, "<i8", &i64));
  dict_put(&m->vs, st, S(m, "scalars"), list_of(m, VAL_LIST, 3, np_scalar(m, "<f4", &f32),
                                               np_scalar(m, "<i8", &i64), value_bigint(&m->vs, big, 9)));
  dict_put(&m->vs, st, S(m, "dtype"), dtype_from_str(&m->vs, "<U5", 0));
  Value *txt = value_new(&m->vs, VAL_TEXT);
  txt->u.str.s = "2026-11-22 10:30:00";
  txt->u.str.len = strlen(txt->u.str.s);
  dict_put(&m->vs, st, S(m, "when"), txt);
  RTree *t = render_tree(m, trust);
  assert_non_null(t);
  assert_content(t, "feature_names_in_.json", "[\n  \"f0\",\n  \"f1\"\n]\n");
  assert_string_equal(listing(t, "grid"), "0.json 1.json");
  assert_content(t, "grid/1.json", "[\n  1,\n  null\n]\n");
  assert_string_equal(listing(t, "dyn"),
                      "__class__ __callable__ __args__.json __kwargs__.json attr slot_a __items__.json "
                      "__dictitems__.json");
  assert_content(t, "dyn/__class__", "<dynamic>\n");
  assert_content(t, "dyn/__callable__/__class__", "functools.partial\n");
  assert_content(t, "dyn/__callable__/__args__/0", "numpy.clip\n");
  assert_content(t, "dyn/slot_a", "1\n");
  assert_content(t, "liststate/__state__.json", "[\n  1,\n  \"s\"\n]\n");
  assert_content(t, "py2", "caf\xc3\xa9\n");
  assert_content(t, "big", "18446744073709551616\n");
  assert_content(t, "n_classes_", "-3\n");
  /* numpy scalars of kinds b/i/u/f/U are plain scalars for the .json rule (SPEC 3);
  ** a float32 holds the Python float json.dumps(x.item()) prints */
  assert_content(t, "scalars.json", "[\n  0.10000000149011612,\n  -3,\n  18446744073709551616\n]\n");
  assert_content(t, "dtype", "<U5\n");
  assert_content(t, "when", "2026-11-22 10:30:00\n");
  char *oj = content(t, "object.json", NULL);
  cJSON *j = cJSON_Parse(oj);
  assert_non_null(j);
  cJSON *grid = cJSON_GetObjectItem(j, "grid");
  assert_true(cJSON_IsArray(grid) && cJSON_GetArraySize(grid) == 2);
  assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "dyn"), "__class__")->valuestring,
                      "<dynamic>");
  assert_non_null(strstr(oj, "\"big\": 18446744073709551616"));
  cJSON_Delete(j);
  free(oj);
  render_free(t);
  model_free_test(m);
}

typedef struct ThreadArg {
  RTree *t;
  int ok;
} ThreadArg;

static void *reader(void *p) {
  ThreadArg *a = p;
  a->ok = 1;
  for (int k = 0; k < 50; k++) {
    const char *paths[] = {"object.json", "meta.json", "coef_.txt", "coef_.npy", "names.json"};
    for (int i = 0; i < 5; i++) {
      char *c = content(a->t, paths[i], NULL);
      if (c == NULL) a->ok = 0;
      free(c);
    }
  }
  return NULL;
}

static void test_threads(void **state) {
  (void)state;
  Model *m = model_new_test();
  Value *st = value_new(&m->vs, VAL_DICT);
  double d[4] = {1, 2, 3, 4};
  dict_put(&m->vs, st, S(m, "coef_"), array_f8(m, 4, d));
  dict_put(&m->vs, st, S(m, "names"), list_of(m, VAL_LIST, 1, S(m, "a")));
  m->root = obj(m, G(m, "sklearn.linear_model._logistic", "LogisticRegression"), NULL, st);
  RTree *t = render_tree(m, trust);
  pthread_t th[4];
  ThreadArg args[4];
  for (int i = 0; i < 4; i++) {
    args[i].t = t;
    pthread_create(&th[i], NULL, reader, &args[i]);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(th[i], NULL);
    assert_true(args[i].ok);
  }
  assert_true(render_memory(t) > 0);
  render_free(t);
  model_free_test(m);
}

static void test_trust(void **state) {
  (void)state;
  assert_true(trust_is_dangerous("os.system"));
  assert_true(trust_is_dangerous("posix.system"));
  assert_true(trust_is_dangerous("builtins.eval"));
  assert_true(trust_is_dangerous("subprocess.Popen"));
  assert_false(trust_is_dangerous("numpy.core.multiarray._reconstruct"));
  assert_false(trust_is_dangerous("osx.thing"));
  assert_true(trust_is_trusted(trust, "numpy.core.multiarray._reconstruct"));
  assert_true(trust_is_trusted(trust, "sklearn.tree._tree.Tree"));
  assert_true(trust_is_trusted(trust, "sklearn.linear_model._logistic.LogisticRegression"));
  assert_true(trust_is_trusted(trust, "numpy.float64"));
  assert_false(trust_is_trusted(trust, "mypkg.Thing"));
  assert_true(trust_is_dangerous("os.system"));
  TrustList *t2 = trust_new_default();
  trust_add_name(t2, "mypkg.*");
  assert_true(trust_is_trusted(t2, "mypkg.Thing"));
  FILE *f = fopen("/tmp/modelfs_trust.txt", "w");
  fputs("# comment\n  other.Cls  \n\n", f);
  fclose(f);
  Err e;
  err_clear(&e);
  assert_int_equal(trust_add_file(t2, "/tmp/modelfs_trust.txt", &e), MFS_OK);
  assert_true(trust_is_trusted(t2, "other.Cls"));
  assert_int_not_equal(trust_add_file(t2, "/nonexistent/x", &e), MFS_OK);
  trust_free(t2);
}

int main(int argc, char **argv) {
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  trust = trust_new_default();
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_estimator),
    cmocka_unit_test(test_json_layout_vs_python),
    cmocka_unit_test(test_root_forms),
    cmocka_unit_test(test_error_model),
    cmocka_unit_test(test_hostile),
    cmocka_unit_test(test_object_forms),
    cmocka_unit_test(test_threads),
    cmocka_unit_test(test_trust),
  };
  int r = cmocka_run_group_tests(tests, NULL, NULL);
  trust_free(trust);
  return r;
}
