/*
** buf.h -- a growable byte buffer, and Python's repr of str and bytes.
*/
#ifndef MODELFS_BUF_H
#define MODELFS_BUF_H

#include <stddef.h>
#include <stdint.h>

/* A growable byte buffer.  On OOM it sets oom and drops further writes, so
** callers check once at the end. */
typedef struct Buf {
  char *p;
  size_t len, cap;
  int oom;
} Buf;

void buf_init(Buf *b);
void buf_free(Buf *b);
void buf_add(Buf *b, const void *p, size_t n);
/* Room for n more bytes at the end, to write in place and then count with
** buf_grew (at most n); NULL when out of memory (oom is set). */
char *buf_room(Buf *b, size_t n);
void buf_grew(Buf *b, size_t n);
void buf_puts(Buf *b, const char *s);
void buf_putc(Buf *b, char c);
void buf_printf(Buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hand over the bytes (NUL-terminated, malloc'd); the Buf is reset. */
char *buf_detach(Buf *b, size_t *len);

/* Python repr of str (UTF-8 in, surrogatepass allowed) and of bytes. */
void text_repr_str(Buf *b, const char *s, size_t n);
void text_repr_bytes(Buf *b, const uint8_t *p, size_t n);
/* Latin-1 bytes as UTF-8 text (Python-2 str). */
void text_latin1(Buf *b, const uint8_t *p, size_t n);

/* One code point as UTF-8. */
void buf_put_utf8(Buf *b, uint32_t cp);

#endif
