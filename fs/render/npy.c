/*
** npy.c -- the texts numpy prints for dtypes, and the .npy header numpy.save
** (numpy 1.24) writes, byte for byte (FORMATS.md section 5).
**
** Mirrors numpy's own Python code: dtype_to_descr / _array_descr for the header,
** _dtype.__str__ for str(dtype), _write_array_header + _wrap_header for layout.
** Never reads array data; npy_read (reading .npy files) lives in npy_read.c.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "modelfs/limits.h"
#include "modelfs/npy.h"
#include "modelfs/buf.h"

static const Dtype *dtype_of(const Value *v) {
  return v != NULL && v->kind == VAL_DTYPE ? v->u.dtype : NULL;
}

/* '<', '>' or '|' as numpy's dtype.str shows it. */
static char order_char(const Dtype *d) {
  switch (d->kind) {
    case 'b': case 'S': case 'V': case 'O': return '|';
    case 'i': case 'u': if (d->itemsize == 1) return '|'; break;
    default: break;
  }
  return d->byteorder == '>' ? '>' : '<';
}

static void unit_suffix(Buf *b, const Dtype *d) {
  if (d->unit != NULL && d->unit[0] != '\0' && strcmp(d->unit, "generic") != 0)
    buf_printf(b, "[%s]", d->unit);
}

/* numpy's dtype.str: '<f8', '|b1', '<U5', '|S3', '<M8[ns]', '|O', '|V56'. */
static void typestr(Buf *b, const Dtype *d) {
  buf_putc(b, order_char(d));
  if (d->nfields > 0 || d->sub_base != NULL) {
    buf_printf(b, "V%llu", (unsigned long long)d->itemsize);
    return;
  }
  switch (d->kind) {
    case 'U': buf_printf(b, "U%llu", (unsigned long long)(d->itemsize / 4)); return;
    case 'O': buf_putc(b, 'O'); return;
    case 'M': case 'm':
      buf_printf(b, "%c8", d->kind);
      unit_suffix(b, d);
      return;
    default: buf_printf(b, "%c%llu", d->kind, (unsigned long long)d->itemsize);
  }
}

static void shape_tuple(Buf *b, int n, const uint64_t *shape) {
  buf_putc(b, '(');
  for (int i = 0; i < n; i++) {
    if (i) buf_puts(b, ", ");
    buf_printf(b, "%llu", (unsigned long long)shape[i]);
  }
  if (n == 1) buf_putc(b, ',');
  buf_putc(b, ')');
}

static void repr_cstr(Buf *b, const char *s) { text_repr_str(b, s ? s : "", s ? strlen(s) : 0); }

/* ---- dtype.descr ----------------------------------------------------------- */

static int array_descr(Buf *b, const Dtype *d, int depth);

static void field_name(Buf *b, const DtypeField *f) {
  if (f->title != NULL) {
    buf_putc(b, '(');
    repr_cstr(b, f->title);
    buf_puts(b, ", ");
    repr_cstr(b, f->name);
    buf_putc(b, ')');
  } else {
    repr_cstr(b, f->name);
  }
}

/* _array_descr of a record: fields in names order, gaps as ('', '|Vn').
** Returns 0 when numpy would refuse (overlapping or out-of-order fields). */
static int record_descr(Buf *b, const Dtype *d, int depth) {
  uint64_t offset = 0;
  int first = 1;
  buf_putc(b, '[');
  for (size_t i = 0; i < d->nfields; i++) {
    const DtypeField *f = &d->fields[i];
    const Dtype *fd = dtype_of(f->dtype);
    if (fd == NULL || f->offset < offset) return 0;
    if (!first) buf_puts(b, ", ");
    first = 0;
    if (f->offset > offset) {
      buf_printf(b, "('', '|V%llu'), ", (unsigned long long)(f->offset - offset));
      offset = f->offset;
    }
    buf_putc(b, '(');
    field_name(b, f);
    buf_puts(b, ", ");
    const Dtype *base = dtype_of(fd->sub_base);
    if (base != NULL) {
      if (!array_descr(b, base, depth + 1)) return 0;
      buf_puts(b, ", ");
      shape_tuple(b, fd->sub_ndim, fd->sub_shape);
    } else if (!array_descr(b, fd, depth + 1)) {
      return 0;
    }
    buf_putc(b, ')');
    offset += fd->itemsize;
  }
  if (d->itemsize > offset) {
    if (!first) buf_puts(b, ", ");
    buf_printf(b, "('', '|V%llu')", (unsigned long long)(d->itemsize - offset));
  }
  buf_putc(b, ']');
  return 1;
}

static int array_descr(Buf *b, const Dtype *d, int depth) {
  if (depth > MFS_MAX_DEPTH) return 0;
  if (d->nfields > 0) return record_descr(b, d, depth);
  const Dtype *base = dtype_of(d->sub_base);
  if (base != NULL) {
    buf_putc(b, '(');
    if (!array_descr(b, base, depth + 1)) return 0;
    buf_puts(b, ", ");
    shape_tuple(b, d->sub_ndim, d->sub_shape);
    buf_putc(b, ')');
    return 1;
  }
  Buf t;
  buf_init(&t);
  typestr(&t, d);
  text_repr_str(b, t.p ? t.p : "", t.len);
  buf_free(&t);
  return 1;
}

/* The header's descr as Python source text; NULL when numpy could not save it. */
static char *descr_repr(const Dtype *d) {
  Buf b;
  buf_init(&b);
  int ok;
  if (d->nfields > 0) {
    ok = record_descr(&b, d, 0);
  } else {
    Buf t;
    buf_init(&t);
    typestr(&t, d);
    text_repr_str(&b, t.p ? t.p : "", t.len);
    buf_free(&t);
    ok = 1;
  }
  if (!ok) {
    buf_free(&b);
    return NULL;
  }
  return buf_detach(&b, NULL);
}

char *npy_descr(const Dtype *d) { return descr_repr(d); }

/* ---- str(dtype) ----------------------------------------------------------- */

static uint64_t dtype_alignment(const Dtype *d, int depth) {
  if (depth > 32) return 1;
  const Dtype *base = dtype_of(d->sub_base);
  if (base != NULL) return dtype_alignment(base, depth + 1);
  if (d->nfields > 0) {
    if (!d->aligned) return 1;
    uint64_t m = 1;
    for (size_t i = 0; i < d->nfields; i++) {
      const Dtype *fd = dtype_of(d->fields[i].dtype);
      uint64_t a = fd ? dtype_alignment(fd, depth + 1) : 1;
      if (a > m) m = a;
    }
    return m;
  }
  switch (d->kind) {
    case 'c': return d->itemsize / 2 ? d->itemsize / 2 : 1;
    case 'U': return 4;
    case 'S': case 'V': case 'b': return 1;
    default: return d->itemsize ? d->itemsize : 1;
  }
}

static uint64_t align_up(uint64_t off, uint64_t a) { return a > 1 ? (off + a - 1) / a * a : off; }

static int is_packed(const Dtype *d) {
  uint64_t total = 0, maxal = 1;
  for (size_t i = 0; i < d->nfields; i++) {
    const Dtype *fd = dtype_of(d->fields[i].dtype);
    if (fd == NULL) return 0;
    if (d->aligned) {
      uint64_t a = dtype_alignment(fd, 0);
      total = align_up(total, a);
      if (a > maxal) maxal = a;
    }
    if (d->fields[i].offset != total) return 0;
    total += fd->itemsize;
  }
  if (d->aligned) total = align_up(total, maxal);
  return total == d->itemsize;
}

static void construction_repr(Buf *b, const Dtype *d, int depth);

static void scalar_str_short(Buf *b, const Dtype *d) {
  char o = order_char(d);
  const char *bo = o == '|' ? "" : o == '>' ? ">" : "<";
  switch (d->kind) {
    case 'b': buf_puts(b, "'?'"); return;
    case 'O': buf_puts(b, "'O'"); return;
    case 'S': buf_printf(b, "'S%llu'", (unsigned long long)d->itemsize); return;
    case 'U': buf_printf(b, "'%sU%llu'", bo, (unsigned long long)(d->itemsize / 4)); return;
    case 'V': buf_printf(b, "'V%llu'", (unsigned long long)d->itemsize); return;
    case 'M': case 'm':
      buf_printf(b, "'%s%c8", bo, d->kind);
      unit_suffix(b, d);
      buf_putc(b, '\'');
      return;
    default: buf_printf(b, "'%s%c%llu'", bo, d->kind, (unsigned long long)d->itemsize);
  }
}

static void subarray_str(Buf *b, const Dtype *d, int depth) {
  buf_putc(b, '(');
  construction_repr(b, dtype_of(d->sub_base), depth + 1);
  buf_puts(b, ", ");
  shape_tuple(b, d->sub_ndim, d->sub_shape);
  buf_putc(b, ')');
}

static void struct_list_str(Buf *b, const Dtype *d, int depth) {
  buf_putc(b, '[');
  for (size_t i = 0; i < d->nfields; i++) {
    const DtypeField *f = &d->fields[i];
    const Dtype *fd = dtype_of(f->dtype);
    if (i) buf_puts(b, ", ");
    buf_putc(b, '(');
    field_name(b, f);
    buf_puts(b, ", ");
    if (fd != NULL && dtype_of(fd->sub_base) != NULL) {
      construction_repr(b, dtype_of(fd->sub_base), depth + 1);
      buf_puts(b, ", ");
      shape_tuple(b, fd->sub_ndim, fd->sub_shape);
    } else {
      construction_repr(b, fd, depth + 1);
    }
    buf_putc(b, ')');
  }
  buf_putc(b, ']');
}

static void struct_dict_str(Buf *b, const Dtype *d, int include_align, int depth) {
  int titles = 0;
  buf_puts(b, "{'names': [");
  for (size_t i = 0; i < d->nfields; i++) {
    if (i) buf_puts(b, ", ");
    repr_cstr(b, d->fields[i].name);
    if (d->fields[i].title) titles = 1;
  }
  buf_puts(b, "], 'formats': [");
  for (size_t i = 0; i < d->nfields; i++) {
    if (i) buf_puts(b, ", ");
    construction_repr(b, dtype_of(d->fields[i].dtype), depth + 1);
  }
  buf_puts(b, "], 'offsets': [");
  for (size_t i = 0; i < d->nfields; i++)
    buf_printf(b, "%s%llu", i ? ", " : "", (unsigned long long)d->fields[i].offset);
  if (titles) {
    buf_puts(b, "], 'titles': [");
    for (size_t i = 0; i < d->nfields; i++) {
      if (i) buf_puts(b, ", ");
      if (d->fields[i].title) repr_cstr(b, d->fields[i].title);
      else buf_puts(b, "None");
    }
  }
  buf_printf(b, "], 'itemsize': %llu", (unsigned long long)d->itemsize);
  buf_puts(b, include_align && d->aligned ? ", 'aligned': True}" : "}");
}

static void struct_str(Buf *b, const Dtype *d, int include_align, int depth) {
  if (!(include_align && d->aligned) && is_packed(d)) struct_list_str(b, d, depth);
  else struct_dict_str(b, d, include_align, depth);
}

static void construction_repr(Buf *b, const Dtype *d, int depth) {
  if (d == NULL || depth > 64) buf_puts(b, "'?'");
  else if (d->nfields > 0) struct_str(b, d, 0, depth);
  else if (dtype_of(d->sub_base) != NULL) subarray_str(b, d, depth);
  else scalar_str_short(b, d);
}

static const char *kind_name(char kind) {
  switch (kind) {
    case 'i': return "int";
    case 'u': return "uint";
    case 'f': return "float";
    case 'c': return "complex";
    default: return NULL;
  }
}

char *npy_dtype_str(const Dtype *d) {
  Buf b;
  buf_init(&b);
  if (d->nfields > 0) {
    struct_str(&b, d, 1, 0);
  } else if (dtype_of(d->sub_base) != NULL) {
    subarray_str(&b, d, 0);
  } else if (d->kind == 'S' || d->kind == 'U' || d->kind == 'V' || order_char(d) == '>') {
    typestr(&b, d);
  } else if (d->kind == 'b') {
    buf_puts(&b, "bool");
  } else if (d->kind == 'O') {
    buf_puts(&b, "object");
  } else if (d->kind == 'M' || d->kind == 'm') {
    buf_puts(&b, d->kind == 'M' ? "datetime64" : "timedelta64");
    unit_suffix(&b, d);
  } else if (kind_name(d->kind) != NULL) {
    buf_printf(&b, "%s%llu", kind_name(d->kind), (unsigned long long)(8 * d->itemsize));
  } else {
    typestr(&b, d);
  }
  return buf_detach(&b, NULL);
}

/* ---- the .npy header --------------------------------------------------------- */

/* True when numpy would save the array with fortran_order True: data in Fortran
** order and not also C-contiguous (two axes longer than 1, no empty axis). */
static int npy_fortran(const NdArray *a) {
  if (!a->fortran) return 0;
  int longer = 0;
  for (int i = 0; i < a->ndim; i++) {
    if (a->shape[i] == 0) return 0;
    if (a->shape[i] > 1) longer++;
  }
  return longer >= 2;
}

/* Latin-1 bytes of UTF-8 text; 0 when a code point is above U+00FF. */
static int to_latin1(const char *s, size_t n, Buf *out) {
  size_t ascii = 0;
  while (ascii < n && (unsigned char)s[ascii] < 0x80) ascii++;
  buf_add(out, s, ascii);         /* all of it, nearly always: one copy */
  for (size_t i = ascii; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x80) {
      buf_putc(out, (char)c);
    } else if ((c == 0xc2 || c == 0xc3) && i + 1 < n && ((unsigned char)s[i + 1] & 0xc0) == 0x80) {
      buf_putc(out, (char)(((c & 0x03) << 6) | ((unsigned char)s[i + 1] & 0x3f)));
      i++;
    } else {
      return 0;
    }
  }
  return 1;
}

/* Padding, added in one copy (readdirplus sizes every .npy by its header). */
static const char SPACES[65] = "                                                                ";

char *npy_header(const NdArray *a, size_t *len, int *fortran_order, Err *e) {
  const Dtype *d = dtype_of(a->dtype);
  if (d == NULL) {
    err_set(e, MFS_ECORRUPT, MFS_NO_OFFSET, "array without a dtype");
    return NULL;
  }
  if (d->kind == 'O') {
    err_set(e, MFS_EUNSUPPORTED, MFS_NO_OFFSET, "object arrays have no .npy form here");
    return NULL;
  }
  char *descr = descr_repr(d);
  if (descr == NULL) {
    err_set(e, MFS_EUNSUPPORTED, MFS_NO_OFFSET,
            "dtype has overlapping or out-of-order fields (numpy.save refuses it)");
    return NULL;
  }
  int fo = npy_fortran(a);
  Buf h;
  buf_init(&h);
  buf_printf(&h, "{'descr': %s, 'fortran_order': %s, 'shape': ", descr, fo ? "True" : "False");
  free(descr);
  shape_tuple(&h, a->ndim, a->shape);
  buf_puts(&h, ", }");
  if (a->ndim > 0) {
    char dim[24];
    int n = snprintf(dim, sizeof dim, "%llu", (unsigned long long)a->shape[fo ? a->ndim - 1 : 0]);
    if (n < 21) buf_add(&h, SPACES, (size_t)(21 - n));
  }
  Buf enc;
  buf_init(&enc);
  int major = 1, prefix = 10;
  if (!to_latin1(h.p ? h.p : "", h.len, &enc)) {
    buf_free(&enc);
    buf_init(&enc);
    buf_add(&enc, h.p, h.len);
    major = 3;
    prefix = 12;
  }
  buf_free(&h);
  size_t hlen = enc.len + 1;
  size_t pad = 64 - ((prefix + hlen) % 64);
  if (major == 1 && hlen + pad > 65535) {
    major = 2;
    prefix = 12;
    pad = 64 - ((prefix + hlen) % 64);
  }
  Buf out;
  buf_init(&out);
  buf_add(&out, "\x93NUMPY", 6);
  buf_putc(&out, (char)major);
  buf_putc(&out, 0);
  uint64_t total = hlen + pad;
  if (major == 1) {
    buf_putc(&out, (char)(total & 0xff));
    buf_putc(&out, (char)(total >> 8));
  } else {
    for (int i = 0; i < 4; i++) buf_putc(&out, (char)((total >> (8 * i)) & 0xff));
  }
  buf_add(&out, enc.p ? enc.p : "", enc.len);
  buf_free(&enc);
  buf_add(&out, SPACES, pad);     /* pad <= 64 */
  buf_putc(&out, '\n');
  char *res = buf_detach(&out, len);
  if (res == NULL) {
    err_set(e, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
    return NULL;
  }
  if (fortran_order) *fortran_order = fo;
  return res;
}
