/*
** buf.c -- the growable byte buffer every text is built in, and Python's repr of
** str and bytes.  The lowest piece of the renderer: it knows no dtype and no
** value, so npy.c and text.c can both stand on it.
*/
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "modelfs/buf.h"
#include "modelfs/utf8.h"

/* ---- Buf ---------------------------------------------------------------- */

void buf_init(Buf *b) { memset(b, 0, sizeof *b); }

void buf_free(Buf *b) {
  free(b->p);
  buf_init(b);
}

static int buf_reserve(Buf *b, size_t n) {
  if (b->oom) return 0;
  if (n <= b->cap - b->len && b->p != NULL) return 1;
  size_t cap = b->cap ? b->cap : 64;
  while (cap - b->len < n + 1) {
    if (cap > SIZE_MAX / 2) {
      b->oom = 1;
      return 0;
    }
    cap *= 2;
  }
  char *p = realloc(b->p, cap);
  if (p == NULL) {
    b->oom = 1;
    return 0;
  }
  b->p = p;
  b->cap = cap;
  return 1;
}

void buf_add(Buf *b, const void *p, size_t n) {
  if (!buf_reserve(b, n + 1)) return;
  if (n) memcpy(b->p + b->len, p, n);
  b->len += n;
  b->p[b->len] = '\0';
}

char *buf_room(Buf *b, size_t n) {
  return buf_reserve(b, n + 1) ? b->p + b->len : NULL;
}

void buf_grew(Buf *b, size_t n) {
  b->len += n;
  b->p[b->len] = '\0';
}

void buf_puts(Buf *b, const char *s) { buf_add(b, s, strlen(s)); }
void buf_putc(Buf *b, char c) { buf_add(b, &c, 1); }

void buf_printf(Buf *b, const char *fmt, ...) {
  char small[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n < sizeof small) {
    buf_add(b, small, (size_t)n);
    return;
  }
  if (!buf_reserve(b, (size_t)n + 1)) return;
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

char *buf_detach(Buf *b, size_t *len) {
  if (b->oom) {
    buf_free(b);
    return NULL;
  }
  if (b->p == NULL) buf_add(b, "", 0);
  if (b->oom) return NULL;
  char *p = b->p;
  if (len) *len = b->len;
  buf_init(b);
  return p;
}

/* ---- strings --------------------------------------------------------------- */

void buf_put_utf8(Buf *b, uint32_t cp) {
  uint8_t o[4];
  buf_add(b, o, utf8_encode(o, cp));
}

/* Python's str.isprintable, for the categories real data meets (C*, Z* but
** space).  Unassigned code points are not known here and count as printable. */
static int py_printable(uint32_t c) {
  if (c < 0x20 || (c >= 0x7f && c <= 0xa0) || c == 0xad) return 0;
  if (c < 0x300) return 1;
  if ((c >= 0x600 && c <= 0x605) || c == 0x61c || c == 0x6dd || c == 0x70f || c == 0x8e2 ||
      c == 0x1680 || c == 0x180e)
    return 0;
  if ((c >= 0x2000 && c <= 0x200f) || (c >= 0x2028 && c <= 0x202f) ||
      (c >= 0x205f && c <= 0x206f) || c == 0x3000)
    return 0;
  if ((c >= 0xd800 && c <= 0xf8ff) || (c >= 0xfdd0 && c <= 0xfdef) || c == 0xfeff ||
      (c >= 0xfff9 && c <= 0xfffb))
    return 0;
  if ((c & 0xfffe) == 0xfffe) return 0;
  if (c == 0x110bd || c == 0x110cd || (c >= 0x1bca0 && c <= 0x1bca3) ||
      (c >= 0x1d173 && c <= 0x1d17a) || c == 0xe0001 || (c >= 0xe0020 && c <= 0xe007f) ||
      c >= 0xf0000)
    return 0;
  return 1;
}

static char quote_for(const uint8_t *s, size_t n) {
  int sq = memchr(s, '\'', n) != NULL, dq = memchr(s, '"', n) != NULL;
  return sq && !dq ? '"' : '\'';
}

void text_repr_str(Buf *b, const char *str, size_t n) {
  const uint8_t *s = (const uint8_t *)str;
  char q = quote_for(s, n);
  buf_putc(b, q);
  for (size_t i = 0; i < n;) {
    uint8_t first = s[i];
    uint32_t c;
    if (!utf8_decode(s, n, &i, &c)) c = 0xdc00 + first;   /* as surrogateescape shows it */
    if (c == (uint32_t)q || c == '\\') {
      buf_putc(b, '\\');
      buf_putc(b, (char)c);
    } else if (c == '\t') buf_puts(b, "\\t");
    else if (c == '\n') buf_puts(b, "\\n");
    else if (c == '\r') buf_puts(b, "\\r");
    else if (py_printable(c)) buf_put_utf8(b, c);
    else if (c < 0x100) buf_printf(b, "\\x%02x", c);
    else if (c < 0x10000) buf_printf(b, "\\u%04x", c);
    else buf_printf(b, "\\U%08x", c);
  }
  buf_putc(b, q);
}

void text_repr_bytes(Buf *b, const uint8_t *s, size_t n) {
  char q = quote_for(s, n);
  buf_putc(b, 'b');
  buf_putc(b, q);
  for (size_t i = 0; i < n; i++) {
    uint8_t c = s[i];
    if (c == (uint8_t)q || c == '\\') {
      buf_putc(b, '\\');
      buf_putc(b, (char)c);
    } else if (c == '\t') buf_puts(b, "\\t");
    else if (c == '\n') buf_puts(b, "\\n");
    else if (c == '\r') buf_puts(b, "\\r");
    else if (c < 0x20 || c >= 0x7f) buf_printf(b, "\\x%02x", c);
    else buf_putc(b, (char)c);
  }
  buf_putc(b, q);
}

void text_latin1(Buf *b, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) buf_put_utf8(b, p[i]);
}
