/*
** frame.c -- the text views of a pandas frame or Series (SPEC 3.2): columns.json,
** the labels in frame order, and frame.csv, the bytes DataFrame.to_csv() (or
** Series.to_csv()) writes with its defaults: a header of the index name and the
** labels, one line per row, "," between fields, fields holding "," '"' or a
** newline quoted, missing values empty, floats as numpy's str() (shortest
** round-trip), datetimes as pandas prints them.
**
** Reads only the canonical graph (canon.h: columns, dtypes, index or values);
** must never know which file format or pandas version the frame came from.  A
** frame holding what this cannot print as pandas does gets no frame.csv rather
** than a different one.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "modelfs/canon.h"
#include "modelfs/json.h"
#include "modelfs/limits.h"
#include "modelfs/text.h"
#include "modelfs/views.h"

#define NAT INT64_MIN

/* One column of the CSV: numbers in memory, or the Values of an object column. */
typedef struct Col {
  const Dtype *d;          /* numeric/bool/datetime array, else NULL */
  uint8_t *bytes;
  Value *const *items;     /* object values */
  uint64_t n;
  int64_t start, step;     /* a RangeIndex (d, items NULL) */
  int range;
  int digits;              /* datetime: -1 dates only, else 0, 3, 6 or 9 fraction digits */
} Col;

static const Value *sget(const Value *obj, const char *key) {
  return obj->u.obj->state ? dict_get_str(obj->u.obj->state, key) : NULL;
}

static const Dtype *dtype_of(const Value *arr) {
  const Value *d = arr->u.arr->dtype;
  return d != NULL && d->kind == VAL_DTYPE ? d->u.dtype : NULL;
}

int frame_applies(const Value *obj) {
  int kind = canon_pandas_kind(obj);
  if (kind == 0 || obj->u.obj->state == NULL || obj->u.obj->state->kind != VAL_DICT) return 0;
  if (sget(obj, "index") == NULL) return 0;
  if (kind == PANDAS_FRAME) {
    const Value *c = sget(obj, "columns");
    return c != NULL && c->kind == VAL_DICT && sget(obj, "dtypes") != NULL ? kind : 0;
  }
  return sget(obj, "values") != NULL && sget(obj, "dtype") != NULL ? kind : 0;
}

MfsStatus frame_columns_write(Buf *out, const Value *obj, Err *e) {
  const Value *c = sget(obj, "columns");
  Value list;
  memset(&list, 0, sizeof list);
  list.kind = VAL_LIST;
  list.u.seq.items = c->u.dict.keys;
  list.u.seq.n = list.u.seq.cap = c->u.dict.n;
  return json_container_doc(out, &list, e);
}

/* ---- columns ------------------------------------------------------------------------- */

static int numeric_kind(const Dtype *d) {
  if (d == NULL || d->byteorder == '>' || d->nfields > 0) return 0;
  switch (d->kind) {
    case 'b': return d->itemsize == 1;
    case 'i': case 'u': return d->itemsize == 1 || d->itemsize == 2 || d->itemsize == 4 || d->itemsize == 8;
    case 'f': return d->itemsize == 2 || d->itemsize == 4 || d->itemsize == 8;
    case 'M': return d->itemsize == 8 && d->unit != NULL && strcmp(d->unit, "ns") == 0;
    default: return 0;
  }
}

/* Whether pandas would print this object-column value as str(value). */
static int printable(const Value *v) {
  v = json_unwrap(v);
  if (v == NULL) return 0;
  switch (v->kind) {
    case VAL_NONE: case VAL_BOOL: case VAL_INT: case VAL_BIGINT: case VAL_FLOAT: case VAL_STR:
    case VAL_TEXT:
      return 1;
    case VAL_BYTES: return (v->flags & VF_PY2STR) != 0;
    case VAL_SCALAR: {
      const Dtype *d = v->u.scalar->dtype ? v->u.scalar->dtype->u.dtype : NULL;
      return d != NULL && (d->kind == 'b' || d->kind == 'i' || d->kind == 'u' || d->kind == 'f' || d->kind == 'U');
    }
    default: return 0;
  }
}

/* The column's values (an array or a list) as a Col, bytes not read yet; 0 when
** frame.csv cannot show it as pandas does. */
static int col_shape(const Value *v, Col *c) {
  memset(c, 0, sizeof *c);
  if (v == NULL) return 0;
  const Value *list = v->kind == VAL_LIST ? v : NULL;
  if (v->kind == VAL_NDARRAY) {
    if (v->u.arr->ndim != 1 || v->u.arr->error != NULL) return 0;
    if (v->u.arr->objects != NULL) {
      list = v->u.arr->objects;
    } else {
      c->d = dtype_of(v);
      c->n = v->u.arr->shape[0];
      return numeric_kind(c->d) && v->u.arr->data.len == c->n * c->d->itemsize;
    }
  }
  if (list == NULL || list->kind != VAL_LIST) return 0;
  c->items = list->u.seq.items;
  c->n = list->u.seq.n;
  for (uint64_t i = 0; i < c->n; i++)
    if (!printable(c->items[i])) return 0;
  return 1;
}

/* The index as a Col: a RangeIndex, or its values. */
static int index_shape(const Value *idx, Col *c) {
  memset(c, 0, sizeof *c);
  if (idx == NULL || idx->kind != VAL_OBJECT || idx->u.obj->state == NULL ||
      idx->u.obj->state->kind != VAL_DICT)
    return 0;
  const Value *start = sget(idx, "start"), *stop = sget(idx, "stop"), *step = sget(idx, "step");
  if (start && stop && step && start->kind == VAL_INT && stop->kind == VAL_INT &&
      step->kind == VAL_INT && step->u.i != 0 && sget(idx, "values") == NULL) {
    int64_t a = start->u.i, b = stop->u.i, s = step->u.i;
    c->range = 1;
    c->start = a;
    c->step = s;
    c->n = s > 0 ? (b > a ? (uint64_t)((b - a + s - 1) / s) : 0)
                 : (a > b ? (uint64_t)((a - b - s - 1) / -s) : 0);
    return 1;
  }
  return col_shape(sget(idx, "values"), c);
}

static int64_t load_i64(const uint8_t *p) {
  int64_t v;
  memcpy(&v, p, 8);
  return v;
}

/* pandas' datetime format for the whole column: dates only when every value is
** a midnight, else as many fraction digits as the finest value needs. */
static void datetime_digits(Col *c) {
  int dates = 1, digits = 0;
  for (uint64_t i = 0; i < c->n; i++) {
    int64_t ns = load_i64(c->bytes + i * 8);
    if (ns == NAT) continue;
    int64_t r = ns % 86400000000000LL;
    if (r != 0) dates = 0;
    if (ns % 1000 != 0) digits = 9;
    else if (ns % 1000000 != 0 && digits < 6) digits = 6;
    else if (ns % 1000000000 != 0 && digits < 3) digits = 3;
  }
  c->digits = dates ? -1 : digits;
}

static MfsStatus col_load(const Value *v, Col *c, Err *e) {
  if (c->d == NULL) return MFS_OK;
  uint64_t len = c->n * c->d->itemsize;
  c->bytes = malloc(len ? (size_t)len : 1);
  if (c->bytes == NULL) return err_set(e, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
  if (blob_read(&v->u.arr->data, 0, c->bytes, (size_t)len, e) != MFS_OK) return e->code;
  if (c->d->kind == 'M') datetime_digits(c);
  return MFS_OK;
}

/* ---- fields -------------------------------------------------------------------------- */

static void put_field(Buf *out, const char *s, size_t n) {
  if (memchr(s, ',', n) == NULL && memchr(s, '"', n) == NULL && memchr(s, '\n', n) == NULL) {
    buf_add(out, s, n);
    return;
  }
  buf_putc(out, '"');
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '"') buf_putc(out, '"');
    buf_putc(out, s[i]);
  }
  buf_putc(out, '"');
}

/* Proleptic Gregorian date of a day count from 1970-01-01 (H. Hinnant's algorithm). */
static void civil(int64_t days, int64_t *y, unsigned *m, unsigned *d) {
  days += 719468;
  int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  unsigned doe = (unsigned)(days - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static void datetime_text(Buf *b, int64_t ns, int digits) {
  int64_t sec = ns / 1000000000, frac = ns % 1000000000;
  if (frac < 0) {
    frac += 1000000000;
    sec--;
  }
  int64_t days = sec / 86400, s = sec % 86400;
  if (s < 0) {
    s += 86400;
    days--;
  }
  int64_t y;
  unsigned m, d;
  civil(days, &y, &m, &d);
  buf_printf(b, "%04lld-%02u-%02u", (long long)y, m, d);
  if (digits < 0) return;
  buf_printf(b, " %02d:%02d:%02d", (int)(s / 3600), (int)(s / 60 % 60), (int)(s % 60));
  if (digits == 3) buf_printf(b, ".%03d", (int)(frac / 1000000));
  else if (digits == 6) buf_printf(b, ".%06d", (int)(frac / 1000));
  else if (digits == 9) buf_printf(b, ".%09d", (int)frac);
}

static int is_missing(const Value *v) {
  v = json_unwrap(v);
  if (v->kind == VAL_NONE) return 1;
  if (v->kind == VAL_FLOAT) return isnan(v->u.f);
  if (v->kind == VAL_SCALAR && v->u.scalar->dtype && v->u.scalar->dtype->u.dtype->kind == 'f') {
    Buf t;
    buf_init(&t);
    text_element(&t, v->u.scalar->dtype->u.dtype, v->u.scalar->data.mem, 0);
    int nan = t.len == 3 && memcmp(t.p, "nan", 3) == 0;
    buf_free(&t);
    return nan;
  }
  return 0;
}

/* Row r of a column, as pandas writes it. */
static void cell(Buf *out, const Col *c, uint64_t r, Err *e) {
  Buf t;
  buf_init(&t);
  if (c->range) {
    buf_printf(&t, "%lld", (long long)(c->start + (int64_t)r * c->step));
  } else if (c->d != NULL && c->d->kind == 'M') {
    int64_t ns = load_i64(c->bytes + r * 8);
    if (ns != NAT) datetime_text(&t, ns, c->digits);
  } else if (c->d != NULL) {
    text_element(&t, c->d, c->bytes + r * c->d->itemsize, 0);
    if (c->d->kind == 'f' && t.len == 3 && memcmp(t.p, "nan", 3) == 0) t.len = 0;
  } else if (!is_missing(c->items[r])) {
    text_scalar(&t, json_unwrap(c->items[r]), e);
  }
  put_field(out, t.p ? t.p : "", t.len);
  buf_free(&t);
}

static void label(Buf *out, const Value *v, const char *none, Err *e) {
  Buf t;
  buf_init(&t);
  if (v == NULL || json_unwrap(v)->kind == VAL_NONE) buf_puts(&t, none);
  else text_scalar(&t, json_unwrap(v), e);
  put_field(out, t.p ? t.p : "", t.len);
  buf_free(&t);
}

/* ---- the whole frame ------------------------------------------------------------------ */

/* The frame's value columns (a Series is one, labelled by its name or 0). */
typedef struct Frame {
  const Value *const *labels;
  const Value *const *vals;
  uint64_t ncols;
  const Value *series_label[1];
  const Value *series_val[1];
} Frame;

static int frame_of(const Value *obj, Frame *f) {
  int kind = frame_applies(obj);
  if (kind == PANDAS_FRAME) {
    const Value *c = sget(obj, "columns");
    f->labels = (const Value *const *)c->u.dict.keys;
    f->vals = (const Value *const *)c->u.dict.vals;
    f->ncols = c->u.dict.n;
    return 1;
  }
  if (kind != PANDAS_SERIES) return 0;
  f->series_label[0] = sget(obj, "name");
  f->series_val[0] = sget(obj, "values");
  f->labels = f->series_label;
  f->vals = f->series_val;
  f->ncols = 1;
  return 1;
}

/* A dtype name with a time zone ("datetime64[ns, UTC]"): pandas prints offsets. */
static int zoned(const Value *name) {
  return name != NULL && name->kind == VAL_STR && memchr(name->u.str.s, ',', name->u.str.len);
}

int frame_csv_applies(const Value *obj) {
  Frame f;
  Col c, ix;
  if (!frame_of(obj, &f) || !index_shape(sget(obj, "index"), &ix)) return 0;
  const Value *dt = sget(obj, "dtypes");
  for (size_t j = 0; dt != NULL && dt->kind == VAL_DICT && j < dt->u.dict.n; j++)
    if (zoned(dt->u.dict.vals[j])) return 0;
  if (zoned(sget(obj, "dtype"))) return 0;
  if (ix.n > 0 && f.ncols > MFS_MAX_CSV_CELLS / ix.n) return 0;
  for (uint64_t j = 0; j < f.ncols; j++) {
    const Value *l = json_unwrap(f.labels[j]);
    if (l == NULL || !printable(l) || !col_shape(f.vals[j], &c) || c.n != ix.n) return 0;
  }
  return 1;
}

MfsStatus frame_csv_write(Buf *out, const Value *obj, Err *e) {
  Frame f;
  if (!frame_csv_applies(obj) || !frame_of(obj, &f))
    return err_set(e, MFS_EIO, MFS_NO_OFFSET, "frame cannot be written as CSV");
  const Value *idx = sget(obj, "index");
  Col ix;
  Col *cols = calloc(f.ncols ? (size_t)f.ncols : 1, sizeof *cols);
  if (cols == NULL) return err_set(e, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
  MfsStatus st = index_shape(idx, &ix) ? col_load(sget(idx, "values"), &ix, e) : MFS_EIO;
  for (uint64_t j = 0; st == MFS_OK && j < f.ncols; j++) {
    col_shape(f.vals[j], &cols[j]);
    st = col_load(f.vals[j], &cols[j], e);
  }
  if (st == MFS_OK) {
    label(out, sget(idx, "name"), "", e);
    for (uint64_t j = 0; j < f.ncols; j++) {
      buf_putc(out, ',');
      label(out, f.labels[j], f.vals == f.series_val ? "0" : "", e);
    }
    buf_putc(out, '\n');
    for (uint64_t r = 0; r < ix.n && !out->oom; r++) {
      cell(out, &ix, r, e);
      for (uint64_t j = 0; j < f.ncols; j++) {
        buf_putc(out, ',');
        cell(out, &cols[j], r, e);
      }
      buf_putc(out, '\n');
    }
  }
  for (uint64_t j = 0; j < f.ncols; j++) free(cols[j].bytes);
  free(cols);
  free(ix.bytes);
  if (st == MFS_OK && out->oom) st = err_set(e, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
  return st;
}
