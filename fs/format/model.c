/*
** model.c -- a Model's life (new, free) and the facts formats record on it
** (globals met, meta.json extras).  Knows no format and opens no file.
*/
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "modelfs/model.h"

Model *model_new(const char *name) {
  Model *m = calloc(1, sizeof *m);
  if (m == NULL) return NULL;
  err_clear(&m->err);
  m->vs.arena = arena_new();
  m->vs.err = &m->err;
  if (m->vs.arena == NULL) {
    free(m);
    return NULL;
  }
  m->path = arena_strndup(m->vs.arena, name ? name : "?", strlen(name ? name : "?"));
  m->format = "pickle";
  m->compression = "none";
  m->globals = value_new(&m->vs, VAL_LIST);
  m->meta_extra = value_new(&m->vs, VAL_DICT);
  m->hazards = value_new(&m->vs, VAL_LIST);
  if (m->path == NULL || m->globals == NULL || m->meta_extra == NULL || m->hazards == NULL) {
    model_free(m);
    return NULL;
  }
  return m;
}

Model *model_new_within(const char *name, const Model *parent) {
  Model *m = model_new(name);
  if (m != NULL) {
    m->stop = parent->stop;
    m->pause = parent->pause;
  }
  return m;
}

void model_free(Model *m) {
  if (m == NULL) return;
  source_unref(m->src);
  arena_free(m->vs.arena);
  free(m);
}

MfsStatus model_note_global(Model *m, const char *module, const char *name) {
  Value *g = value_global(&m->vs, module, name);
  if (g == NULL) return m->err.code;
  return seq_push(&m->vs, m->globals, g);
}

MfsStatus model_note_hazard(Model *m, uint64_t off, const char *fmt, ...) {
  char what[300];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  char line[340];
  snprintf(line, sizeof line, "offset %llu: %s", (unsigned long long)off, what);
  Value *v = value_str(&m->vs, line, strlen(line));
  if (v == NULL) return m->err.code;
  return seq_push(&m->vs, m->hazards, v);
}

static MfsStatus set_meta(Model *m, const char *key, Value *val) {
  if (val == NULL) return m->err.code;
  Value *k = value_str(&m->vs, key, strlen(key));
  if (k == NULL) return m->err.code;
  Dict *d = &m->meta_extra->u.dict;
  for (size_t i = 0; i < d->n; i++)
    if (value_is_str(d->keys[i], key)) {
      d->vals[i] = val;
      return MFS_OK;
    }
  return dict_put(&m->vs, m->meta_extra, k, val);
}

MfsStatus model_set_meta_str(Model *m, const char *key, const char *val) {
  return set_meta(m, key, value_str(&m->vs, val, strlen(val)));
}

MfsStatus model_set_meta_int(Model *m, const char *key, int64_t val) {
  return set_meta(m, key, value_int(&m->vs, val));
}
