/*
** json.c -- JSON text exactly as Python's json.dumps(indent=2) lays it out.
**
** One element per line, two spaces per level, "key": value, "[]"/"{}" for empty
** containers, strings as UTF-8 (ensure_ascii=False).  Numbers are written from their
** Python text (repr of floats, exact big ints), never through a double.  Knows
** values, not trees or paths: object.json's structure is render.c's business.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "modelfs/json.h"
#include "modelfs/utf8.h"
#include "modelfs/limits.h"

void jw_init(JsonW *w, Buf *b) {
  memset(w, 0, sizeof *w);
  w->b = b;
}

void jw_done(JsonW *w) {
  free(w->has);
  w->has = NULL;
}

static void indent(JsonW *w, int depth) {
  buf_putc(w->b, '\n');
  for (int i = 0; i < depth; i++) buf_add(w->b, "  ", 2);
}

/* Separator and indentation before a value or key. */
static void item_prefix(JsonW *w) {
  if (w->after_key) {
    w->after_key = 0;
    return;
  }
  if (w->depth == 0) return;
  if (w->has[w->depth]) buf_putc(w->b, ',');
  w->has[w->depth] = 1;
  indent(w, w->depth);
}

void jw_begin(JsonW *w, char open) {
  item_prefix(w);
  buf_putc(w->b, open);
  if (w->depth + 1 >= w->cap) {
    int cap = w->cap ? w->cap * 2 : 64;
    unsigned char *h = realloc(w->has, (size_t)cap);
    if (h == NULL) {
      w->oom = w->b->oom = 1;
      return;
    }
    w->has = h;
    w->cap = cap;
  }
  w->depth++;
  w->has[w->depth] = 0;
}

void jw_end(JsonW *w, char close) {
  if (w->oom) return;
  if (w->has[w->depth]) indent(w, w->depth - 1);
  buf_putc(w->b, close);
  w->depth--;
}

void jw_key(JsonW *w, const char *s, size_t n) {
  item_prefix(w);
  json_escape(w->b, s, n);
  buf_add(w->b, ": ", 2);
  w->after_key = 1;
}

void jw_raw(JsonW *w, const char *s, size_t n) {
  item_prefix(w);
  buf_add(w->b, s, n);
}

void jw_string(JsonW *w, const char *s, size_t n) {
  item_prefix(w);
  json_escape(w->b, s, n);
}

void jw_cstring(JsonW *w, const char *s) { jw_string(w, s, strlen(s)); }

void json_escape(Buf *b, const char *str, size_t n) {
  char *out = n < SIZE_MAX / 8 ? buf_room(b, UTF8_JSON_ROOM(n)) : NULL;
  if (out != NULL) buf_grew(b, utf8_json_quote(out, str, n));
  else b->oom = 1;
}

const Value *json_unwrap(const Value *v) {
  for (int i = 0; i < 8 && v != NULL && v->kind == VAL_SCALAR && v->u.scalar->object; i++)
    v = v->u.scalar->object;
  return v;
}

static const Dtype *scalar_dtype(const Value *v) {
  const Scalar *s = v->u.scalar;
  if (s->object != NULL || s->dtype == NULL || s->dtype->kind != VAL_DTYPE) return NULL;
  const Dtype *d = s->dtype->u.dtype;
  if (d->nfields > 0 || d->sub_base != NULL || s->data.len < d->itemsize) return NULL;
  return d;
}

/* Numeric, bool and str numpy scalars (kinds b/i/u/f/U): JSON values in
** object.json, and plain scalars for the N.json rule (SPEC 3: a vocabulary of
** numpy.int64, a list of numpy.float64). */
static int numpy_json_scalar(const Value *v) {
  const Dtype *d = scalar_dtype(v);
  if (d == NULL) return 0;
  switch (d->kind) {
    case 'b': case 'i': case 'u': case 'U': return 1;
    case 'f': return d->itemsize == 2 || d->itemsize == 4 || d->itemsize == 8;
    default: return 0;
  }
}

int json_is_scalar(const Value *v) {
  v = json_unwrap(v);
  if (v == NULL) return 0;
  switch (v->kind) {
    case VAL_NONE: case VAL_BOOL: case VAL_INT: case VAL_BIGINT: case VAL_FLOAT: case VAL_STR:
      return 1;
    case VAL_BYTES: return (v->flags & VF_PY2STR) != 0;
    default: return 0;
  }
}

int json_is_value(const Value *v) {
  v = json_unwrap(v);
  return json_is_scalar(v) || (v != NULL && v->kind == VAL_SCALAR && numpy_json_scalar(v));
}

/* A float text: JSON number when finite, else the strings SPEC 3 asks for. */
static void float_json(Buf *b, const char *t) {
  if (strcmp(t, "nan") == 0 || strcmp(t, "inf") == 0 || strcmp(t, "-inf") == 0) {
    buf_putc(b, '"');
    buf_puts(b, t);
    buf_putc(b, '"');
  } else {
    buf_puts(b, t);
  }
}

/* A float16/float32 scalar as the Python float it converts to (json.dumps of
** x.item() prints 0.10000000149011612 for float32(0.1), not numpy's "0.1"). */
static int narrow_float_text(const Value *v, const Dtype *d, char *t) {
  const uint8_t *p = v->u.scalar->data.mem;
  if (p == NULL || (d->itemsize != 2 && d->itemsize != 4)) return 0;
  uint8_t raw[4];
  for (size_t i = 0; i < d->itemsize; i++)
    raw[i] = p[d->byteorder == '>' ? d->itemsize - 1 - i : i];
  double x;
  if (d->itemsize == 4) {
    float f;
    memcpy(&f, raw, 4);
    x = f;
  } else {
    x = text_half_value((uint16_t)(raw[0] | raw[1] << 8));
  }
  text_double(t, x);
  return 1;
}

int json_scalar(Buf *b, const Value *v, Err *e) {
  v = json_unwrap(v);
  if (!json_is_value(v)) return 0;
  char t[TEXT_FLOAT_MAX];
  switch (v->kind) {
    case VAL_NONE: buf_puts(b, "null"); return 1;
    case VAL_BOOL: buf_puts(b, v->u.b ? "true" : "false"); return 1;
    case VAL_FLOAT:
      text_double(t, v->u.f);
      float_json(b, t);
      return 1;
    case VAL_STR: json_escape(b, v->u.str.s, v->u.str.len); return 1;
    case VAL_INT: case VAL_BIGINT: return text_scalar(b, v, e);
    default: break;
  }
  Buf tmp;
  buf_init(&tmp);
  text_scalar(&tmp, v, e);
  const char *s = tmp.p ? tmp.p : "";
  if (v->kind == VAL_BYTES) {
    json_escape(b, s, tmp.len);
  } else {
    const Dtype *d = scalar_dtype(v);
    if (d->kind == 'U') json_escape(b, s, tmp.len);
    else if (d->kind == 'b') buf_puts(b, strcmp(s, "True") == 0 ? "true" : "false");
    else if (d->kind == 'f') float_json(b, narrow_float_text(v, d, t) ? t : s);
    else buf_add(b, s, tmp.len);
  }
  buf_free(&tmp);
  return 1;
}

static int is_seq(const Value *v) {
  return v->kind == VAL_LIST || v->kind == VAL_TUPLE || v->kind == VAL_SET ||
         v->kind == VAL_FROZENSET;
}

int json_is_flat_container(const Value *v) {
  if (v == NULL) return 0;
  if (is_seq(v)) {
    for (size_t i = 0; i < v->u.seq.n; i++)
      if (!json_is_value(v->u.seq.items[i])) return 0;
    return 1;
  }
  if (v->kind == VAL_DICT) {
    for (size_t i = 0; i < v->u.dict.n; i++)
      if (!json_is_value(v->u.dict.keys[i]) || !json_is_value(v->u.dict.vals[i])) return 0;
    return 1;
  }
  return 0;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Set elements are sorted by their JSON text, so equal sets print alike. */
MfsStatus json_write_set(JsonW *w, const Value *v, Err *e) {
  size_t n = v->u.seq.n;
  char **texts = calloc(n ? n : 1, sizeof *texts);
  if (texts == NULL) return err_set(e, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
  MfsStatus st = MFS_OK;
  for (size_t i = 0; i < n && st == MFS_OK; i++) {
    Buf t;
    buf_init(&t);
    json_scalar(&t, v->u.seq.items[i], e);
    texts[i] = buf_detach(&t, NULL);
    if (texts[i] == NULL) st = err_set(e, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
  }
  if (st == MFS_OK) {
    qsort(texts, n, sizeof *texts, cmp_str);
    jw_begin(w, '[');
    for (size_t i = 0; i < n; i++) jw_raw(w, texts[i], strlen(texts[i]));
    jw_end(w, ']');
  }
  for (size_t i = 0; i < n; i++) free(texts[i]);
  free(texts);
  return st;
}

MfsStatus json_container_doc(Buf *b, const Value *v, Err *e) {
  JsonW w;
  jw_init(&w, b);
  MfsStatus st = MFS_OK;
  if (v->kind == VAL_SET || v->kind == VAL_FROZENSET) {
    st = json_write_set(&w, v, e);
  } else if (is_seq(v)) {
    jw_begin(&w, '[');
    for (size_t i = 0; i < v->u.seq.n; i++) {
      jw_raw(&w, "", 0);
      json_scalar(b, v->u.seq.items[i], e);
    }
    jw_end(&w, ']');
  } else {
    jw_begin(&w, '{');
    for (size_t i = 0; i < v->u.dict.n; i++) {
      Buf k;
      buf_init(&k);
      text_scalar(&k, json_unwrap(v->u.dict.keys[i]), e);
      jw_key(&w, k.p ? k.p : "", k.len);
      buf_free(&k);
      jw_raw(&w, "", 0);
      json_scalar(b, v->u.dict.vals[i], e);
    }
    jw_end(&w, '}');
  }
  jw_done(&w);
  buf_putc(b, '\n');
  if (b->oom) return err_set(e, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
  return st != MFS_OK ? st : (e->code != MFS_OK ? e->code : MFS_OK);
}
