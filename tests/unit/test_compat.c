/*
** test_compat.c -- compat.json from hand-built value graphs: every rule kind,
** the target verdicts, sharing and cycles, depth limits, the sidecar, and the
** JSON layout.  No decoder is involved: graphs are made with value.h.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include "modelfs/compat.h"
#include "modelfs/limits.h"

/* ------------------------------------------------------------ helpers */

static Model *model_blank(void) {
  Model *m = calloc(1, sizeof *m);
  m->vs.arena = arena_new();
  m->vs.err = &m->err;
  m->ok = 1;
  m->path = "/nonexistent/model.pkl";
  m->format = "pickle";
  m->compression = "none";
  m->protocol = 4;
  m->globals = value_new(&m->vs, VAL_LIST);
  m->meta_extra = value_new(&m->vs, VAL_DICT);
  return m;
}

static void model_drop(Model *m) {
  arena_free(m->vs.arena);
  free(m);
}

static Value *S(Model *m, const char *s) { return value_str(&m->vs, s, strlen(s)); }

static Value *G(Model *m, const char *mod, const char *name) {
  Value *g = value_global(&m->vs, mod, name);
  seq_push(&m->vs, m->globals, value_global(&m->vs, mod, name));
  return g;
}

static Value *tuple(Model *m, int n, ...) {
  Value *t = value_new(&m->vs, VAL_TUPLE);
  va_list ap;
  va_start(ap, n);
  for (int i = 0; i < n; i++) seq_push(&m->vs, t, va_arg(ap, Value *));
  va_end(ap);
  return t;
}

/* An object of class mod.name built by NEWOBJ with a dict state. */
static Value *obj(Model *m, const char *mod, const char *name, Value **state) {
  Value *o = value_object(&m->vs, G(m, mod, name), value_new(&m->vs, VAL_TUPLE), OBJ_NEWOBJ);
  *state = value_new(&m->vs, VAL_DICT);
  o->u.obj->state = *state;
  return o;
}

static Value *estimator(Model *m, const char *mod, const char *name, const char *version) {
  Value *st;
  Value *o = obj(m, mod, name, &st);
  dict_put(&m->vs, st, S(m, "random_state"), value_int(&m->vs, 0));
  if (version) dict_put(&m->vs, st, S(m, "_sklearn_version"), S(m, version));
  return o;
}

static Value *bytes(Model *m, const void *p, size_t n) { return value_bytes_mem(&m->vs, VAL_BYTES, p, n); }

/* A tree estimator whose Tree holds a 'nodes' array of the given field names. */
static Value *tree_model(Model *m, const char *version, int with_mgl) {
  static const char *const f7[] = {"left_child", "right_child", "feature", "threshold", "impurity",
                                    "n_node_samples", "weighted_n_node_samples", "missing_go_to_left"};
  Value *est = estimator(m, "sklearn.tree._classes", "DecisionTreeClassifier", version);
  Value *tst;
  Value *tree = obj(m, "sklearn.tree._tree", "Tree", &tst);
  Value *dt = value_new(&m->vs, VAL_DTYPE);
  dt->u.dtype = arena_alloc(m->vs.arena, sizeof(Dtype));
  dt->u.dtype->kind = 'V';
  dt->u.dtype->nfields = with_mgl ? 8 : 7;
  dt->u.dtype->itemsize = with_mgl ? 64 : 56;
  dt->u.dtype->fields = arena_alloc(m->vs.arena, 8 * sizeof(DtypeField));
  for (int i = 0; i < 8; i++) dt->u.dtype->fields[i].name = f7[i];
  Value *nodes = value_new(&m->vs, VAL_NDARRAY);
  nodes->u.arr = arena_alloc(m->vs.arena, sizeof(NdArray));
  nodes->u.arr->dtype = dt;
  dict_put(&m->vs, tst, S(m, "nodes"), nodes);
  dict_put(&m->vs, est->u.obj->state, S(m, "tree_"), tree);
  return est;
}

static cJSON *report(Model *m, const char *target, CompatVerdict *v) {
  char *json = NULL;
  CompatVerdict got = compat_check(m, target, &json);
  if (v) *v = got;
  assert_non_null(json);
  size_t n = strlen(json);
  assert_true(n > 2 && json[n - 1] == '\n' && json[n - 2] == '}');
  cJSON *doc = cJSON_Parse(json);
  assert_non_null(doc);
  free(json);
  return doc;
}

static const char *jstr(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Does any check have this kind and match? */
static int has_check(const cJSON *doc, const char *kind, const char *match) {
  const cJSON *c = cJSON_GetObjectItemCaseSensitive(doc, "checks");
  for (const cJSON *x = c ? c->child : NULL; x; x = x->next)
    if (strcmp(jstr(x, "kind"), kind) == 0 && strcmp(jstr(x, "match"), match) == 0) return 1;
  return 0;
}

static int reason_contains(const cJSON *doc, const char *needle) {
  const cJSON *r = cJSON_GetObjectItemCaseSensitive(doc, "reasons");
  for (const cJSON *x = r ? r->child : NULL; x; x = x->next)
    if (strstr(jstr(x, "reason"), needle)) return 1;
  return 0;
}

/* -------------------------------------------------------------- tests */

static void test_rules_table_parses(void **st) {
  (void)st;
  size_t n = 0, bad = 99;
  assert_int_equal(compat_rules_check(&n, &bad), 0);
  assert_int_equal(bad, 0);
  assert_true(n > 250);
}

static void test_versions_and_paths(void **st) {
  (void)st;
  Model *m = model_blank();
  Value *pst;
  Value *pipe = obj(m, "sklearn.pipeline", "Pipeline", &pst);
  dict_put(&m->vs, pst, S(m, "_sklearn_version"), S(m, "1.2.1"));
  Value *steps = value_new(&m->vs, VAL_LIST);
  Value *scaler = estimator(m, "sklearn.preprocessing._data", "StandardScaler", "1.2.1");
  Value *lr = estimator(m, "sklearn.linear_model._logistic", "LogisticRegression", "1.1.3");
  seq_push(&m->vs, steps, tuple(m, 2, S(m, "scale"), scaler));
  seq_push(&m->vs, steps, tuple(m, 2, S(m, "clf"), lr));
  dict_put(&m->vs, pst, S(m, "steps"), steps);
  dict_put(&m->vs, pst, S(m, "again"), lr);          /* shared: reported once */
  m->root = pipe;
  cJSON *doc = report(m, NULL, NULL);
  assert_string_equal(jstr(doc, "sklearn_version"), "1.2.1");
  const cJSON *ests = cJSON_GetObjectItemCaseSensitive(doc, "estimators");
  assert_int_equal(cJSON_GetArraySize(ests), 3);
  assert_string_equal(jstr(cJSON_GetArrayItem(ests, 0), "path"), ".");
  assert_string_equal(jstr(cJSON_GetArrayItem(ests, 1), "path"), "steps/scale/1");
  assert_string_equal(jstr(cJSON_GetArrayItem(ests, 2), "path"), "steps/clf/1");
  assert_string_equal(jstr(cJSON_GetArrayItem(ests, 2), "sklearn_version"), "1.1.3");
  const cJSON *vs = cJSON_GetObjectItemCaseSensitive(doc, "sklearn_versions");
  assert_int_equal(cJSON_GetArraySize(vs), 2);
  assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(doc, "verdict")));
  cJSON_Delete(doc);

  CompatVerdict v;
  doc = report(m, "sklearn=1.2.1", &v);
  assert_int_equal(v, COMPAT_WARNS);                  /* the 1.1.3 step differs */
  assert_string_equal(jstr(doc, "verdict"), "loads with warnings");
  assert_true(reason_contains(doc, "saved by scikit-learn 1.1.3, loaded by 1.2.1"));
  assert_false(reason_contains(doc, "saved by scikit-learn 1.2.1"));
  cJSON_Delete(doc);
  model_drop(m);
}

static void test_pre_018_and_not_estimators(void **st) {
  (void)st;
  Model *m = model_blank();
  Value *est = estimator(m, "sklearn.svm.classes", "SVC", NULL);
  Value *bst;
  Value *tree = obj(m, "sklearn.tree._tree", "Tree", &bst);   /* no _sklearn_version by design */
  dict_put(&m->vs, bst, S(m, "max_depth"), value_int(&m->vs, 3));
  dict_put(&m->vs, est->u.obj->state, S(m, "tree_"), tree);
  m->root = est;
  CompatVerdict v;
  cJSON *doc = report(m, "sklearn=0.20", &v);
  assert_string_equal(jstr(doc, "sklearn_version"), "pre-0.18");
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "estimators")), 1);
  assert_int_equal(v, COMPAT_WARNS);
  cJSON_Delete(doc);
  doc = report(m, "sklearn=0.24", &v);                  /* sklearn.svm.classes is gone */
  assert_int_equal(v, COMPAT_FAILS);
  assert_true(has_check(doc, "module", "sklearn.svm.classes"));
  cJSON_Delete(doc);
  model_drop(m);
}

static void test_tree_nodes(void **st) {
  (void)st;
  Model *m = model_blank();
  m->root = tree_model(m, "1.2.1", 0);
  CompatVerdict v;
  cJSON *doc = report(m, "sklearn=1.2", &v);
  assert_int_equal(v, COMPAT_LOADS);
  const cJSON *tn = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "tree_nodes"), 0);
  assert_non_null(tn);
  assert_string_equal(jstr(tn, "path"), "tree_/nodes");
  assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(tn, "missing_go_to_left")));
  assert_int_equal(cJSON_GetObjectItemCaseSensitive(tn, "itemsize")->valueint, 56);
  cJSON_Delete(doc);
  doc = report(m, "sklearn=1.5", &v);
  assert_int_equal(v, COMPAT_FAILS);
  assert_true(reason_contains(doc, "incompatible dtype"));
  const cJSON *req = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "requires"), "sklearn");
  assert_string_equal(jstr(req, "below"), "1.3");
  cJSON_Delete(doc);
  model_drop(m);

  m = model_blank();
  m->root = tree_model(m, "1.3.2", 1);
  doc = report(m, "sklearn=1.2.1", &v);
  assert_int_equal(v, COMPAT_FAILS);
  assert_true(has_check(doc, "tree_nodes", "with_missing_go_to_left"));
  cJSON_Delete(doc);
  doc = report(m, "sklearn=1.3.2", &v);
  assert_int_equal(v, COMPAT_LOADS);
  cJSON_Delete(doc);
  model_drop(m);
}

/* Before the numpy recogniser folds it: nodes = _reconstruct(...) + BUILD
** (1, shape, dtype, fortran, data), dtype = numpy.dtype('V64') + BUILD state. */
static void test_tree_nodes_raw(void **st) {
  (void)st;
  Model *m = model_blank();
  Value *est = estimator(m, "sklearn.tree._classes", "DecisionTreeRegressor", "1.3.0");
  Value *tst;
  Value *tree = obj(m, "sklearn.tree._tree", "Tree", &tst);
  Value *dt = value_object(&m->vs, G(m, "numpy", "dtype"), tuple(m, 3, S(m, "V64"), value_bool(&m->vs, 0),
                                                                 value_bool(&m->vs, 1)), OBJ_REDUCE);
  Value *names = tuple(m, 3, S(m, "left_child"), S(m, "threshold"), S(m, "missing_go_to_left"));
  dt->u.obj->state = tuple(m, 8, value_int(&m->vs, 3), S(m, "|"), value_none(&m->vs), names,
                           value_new(&m->vs, VAL_DICT), value_int(&m->vs, 64), value_int(&m->vs, 1),
                           value_int(&m->vs, 16));
  Value *arr = value_object(&m->vs, G(m, "numpy.core.multiarray", "_reconstruct"), tuple(m, 0), OBJ_REDUCE);
  arr->u.obj->state = tuple(m, 5, value_int(&m->vs, 1), tuple(m, 0), dt, value_bool(&m->vs, 0), bytes(m, "", 0));
  dict_put(&m->vs, tst, S(m, "nodes"), arr);
  dict_put(&m->vs, est->u.obj->state, S(m, "tree_"), tree);
  m->root = est;
  CompatVerdict v;
  cJSON *doc = report(m, "sklearn=1.2.1", &v);
  assert_int_equal(v, COMPAT_FAILS);
  const cJSON *tn = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "tree_nodes"), 0);
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(tn, "fields")), 3);
  assert_int_equal(cJSON_GetObjectItemCaseSensitive(tn, "itemsize")->valueint, 64);
  assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(tn, "missing_go_to_left")));
  cJSON_Delete(doc);
  model_drop(m);
}

static void test_numpy_generation(void **st) {
  (void)st;
  Model *m = model_blank();
  Value *rec = G(m, "numpy._core.multiarray", "_reconstruct");
  m->root = value_object(&m->vs, rec, tuple(m, 0), OBJ_REDUCE);
  CompatVerdict v;
  cJSON *doc = report(m, "numpy=1.24", &v);
  assert_int_equal(v, COMPAT_FAILS);
  assert_string_equal(jstr(cJSON_GetObjectItemCaseSensitive(doc, "numpy"), "generation"), "2");
  cJSON_Delete(doc);
  doc = report(m, "numpy=1.26.4", &v);                 /* 1.26's stub module */
  assert_int_equal(v, COMPAT_LOADS);
  cJSON_Delete(doc);
  G(m, "numpy._core.numeric", "_frombuffer");          /* no stub for numeric */
  doc = report(m, "numpy=1.26.4", &v);
  assert_int_equal(v, COMPAT_FAILS);
  assert_true(reason_contains(doc, "numpy 1 raises ModuleNotFoundError"));
  cJSON_Delete(doc);
  doc = report(m, "numpy=2.1", &v);
  assert_int_equal(v, COMPAT_LOADS);
  cJSON_Delete(doc);
  model_drop(m);
}

static void test_frombuffer_axis_order(void **st) {
  (void)st;
  Model *m = model_blank();
  Value *fb = G(m, "numpy._core.numeric", "_frombuffer");
  m->root = value_object(&m->vs, fb, tuple(m, 5, bytes(m, "x", 1), value_none(&m->vs), tuple(m, 0), S(m, "K"),
                                               tuple(m, 0)), OBJ_REDUCE);
  CompatVerdict v;
  cJSON *doc = report(m, "numpy=2.2", &v);
  assert_int_equal(v, COMPAT_FAILS);
  assert_true(has_check(doc, "callargs", "numpy._core.numeric._frombuffer/5"));
  cJSON_Delete(doc);
  doc = report(m, "numpy=2.3", &v);
  assert_int_equal(v, COMPAT_LOADS);
  cJSON_Delete(doc);
  model_drop(m);

  /* The same fact from a decoder flag, when the array was rebuilt in place. */
  m = model_blank();
  m->root = value_int(&m->vs, 1);
  dict_put(&m->vs, m->meta_extra, S(m, "numpy_frombuffer_axis_order"), value_int(&m->vs, 1));
  doc = report(m, "numpy=2.2", &v);
  assert_int_equal(v, COMPAT_FAILS);
  assert_true(has_check(doc, "meta", "numpy_frombuffer_axis_order"));
  cJSON_Delete(doc);
  model_drop(m);
}

static void test_protocol_python(void **st) {
  (void)st;
  Model *m = model_blank();
  m->protocol = 5;
  m->root = value_none(&m->vs);
  CompatVerdict v;
  cJSON *doc = report(m, "python=3.7", &v);
  assert_int_equal(v, COMPAT_FAILS);
  assert_true(has_check(doc, "protocol", "5"));
  cJSON_Delete(doc);
  doc = report(m, "python=3.8", &v);
  assert_int_equal(v, COMPAT_LOADS);
  cJSON_Delete(doc);
  doc = report(m, "sklearn=1.5", &v);                  /* python not given: unchecked */
  assert_int_equal(v, COMPAT_LOADS);
  const cJSON *un = cJSON_GetObjectItemCaseSensitive(doc, "unchecked");
  assert_string_equal(cJSON_GetArrayItem(un, 0)->valuestring, "python>=3.8");
  cJSON_Delete(doc);
  model_drop(m);
}

static void test_moved_modules(void **st) {
  (void)st;
  Model *m = model_blank();
  m->protocol = 2;
  m->root = estimator(m, "sklearn.linear_model.logistic", "LogisticRegression", "0.20.3");
  G(m, "sklearn.externals.joblib.numpy_pickle", "NumpyArrayWrapper");
  CompatVerdict v;
  cJSON *doc = report(m, "sklearn=0.22", &v);
  assert_int_equal(v, COMPAT_WARNS);                   /* old path still importable in 0.22 */
  cJSON_Delete(doc);
  doc = report(m, "sklearn=0.23", &v);
  assert_int_equal(v, COMPAT_FAILS);                   /* externals.joblib removed */
  assert_true(reason_contains(doc, "sklearn.externals.joblib"));
  const cJSON *req = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "requires"), "sklearn");
  assert_string_equal(jstr(req, "below"), "0.23");
  cJSON_Delete(doc);
  model_drop(m);

  m = model_blank();
  m->root = estimator(m, "sklearn.linear_model._logistic", "LogisticRegression", "0.22.1");
  doc = report(m, "sklearn=0.21.3", &v);               /* new private path not there yet */
  assert_int_equal(v, COMPAT_FAILS);
  cJSON_Delete(doc);
  model_drop(m);

  m = model_blank();
  Value *gb = estimator(m, "sklearn.ensemble._gb", "GradientBoostingClassifier", "1.3.2");
  Value *lst;
  Value *loss = obj(m, "sklearn.ensemble._gb_losses", "BinomialDeviance", &lst);
  dict_put(&m->vs, gb->u.obj->state, S(m, "_loss"), loss);
  m->root = gb;
  doc = report(m, "sklearn=1.4", &v);
  assert_int_equal(v, COMPAT_FAILS);
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "estimators")), 1);
  cJSON_Delete(doc);
  model_drop(m);
}

static void test_main_module(void **st) {
  (void)st;
  Model *m = model_blank();
  Value *s;
  m->root = obj(m, "__main__", "CPigaiosMultiClassifier", &s);
  CompatVerdict v;
  cJSON *doc = report(m, "python=3.11", &v);
  assert_int_equal(v, COMPAT_FAILS);
  assert_true(has_check(doc, "main", "__main__"));
  const cJSON *mods = cJSON_GetObjectItemCaseSensitive(doc, "modules");
  assert_string_equal(cJSON_GetArrayItem(mods, 0)->valuestring, "__main__");
  cJSON_Delete(doc);
  model_drop(m);
}

/* A code object as cloudpickle writes it: _builtin_type('CodeType') called with args. */
static Value *code_object(Model *m, const char *mod, const char *fn, Value *args) {
  Value *bt = value_object(&m->vs, G(m, mod, fn), tuple(m, 1, S(m, "CodeType")), OBJ_REDUCE);
  return value_object(&m->vs, bt, args, OBJ_REDUCE);
}

static Value *code_args(Model *m, int n, const void *code, size_t clen, const void *tab, size_t tlen) {
  Value *t = value_new(&m->vs, VAL_TUPLE);
  for (int i = 0; i < n; i++) {
    Value *x = value_int(&m->vs, 0);
    if (i == 6) x = bytes(m, code, clen);
    if (i == 13) x = bytes(m, tab, tlen);
    seq_push(&m->vs, t, x);
  }
  return t;
}

static void test_code_objects(void **st) {
  (void)st;
  static const uint8_t code[8] = {0x97, 0, 0x7c, 0, 0x53, 0, 0, 0};
  static const uint8_t linetable310[2] = {8, 0};       /* covers all 8 bytes */
  static const uint8_t lnotab38[2] = {4, 1};           /* last line starts at 4 */
  Model *m = model_blank();
  m->root = code_object(m, "cloudpickle.cloudpickle", "_builtin_type", code_args(m, 18, code, 8, "", 0));
  CompatVerdict v;
  cJSON *doc = report(m, "python=3.10", &v);
  assert_int_equal(v, COMPAT_FAILS);
  const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "code_objects"), 0);
  assert_string_equal(jstr(c, "form"), "py311");
  assert_string_equal(jstr(c, "producer"), "cloudpickle");
  cJSON_Delete(doc);
  doc = report(m, "python=3.12", &v);
  assert_int_equal(v, COMPAT_LOADS);
  cJSON_Delete(doc);
  model_drop(m);

  m = model_blank();
  m->root = code_object(m, "dill.dill", "_load_type", code_args(m, 16, code, 8, linetable310, 2));
  doc = report(m, "python=3.10", &v);
  assert_int_equal(v, COMPAT_LOADS);
  assert_string_equal(jstr(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "code_objects"), 0), "form"), "py310");
  cJSON_Delete(doc);
  model_drop(m);

  m = model_blank();
  m->root = code_object(m, "cloudpickle.cloudpickle", "_builtin_type", code_args(m, 16, code, 8, lnotab38, 2));
  doc = report(m, "python=3.9", &v);
  assert_int_equal(v, COMPAT_LOADS);
  cJSON_Delete(doc);
  doc = report(m, "python=3.10", &v);
  assert_int_equal(v, COMPAT_FAILS);
  cJSON_Delete(doc);
  model_drop(m);

  /* dill >= 0.3.6: _create_code(lnotab, <16 3.10 args>). */
  m = model_blank();
  Value *args = code_args(m, 16, code, 8, linetable310, 2);
  Value *withl = tuple(m, 1, bytes(m, "", 0));
  for (size_t i = 0; i < args->u.seq.n; i++) seq_push(&m->vs, withl, args->u.seq.items[i]);
  m->root = value_object(&m->vs, G(m, "dill._dill", "_create_code"), withl, OBJ_REDUCE);
  doc = report(m, "python=3.11", &v);
  assert_int_equal(v, COMPAT_FAILS);
  assert_string_equal(jstr(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "code_objects"), 0), "form"), "py310");
  cJSON_Delete(doc);
  model_drop(m);
}

static void test_py2_strings(void **st) {
  (void)st;
  Model *m = model_blank();
  m->protocol = 2;
  Value *d = value_new(&m->vs, VAL_DICT);
  Value *k = bytes(m, "kernel", 6);
  k->flags |= VF_PY2STR;
  dict_put(&m->vs, d, k, S(m, "rbf"));
  m->root = d;
  CompatVerdict v;
  cJSON *doc = report(m, "python=3.11", &v);
  assert_int_equal(v, COMPAT_WARNS);
  assert_true(has_check(doc, "py2str", "-"));
  cJSON_Delete(doc);
  model_drop(m);
}

static void test_skops_protocol(void **st) {
  (void)st;
  Model *m = model_blank();
  m->format = "skops";
  m->protocol = 1;
  m->root = estimator(m, "sklearn.linear_model._logistic", "LogisticRegression", "1.2.1");
  CompatVerdict v;
  cJSON *doc = report(m, "skops=0.5,sklearn=1.2.1", &v);
  assert_int_equal(v, COMPAT_FAILS);
  assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(doc, "pickle_protocol")));
  assert_int_equal(cJSON_GetObjectItemCaseSensitive(doc, "skops_protocol")->valueint, 1);
  cJSON_Delete(doc);
  doc = report(m, "skops=0.11,sklearn=1.2", &v);
  assert_int_equal(v, COMPAT_LOADS);
  cJSON_Delete(doc);
  model_drop(m);
}

static void test_cycles_and_depth(void **st) {
  (void)st;
  Model *m = model_blank();
  Value *est = estimator(m, "sklearn.tree._classes", "DecisionTreeClassifier", "1.2.1");
  dict_put(&m->vs, est->u.obj->state, S(m, "self"), est);   /* a cycle */
  Value *outer = value_new(&m->vs, VAL_LIST), *cur = outer;
  for (int i = 0; i < MFS_MAX_DEPTH + 50; i++) {
    Value *n = value_new(&m->vs, VAL_LIST);
    seq_push(&m->vs, cur, n);
    cur = n;
  }
  dict_put(&m->vs, est->u.obj->state, S(m, "deep"), outer);
  m->root = est;
  cJSON *doc = report(m, NULL, NULL);
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "estimators")), 1);
  assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(doc, "complete")));
  cJSON_Delete(doc);
  model_drop(m);
}

static void test_target_errors_and_unreadable(void **st) {
  (void)st;
  Model *m = model_blank();
  m->root = value_none(&m->vs);
  CompatVerdict v;
  cJSON *doc = report(m, "sklearn=abc", &v);
  assert_int_equal(v, COMPAT_NO_TARGET);
  assert_non_null(jstr(doc, "target_error"));
  cJSON_Delete(doc);
  doc = report(m, "tensorflow=2", &v);
  assert_int_equal(v, COMPAT_NO_TARGET);
  cJSON_Delete(doc);
  m->ok = 0;
  err_set(&m->err, MFS_ETRUNC, 10, "offset 10: truncated BINUNICODE");
  doc = report(m, "sklearn=1.5", &v);
  assert_int_equal(v, COMPAT_UNREADABLE);
  assert_string_equal(jstr(doc, "verdict"), "unreadable");
  assert_string_equal(jstr(doc, "error"), "offset 10: truncated BINUNICODE");
  cJSON_Delete(doc);
  model_drop(m);
}

static void test_sidecar(void **st) {
  (void)st;
  char dir[] = "/tmp/compat-test-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char model[256], meta[300];
  snprintf(model, sizeof model, "%s/model.pkl", dir);
  snprintf(meta, sizeof meta, "%s.meta", model);
  FILE *f = fopen(meta, "w");
  fputs("{\"sklearn_version\": \"1.3.0\", \"python\": \"3.7\", \"note\": \"caf\xc3\xa9\"}", f);
  fclose(f);
  Model *m = model_blank();
  m->path = model;
  m->protocol = 5;
  m->root = estimator(m, "sklearn.svm._classes", "SVC", "1.2.1");
  char *json = compat_report_json(m, NULL);
  assert_non_null(strstr(json, "\"note\": \"caf\xc3\xa9\""));  /* UTF-8 as itself (SPEC 4) */
  cJSON *doc = cJSON_Parse(json);
  free(json);
  const cJSON *dis = cJSON_GetObjectItemCaseSensitive(doc, "disagreements");
  assert_int_equal(cJSON_GetArraySize(dis), 2);
  assert_string_equal(jstr(cJSON_GetArrayItem(dis, 0), "key"), "sklearn");
  assert_string_equal(jstr(cJSON_GetArrayItem(dis, 0), "found"), "1.2.1");
  assert_string_equal(jstr(cJSON_GetArrayItem(dis, 1), "key"), "python");
  assert_string_equal(jstr(cJSON_GetObjectItemCaseSensitive(doc, "declared"), "sklearn_version"), "1.3.0");
  cJSON_Delete(doc);
  f = fopen(meta, "w");
  fputs("not json", f);
  fclose(f);
  doc = report(m, NULL, NULL);
  assert_non_null(jstr(doc, "declared_error"));
  cJSON_Delete(doc);
  unlink(meta);
  rmdir(dir);
  model_drop(m);
}

static void test_json_layout(void **st) {
  (void)st;
  Model *m = model_blank();
  m->root = estimator(m, "sklearn.svm._classes", "SVC", "1.2.1");
  char *json = compat_report_json(m, "sklearn=1.2.1");
  /* sorted keys at the top level, two-space indent, empty containers inline */
  const char *a = strstr(json, "\n  \"checks\": ");
  const char *b = strstr(json, "\n  \"code_objects\": []");
  const char *c = strstr(json, "\n  \"verdict\": \"loads\"\n}\n");
  assert_non_null(a);
  assert_non_null(b);
  assert_non_null(c);
  assert_true(a < b && b < c);
  assert_int_equal(json[0], '{');
  free(json);
  model_drop(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_rules_table_parses),
    cmocka_unit_test(test_versions_and_paths),
    cmocka_unit_test(test_pre_018_and_not_estimators),
    cmocka_unit_test(test_tree_nodes),
    cmocka_unit_test(test_tree_nodes_raw),
    cmocka_unit_test(test_numpy_generation),
    cmocka_unit_test(test_frombuffer_axis_order),
    cmocka_unit_test(test_protocol_python),
    cmocka_unit_test(test_moved_modules),
    cmocka_unit_test(test_main_module),
    cmocka_unit_test(test_code_objects),
    cmocka_unit_test(test_py2_strings),
    cmocka_unit_test(test_skops_protocol),
    cmocka_unit_test(test_cycles_and_depth),
    cmocka_unit_test(test_target_errors_and_unreadable),
    cmocka_unit_test(test_sidecar),
    cmocka_unit_test(test_json_layout),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
