/*
** canon.h -- test helper: a canonical text of a decoded value graph, the same
** text scripts/pickle_cases.py computes in Python from the original object, and
** a runner that decodes every case the script prints and compares the two.
** Included by test_pickle.c and test_numpy.c only.
*/
#ifndef MODELFS_TEST_CANON_H
#define MODELFS_TEST_CANON_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "modelfs/decode.h"
#include "modelfs/dtype.h"

typedef struct Buf {
  char *s;
  size_t n, cap;
} Buf;

static void buf_add(Buf *b, const char *fmt, ...) {
  va_list ap;
  for (;;) {
    va_start(ap, fmt);
    int k = vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
    va_end(ap);
    if (k >= 0 && (size_t)k < b->cap - b->n) {
      b->n += (size_t)k;
      return;
    }
    b->cap = b->cap ? b->cap * 2 + (size_t)k : 4096 + (size_t)k;
    b->s = realloc(b->s, b->cap);
  }
}

static void buf_hex(Buf *b, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) buf_add(b, "%02x", p[i]);
}

typedef struct Canon {
  Buf out;
  const Value **ptrs;
  int *refs, *labels;
  size_t n, cap;
  int next_label;
} Canon;

static int shared_kind(const Value *v) {
  switch (v->kind) {
  case VAL_LIST: case VAL_DICT: case VAL_SET: case VAL_FROZENSET: case VAL_BYTEARRAY: return 1;
  case VAL_TUPLE: return v->u.seq.n > 0;
  default: return 0;
  }
}

static size_t canon_slot(Canon *c, const Value *v) {
  for (size_t i = 0; i < c->n; i++)
    if (c->ptrs[i] == v) return i;
  if (c->n == c->cap) {
    c->cap = c->cap ? c->cap * 2 : 64;
    c->ptrs = realloc(c->ptrs, c->cap * sizeof *c->ptrs);
    c->refs = realloc(c->refs, c->cap * sizeof *c->refs);
    c->labels = realloc(c->labels, c->cap * sizeof *c->labels);
  }
  c->ptrs[c->n] = v;
  c->refs[c->n] = 0;
  c->labels[c->n] = 0;
  return c->n++;
}

static void canon_count(Canon *c, const Value *v) {
  if (v == NULL) return;
  if (shared_kind(v)) {
    size_t i = canon_slot(c, v);
    if (++c->refs[i] > 1) return;
  }
  switch (v->kind) {
  case VAL_LIST: case VAL_TUPLE: case VAL_SET: case VAL_FROZENSET:
    for (size_t i = 0; i < v->u.seq.n; i++) canon_count(c, v->u.seq.items[i]);
    break;
  case VAL_DICT:
    for (size_t i = 0; i < v->u.dict.n; i++) {
      canon_count(c, v->u.dict.keys[i]);
      canon_count(c, v->u.dict.vals[i]);
    }
    break;
  case VAL_NDARRAY:
    if (v->u.arr->objects) {
      const Value *o = v->u.arr->objects;
      for (size_t i = 0; i < o->u.seq.n; i++) canon_count(c, o->u.seq.items[i]);
    }
    break;
  case VAL_OBJECT: {
    const Object *o = v->u.obj;
    if (o->args)
      for (size_t i = 0; i < o->args->u.seq.n; i++) canon_count(c, o->args->u.seq.items[i]);
    canon_count(c, o->state);
    if (o->items)
      for (size_t i = 0; i < o->items->u.seq.n; i++) canon_count(c, o->items->u.seq.items[i]);
    if (o->dictitems)
      for (size_t i = 0; i < o->dictitems->u.dict.n; i++) {
        canon_count(c, o->dictitems->u.dict.keys[i]);
        canon_count(c, o->dictitems->u.dict.vals[i]);
      }
    break;
  }
  default: break;
  }
}

static void canon_text(Canon *c, const Value *v);

static void canon_seq(Canon *c, const Value *const *items, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (i) buf_add(&c->out, ",");
    canon_text(c, items[i]);
  }
}

static void canon_dict(Canon *c, const Value *d) {
  for (size_t i = 0; i < d->u.dict.n; i++) {
    if (i) buf_add(&c->out, ",");
    canon_text(c, d->u.dict.keys[i]);
    buf_add(&c->out, ":");
    canon_text(c, d->u.dict.vals[i]);
  }
}

static void canon_double(Canon *c, double d) {
  uint64_t bits;
  memcpy(&bits, &d, 8);
  buf_add(&c->out, "%016llx", (unsigned long long)bits);
}

static void canon_bigint(Canon *c, const uint8_t *le, size_t n) {
  uint8_t *m = malloc(n + 1);
  int neg = n && (le[n - 1] & 0x80);
  unsigned carry = 1;
  for (size_t i = 0; i < n; i++) {
    if (neg) {
      unsigned x = (uint8_t)~le[i] + carry;
      m[i] = (uint8_t)x;
      carry = x >> 8;
    } else {
      m[i] = le[i];
    }
  }
  char digits[1024];
  size_t nd = 0, len = n;
  while (len > 0) {
    unsigned rem = 0;
    for (size_t i = len; i-- > 0;) {
      unsigned cur = rem << 8 | m[i];
      m[i] = (uint8_t)(cur / 10);
      rem = cur % 10;
    }
    digits[nd++] = (char)('0' + rem);
    while (len > 0 && m[len - 1] == 0) len--;
  }
  if (nd == 0) digits[nd++] = '0';
  buf_add(&c->out, "i%s", neg ? "-" : "");
  while (nd > 0) buf_add(&c->out, "%c", digits[--nd]);
  free(m);
}

static void canon_dtype(Canon *c, const Value *v) {
  char ts[64];
  if (v == NULL || v->kind != VAL_DTYPE) {
    buf_add(&c->out, "D?");
    return;
  }
  const Dtype *d = v->u.dtype;
  dtype_typestr(d, ts, sizeof ts);
  buf_add(&c->out, "D%s", ts);
  if (d->nfields) {
    buf_add(&c->out, "{");
    for (size_t i = 0; i < d->nfields; i++) {
      buf_add(&c->out, "%s%s:", i ? "," : "", d->fields[i].name);
      canon_dtype(c, d->fields[i].dtype);
      buf_add(&c->out, "@%llu", (unsigned long long)d->fields[i].offset);
      if (d->fields[i].title) buf_add(&c->out, ":%s", d->fields[i].title);
    }
    buf_add(&c->out, "}");
  }
  if (d->sub_base) {
    buf_add(&c->out, "sub(");
    canon_dtype(c, d->sub_base);
    for (int i = 0; i < d->sub_ndim; i++) buf_add(&c->out, ",%llu", (unsigned long long)d->sub_shape[i]);
    buf_add(&c->out, ")");
  }
  if (d->aligned) buf_add(&c->out, "!A");
}

static void canon_blob(Canon *c, const Blob *b) {
  uint8_t tmp[4096];
  Err e;
  err_clear(&e);
  for (uint64_t off = 0; off < b->len;) {
    size_t k = b->len - off < sizeof tmp ? (size_t)(b->len - off) : sizeof tmp;
    if (blob_read(b, off, tmp, k, &e) != MFS_OK) {
      buf_add(&c->out, "<unreadable>");
      return;
    }
    buf_hex(&c->out, tmp, k);
    off += k;
  }
}

static void canon_body(Canon *c, const Value *v) {
  Buf *b = &c->out;
  switch (v->kind) {
  case VAL_NONE: buf_add(b, "N"); break;
  case VAL_BOOL: buf_add(b, v->u.b ? "T" : "F"); break;
  case VAL_INT: buf_add(b, "i%lld", (long long)v->u.i); break;
  case VAL_BIGINT: canon_bigint(c, (const uint8_t *)v->u.str.s, v->u.str.len); break;
  case VAL_FLOAT: buf_add(b, "f"); canon_double(c, v->u.f); break;
  case VAL_COMPLEX: buf_add(b, "c"); canon_double(c, v->u.c.re); canon_double(c, v->u.c.im); break;
  case VAL_STR: buf_add(b, "s"); buf_hex(b, (const uint8_t *)v->u.str.s, v->u.str.len); break;
  case VAL_TEXT: buf_add(b, "t"); buf_hex(b, (const uint8_t *)v->u.str.s, v->u.str.len); break;
  case VAL_BYTES: buf_add(b, (v->flags & VF_PY2STR) ? "p" : "b"); canon_blob(c, &v->u.bytes); break;
  case VAL_BYTEARRAY: buf_add(b, "y"); canon_blob(c, &v->u.bytes); break;
  case VAL_LIST: buf_add(b, "["); canon_seq(c, (const Value *const *)v->u.seq.items, v->u.seq.n); buf_add(b, "]"); break;
  case VAL_TUPLE: buf_add(b, "("); canon_seq(c, (const Value *const *)v->u.seq.items, v->u.seq.n); buf_add(b, ")"); break;
  case VAL_SET: buf_add(b, "{"); canon_seq(c, (const Value *const *)v->u.seq.items, v->u.seq.n); buf_add(b, "}"); break;
  case VAL_FROZENSET: buf_add(b, "z{"); canon_seq(c, (const Value *const *)v->u.seq.items, v->u.seq.n); buf_add(b, "}"); break;
  case VAL_DICT: buf_add(b, (v->flags & VF_ORDERED) ? "o{" : "d{"); canon_dict(c, v); buf_add(b, "}"); break;
  case VAL_GLOBAL: buf_add(b, "g%s.%s", v->u.global.module, v->u.global.name); break;
  case VAL_DTYPE: canon_dtype(c, v); break;
  case VAL_SCALAR:
    buf_add(b, "S");
    canon_dtype(c, v->u.scalar->dtype);
    buf_add(b, ":");
    if (v->u.scalar->object) canon_text(c, v->u.scalar->object);
    else canon_blob(c, &v->u.scalar->data);
    break;
  case VAL_NDARRAY: {
    const NdArray *a = v->u.arr;
    buf_add(b, "A<");
    if (a->cls && !(a->cls->kind == VAL_GLOBAL && strcmp(a->cls->u.global.module, "numpy") == 0 &&
                    strcmp(a->cls->u.global.name, "ndarray") == 0)) {
      canon_text(c, a->cls);
      buf_add(b, ";");
    }
    canon_dtype(c, a->dtype);
    buf_add(b, ";");
    for (int i = 0; i < a->ndim; i++) buf_add(b, "%s%llu", i ? "," : "", (unsigned long long)a->shape[i]);
    if (a->objects) {
      buf_add(b, ";[");
      canon_seq(c, (const Value *const *)a->objects->u.seq.items, a->objects->u.seq.n);
      buf_add(b, "]>");
    } else {
      buf_add(b, ";%s;", a->fortran ? "F" : "C");
      canon_blob(c, &a->data);
      buf_add(b, ">");
    }
    break;
  }
  case VAL_OBJECT: {
    const Object *o = v->u.obj;
    buf_add(b, "O<");
    if (o->callable) canon_text(c, o->callable); else buf_add(b, "?");
    buf_add(b, "|(");
    if (o->args) canon_seq(c, (const Value *const *)o->args->u.seq.items, o->args->u.seq.n);
    buf_add(b, ")|");
    if (o->state) canon_text(c, o->state); else buf_add(b, "-");
    buf_add(b, "|");
    if (o->items && o->items->u.seq.n) {
      buf_add(b, "[");
      canon_seq(c, (const Value *const *)o->items->u.seq.items, o->items->u.seq.n);
      buf_add(b, "]");
    } else {
      buf_add(b, "-");
    }
    buf_add(b, "|");
    if (o->dictitems && o->dictitems->u.dict.n) {
      buf_add(b, "d{");
      canon_dict(c, o->dictitems);
      buf_add(b, "}");
    } else {
      buf_add(b, "-");
    }
    buf_add(b, ">");
    break;
  }
  default: buf_add(b, "?%d", v->kind);
  }
}

static void canon_text(Canon *c, const Value *v) {
  if (v == NULL) {
    buf_add(&c->out, "<null>");
    return;
  }
  if (shared_kind(v)) {
    size_t i = canon_slot(c, v);
    if (c->refs[i] > 1) {
      if (c->labels[i]) {
        buf_add(&c->out, "*%d", c->labels[i]);
        return;
      }
      c->labels[i] = ++c->next_label;
      buf_add(&c->out, "&%d", c->labels[i]);
    }
  }
  canon_body(c, v);
}

/* The canonical text of v, malloc'd. */
static char *canon_of(const Value *v) {
  Canon c;
  memset(&c, 0, sizeof c);
  canon_count(&c, v);
  buf_add(&c.out, "%s", "");
  canon_text(&c, v);
  free(c.ptrs);
  free(c.refs);
  free(c.labels);
  return c.out.s;
}

/* ---- cases from scripts/pickle_cases.py ------------------------------------------ */

static uint8_t *unhex(const char *h, size_t *n) {
  size_t len = strlen(h) / 2;
  uint8_t *p = malloc(len ? len : 1);
  for (size_t i = 0; i < len; i++) {
    unsigned x;
    sscanf(h + 2 * i, "%2x", &x);
    p[i] = (uint8_t)x;
  }
  *n = len;
  return p;
}

static Model *decode_bytes(const void *p, size_t n) {
  Source *src = source_from_memory(p, n, "test.pkl");
  Model *m = model_decode_source(src, "test.pkl");
  source_unref(src);
  return m;
}

/* Per-case check beyond the canon (data offsets...); returns 0 when it fails. */
typedef int (*CaseCheck)(const char *name, Model *m, const char *extra);

/* Run every case of `pickle_cases.py kind`; returns the number of failures and
** stores the number of cases run in *ran. */
static int run_cases(const char *kind, CaseCheck check, int *ran) {
  char cmd[512];
  const char *dir = getenv("MODELFS_ROOT");
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/scripts/pickle_cases.py %s", dir ? dir : ".", kind);
  FILE *f = popen(cmd, "r");
  if (f == NULL) return -1;
  char *line = NULL;
  size_t cap = 0;
  int fails = 0;
  *ran = 0;
  while (getline(&line, &cap, f) > 0) {
    char *name = strtok(line, "\t"), *hex = strtok(NULL, "\t"), *want = strtok(NULL, "\t");
    char *extra = strtok(NULL, "\t\n");
    if (name == NULL || hex == NULL || want == NULL) continue;
    size_t n;
    uint8_t *bytes = unhex(hex, &n);
    Model *m = decode_bytes(bytes, n);
    char *got = m->root ? canon_of(m->root) : strdup("<null>");
    int ok = m->ok && strcmp(got, want) == 0 && (check == NULL || check(name, m, extra));
    if (!ok) {
      size_t i = 0;
      while (got[i] && got[i] == want[i]) i++;
      fprintf(stderr, "FAIL %s: ok=%d err=%s\n  at %zu: got  %.160s\n         want %.160s\n", name,
              m->ok, m->err.msg, i, got + i, want + i);
      fails++;
    }
    (*ran)++;
    free(got);
    free(bytes);
    model_free(m);
  }
  free(line);
  if (pclose(f) != 0) return -1;
  return fails;
}

#endif
