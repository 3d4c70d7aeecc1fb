/*
** dtype.c -- numpy dtypes as values: parsing type strings, describing them.
**
** Pure functions over Values, shared by the pickle recognisers, the .npy reader
** and the renderer.  No I/O, and no walk here may follow dtype references
** without a depth bound: dtypes come from files.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "modelfs/dtype.h"
#include "modelfs/limits.h"

/* Largest element size numpy accepts (its itemsize is a C int). */
#define DTYPE_MAX_ITEMSIZE 0x7fffffffULL

static Value *dtype_fail(ValueSet *vs, const char *typestr, const char *why) {
  err_set(vs->err, MFS_ECORRUPT, MFS_NO_OFFSET, "data type '%.64s' not understood (%s)",
          typestr, why);
  return NULL;
}

/* numpy's one-character type codes (np.dtype('d') is float64, ...). */
static int char_code(char c, char *kind, uint64_t *size) {
  static const char codes[] = "?bBhHiIlLqQpPefdgFDGOSaUVMm";
  static const char kinds[] = "biuiuiuiuiuiuffffcccOSSUVMm";
  static const uint8_t sizes[] = {1, 1, 1, 2, 2, 4, 4, 8, 8, 8, 8, 8, 8, 2,
                                  4, 8, 16, 8, 16, 32, 8, 0, 0, 0, 0, 8, 8};
  const char *p = c ? strchr(codes, c) : NULL;
  if (p == NULL) return 0;
  size_t i = (size_t)(p - codes);
  *kind = kinds[i];
  *size = sizes[i];
  return 1;
}

static int valid_size(char kind, uint64_t n) {
  switch (kind) {
  case 'b': return n == 1;
  case 'i': case 'u': return n == 1 || n == 2 || n == 4 || n == 8;
  case 'f': return n == 2 || n == 4 || n == 8 || n == 12 || n == 16;
  case 'c': return n == 8 || n == 16 || n == 24 || n == 32;
  case 'O': return n == 4 || n == 8;
  case 'M': case 'm': return n == 8;
  default: return n <= DTYPE_MAX_ITEMSIZE;
  }
}

/* A datetime unit "[10us]": checked, the multiplier 1 dropped, "generic" -> NULL. */
static int parse_unit(ValueSet *vs, const char *s, size_t n, const char **unit) {
  static const char *const units[] = {"Y", "M", "W", "D", "h", "m", "s", "ms",
                                      "us", "ns", "ps", "fs", "as", NULL};
  if (n == 7 && memcmp(s, "generic", 7) == 0) {
    *unit = NULL;
    return 1;
  }
  size_t d = 0;
  while (d < n && s[d] >= '0' && s[d] <= '9') d++;
  if (d > 9) return 0;
  const char *base = s + d;
  size_t blen = n - d;
  int ok = 0;
  for (int i = 0; units[i]; i++)
    if (strlen(units[i]) == blen && memcmp(units[i], base, blen) == 0) ok = 1;
  if (!ok) return 0;
  long mult = d ? strtol(s, NULL, 10) : 1;
  if (mult <= 0) return 0;
  if (mult == 1) {
    s = base;
    n = blen;
  }
  *unit = arena_strndup(vs->arena, s, n);
  return *unit != NULL;
}

Value *dtype_from_str(ValueSet *vs, const char *typestr, char order) {
  const char *s = typestr;
  char bo = 0;
  if (*s == '<' || *s == '>' || *s == '|' || *s == '=') bo = *s++;
  char kind = 0;
  uint64_t size = 0;
  const char *digits = s + 1;
  if (*s != '\0' && *digits >= '0' && *digits <= '9' && strchr("biufcSaUVOMm", *s) != NULL) {
    kind = *s == 'a' ? 'S' : *s;
    char *end;
    unsigned long long n = strtoull(digits, &end, 10);
    if (end - digits > 12) return dtype_fail(vs, typestr, "size too large");
    size = n;
    s = end;
    if (kind == 'U') {
      if (size > DTYPE_MAX_ITEMSIZE / 4) return dtype_fail(vs, typestr, "size too large");
      size *= 4;
    }
    if (!valid_size(kind, kind == 'U' ? size / 4 : size))
      return dtype_fail(vs, typestr, "bad size");
  } else if (char_code(*s, &kind, &size)) {
    s++;
  } else {
    return dtype_fail(vs, typestr, "unknown type");
  }
  const char *unit = NULL;
  if (*s == '[') {
    const char *close = strchr(s, ']');
    if ((kind != 'M' && kind != 'm') || close == NULL || close[1] != '\0' ||
        !parse_unit(vs, s + 1, (size_t)(close - s - 1), &unit))
      return dtype_fail(vs, typestr, "bad datetime unit");
    s = close + 1;
  }
  if (*s != '\0') return dtype_fail(vs, typestr, "trailing characters");
  if (kind == 'O') size = 8;   /* pointers of the writer's platform: irrelevant here */
  if (order) bo = order;
  int single = size <= 1 || kind == 'S' || kind == 'V' || kind == 'O' || kind == 'b';
  if (single)
    bo = '|';
  else if (bo != '<' && bo != '>')
    bo = '<';   /* '=' and '|' mean native: little-endian here */
  Value *v = value_new(vs, VAL_DTYPE);
  if (v == NULL) return NULL;
  Dtype *d = arena_alloc(vs->arena, sizeof *d);
  if (d == NULL) {
    err_set(vs->err, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
    return NULL;
  }
  d->kind = kind;
  d->byteorder = bo;
  d->itemsize = size;
  d->unit = unit;
  v->u.dtype = d;
  return v;
}

int dtype_typestr(const Dtype *d, char *buf, size_t cap) {
  int n;
  char bo = d->byteorder ? d->byteorder : '|';
  if (d->nfields > 0 || d->sub_base != NULL || d->kind == 'V')
    n = snprintf(buf, cap, "|V%llu", (unsigned long long)d->itemsize);
  else if (d->kind == 'O')
    n = snprintf(buf, cap, "|O");
  else if (d->kind == 'U')
    n = snprintf(buf, cap, "%cU%llu", bo, (unsigned long long)(d->itemsize / 4));
  else if ((d->kind == 'M' || d->kind == 'm') && d->unit != NULL)
    n = snprintf(buf, cap, "%c%c%llu[%s]", bo, d->kind, (unsigned long long)d->itemsize, d->unit);
  else
    n = snprintf(buf, cap, "%c%c%llu", bo, d->kind, (unsigned long long)d->itemsize);
  return n < 0 || (size_t)n >= cap ? -1 : n;
}

static int has_object(const Dtype *d, int depth) {
  if (d->kind == 'O') return 1;
  if (depth > MFS_MAX_DTYPE_DEPTH) return 1;   /* cannot say: assume the worst */
  for (size_t i = 0; i < d->nfields; i++) {
    const Value *f = d->fields[i].dtype;
    if (f != NULL && f->kind == VAL_DTYPE && has_object(f->u.dtype, depth + 1)) return 1;
  }
  if (d->sub_base != NULL && d->sub_base->kind == VAL_DTYPE)
    return has_object(d->sub_base->u.dtype, depth + 1);
  return 0;
}

int dtype_has_object(const Dtype *d) { return has_object(d, 0); }
