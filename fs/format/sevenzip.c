/*
** sevenzip.c -- the "7z" Format: a 7-Zip archive (picklescan reads them, so people
** ship pickles in them) shown as a tree of its members, each identified by its
** bytes like a file (archive.c): a pickle inside a 7z is decoded and judged.
**
** libarchive reads the archive through callbacks over our Source (7z keeps its
** directory at the end, so it seeks).  7z members are solid-compressed streams with
** no offset to serve from, so each member is read into memory once, within
** MFS_MAX_ZIP_MEMBER_IN_MEMORY per member and MFS_MAX_GRAPH_BYTES for the archive
** (charged to the arena); a larger member is reported, never half-read.  It must
** never extract anything to a host path: member names only ever become dict keys.
**
** libarchive is opened (dlopen) the first time a 7z is decoded, not linked: it
** brings libxml2, ICU, libstdc++, nettle and more, whose loading took half of every
** modelfs start (~2 ms of CPU before a mount could answer), for a format few files
** have.  Without it a 7z is an error saying so; nothing else depends on it.
*/
#include <archive.h>
#include <archive_entry.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "modelfs/archive.h"
#include "modelfs/limits.h"

/* The library's file name (its soname), set by the Makefile from the one built against. */
#ifndef MFS_LIBARCHIVE_SONAME
#define MFS_LIBARCHIVE_SONAME "libarchive.so.13"
#endif

static const uint8_t magic[6] = {'7', 'z', 0xbc, 0xaf, 0x27, 0x1c};

/* ---- libarchive, opened on first use ------------------------------------------------ */

/* The functions used, typed from archive.h.  One table for the process, filled
** once (pthread_once) and never changed after: it stands for the binding the
** dynamic linker would have made at start. */
typedef struct LibArchive {
  __typeof__(archive_read_new) *read_new;
  __typeof__(archive_read_free) *read_free;
  __typeof__(archive_read_support_format_7zip) *support_7zip;
  __typeof__(archive_read_set_read_callback) *set_read_callback;
  __typeof__(archive_read_set_seek_callback) *set_seek_callback;
  __typeof__(archive_read_set_skip_callback) *set_skip_callback;
  __typeof__(archive_read_set_callback_data) *set_callback_data;
  __typeof__(archive_read_open1) *open1;
  __typeof__(archive_read_next_header) *next_header;
  __typeof__(archive_read_data) *read_data;
  __typeof__(archive_error_string) *error_string;
  __typeof__(archive_set_error) *set_error;
  __typeof__(archive_entry_size_is_set) *entry_size_is_set;
  __typeof__(archive_entry_size) *entry_size;
  __typeof__(archive_entry_pathname) *entry_pathname;
  __typeof__(archive_entry_filetype) *entry_filetype;
  char why[256];                /* empty when every function was found */
} LibArchive;

static LibArchive lib;
static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

/* Where each function found goes in the table. */
static const struct Symbol {
  const char *name;
  size_t at;
} SYMBOLS[] = {
  {"archive_read_new", offsetof(LibArchive, read_new)},
  {"archive_read_free", offsetof(LibArchive, read_free)},
  {"archive_read_support_format_7zip", offsetof(LibArchive, support_7zip)},
  {"archive_read_set_read_callback", offsetof(LibArchive, set_read_callback)},
  {"archive_read_set_seek_callback", offsetof(LibArchive, set_seek_callback)},
  {"archive_read_set_skip_callback", offsetof(LibArchive, set_skip_callback)},
  {"archive_read_set_callback_data", offsetof(LibArchive, set_callback_data)},
  {"archive_read_open1", offsetof(LibArchive, open1)},
  {"archive_read_next_header", offsetof(LibArchive, next_header)},
  {"archive_read_data", offsetof(LibArchive, read_data)},
  {"archive_error_string", offsetof(LibArchive, error_string)},
  {"archive_set_error", offsetof(LibArchive, set_error)},
  {"archive_entry_size_is_set", offsetof(LibArchive, entry_size_is_set)},
  {"archive_entry_size", offsetof(LibArchive, entry_size)},
  {"archive_entry_pathname", offsetof(LibArchive, entry_pathname)},
  {"archive_entry_filetype", offsetof(LibArchive, entry_filetype)},
};

/* Every function or none: the library stays out and every 7z says why. */
static void lib_load(void) {
  void *h = dlopen(MFS_LIBARCHIVE_SONAME, RTLD_NOW | RTLD_LOCAL);
  if (h == NULL) {
    const char *why = dlerror();
    snprintf(lib.why, sizeof lib.why, "cannot load %s: %s", MFS_LIBARCHIVE_SONAME,
             why ? why : "?");
    return;
  }
  for (size_t i = 0; i < sizeof SYMBOLS / sizeof *SYMBOLS; i++) {
    void *f = dlsym(h, SYMBOLS[i].name);
    if (f == NULL) {
      snprintf(lib.why, sizeof lib.why, "%s has no %s", MFS_LIBARCHIVE_SONAME, SYMBOLS[i].name);
      dlclose(h);
      return;
    }
    /* dlsym's object pointer into a function pointer: POSIX's own idiom. */
    memcpy((char *)&lib + SYMBOLS[i].at, &f, sizeof f);
  }
}

/* The table, or NULL with *why when libarchive cannot be used. */
static const LibArchive *libarchive(const char **why) {
  pthread_once(&lib_once, lib_load);
  *why = lib.why;
  return lib.why[0] ? NULL : &lib;
}

/* ---- libarchive over a Source ------------------------------------------------------ */

typedef struct Io {
  Source *src;
  uint64_t pos;
  uint8_t buf[64 * 1024];
} Io;

static la_ssize_t io_read(struct archive *a, void *ud, const void **out) {
  Io *io = ud;
  size_t got = 0;
  Err e;
  err_clear(&e);
  if (io->src->ops->read(io->src, io->pos, io->buf, sizeof io->buf, &got, &e) != MFS_OK) {
    lib.set_error(a, EIO, "%s", e.msg);
    return -1;
  }
  io->pos += got;
  *out = io->buf;
  return (la_ssize_t)got;
}

static la_int64_t io_seek(struct archive *a, void *ud, la_int64_t off, int whence) {
  Io *io = ud;
  (void)a;
  int64_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? (int64_t)io->pos
                                                             : (int64_t)io->src->size;
  if (off < -base || (uint64_t)(base + off) > io->src->size) return ARCHIVE_FATAL;
  io->pos = (uint64_t)(base + off);
  return (la_int64_t)io->pos;
}

static la_int64_t io_skip(struct archive *a, void *ud, la_int64_t n) {
  Io *io = ud;
  (void)a;
  uint64_t left = io->src->size - io->pos;
  uint64_t k = n < 0 ? 0 : (uint64_t)n < left ? (uint64_t)n : left;
  io->pos += k;
  return (la_int64_t)k;
}

/* ---- members --------------------------------------------------------------------------- */

/* The member's bytes in memory as a Source, or NULL with why. */
static Source *member_source(struct archive *a, Model *m, struct archive_entry *en,
                             const char *label, char *why, size_t cap) {
  int64_t declared = lib.entry_size_is_set(en) ? lib.entry_size(en) : -1;
  uint64_t limit = MFS_MAX_ZIP_MEMBER_IN_MEMORY;
  if (declared > (int64_t)limit) {
    snprintf(why, cap, "member of %lld bytes is too large to read into memory",
             (long long)declared);
    return NULL;
  }
  if (arena_bytes(m->vs.arena) + (uint64_t)(declared > 0 ? declared : 0) > MFS_MAX_GRAPH_BYTES) {
    snprintf(why, cap, "the archive's members read into memory exceed %llu MiB",
             (unsigned long long)(MFS_MAX_GRAPH_BYTES >> 20));
    return NULL;
  }
  size_t cap_bytes = declared >= 0 ? (size_t)declared : 1u << 16, n = 0;
  uint8_t *buf = malloc(cap_bytes ? cap_bytes : 1);
  for (;;) {
    if (buf == NULL) {
      snprintf(why, cap, "out of memory");
      return NULL;
    }
    if (n == cap_bytes) {
      if (declared >= 0 || cap_bytes >= limit) break;   /* all of it, or too much */
      cap_bytes *= 2;
      uint8_t *nb = realloc(buf, cap_bytes);
      if (nb == NULL) free(buf);
      buf = nb;
      continue;
    }
    la_ssize_t got = lib.read_data(a, buf + n, cap_bytes - n);
    if (got < 0) {
      snprintf(why, cap, "cannot read member: %s", lib.error_string(a));
      free(buf);
      return NULL;
    }
    if (got == 0) break;
    n += (size_t)got;
  }
  if (declared < 0 && n == cap_bytes && n >= limit) {
    snprintf(why, cap, "member is too large to read into memory");
    free(buf);
    return NULL;
  }
  int charged = n == 0 || arena_alloc(m->vs.arena, n) != NULL;   /* counted in the bound */
  Source *s = charged ? source_from_memory(buf, n, label) : NULL;
  free(buf);
  if (s == NULL) snprintf(why, cap, "out of memory");
  return s;
}

static MfsStatus add_entry(ArchiveBuild *ab, struct archive *a, struct archive_entry *en) {
  Model *m = ab->m;
  const char *path = lib.entry_pathname(en);
  /* py7zr (picklescan's fixtures) leaves the type unset: a file unless said otherwise */
  mode_t type = lib.entry_filetype(en);
  if (path == NULL || (type != AE_IFREG && type != 0)) return MFS_OK;
  char label[1024], why[600] = "";
  snprintf(label, sizeof label, "%s:%s", m->path, path);
  Source *ms = member_source(a, m, en, label, why, sizeof why);
  MfsStatus rc = archive_add(ab, path, ms, why, "7z");
  source_unref(ms);
  return rc;
}

/* ---- the Format -------------------------------------------------------------------------- */

static int sniff(Source *src, const uint8_t *head, size_t n) {
  (void)src;
  return n >= sizeof magic && memcmp(head, magic, sizeof magic) == 0;
}

static MfsStatus open_archive(Model *m, struct archive *a, Io *io) {
  if (lib.support_7zip(a) != ARCHIVE_OK || lib.set_read_callback(a, io_read) != ARCHIVE_OK ||
      lib.set_seek_callback(a, io_seek) != ARCHIVE_OK ||
      lib.set_skip_callback(a, io_skip) != ARCHIVE_OK ||
      lib.set_callback_data(a, io) != ARCHIVE_OK || lib.open1(a) != ARCHIVE_OK)
    return err_set(&m->err, MFS_ECORRUPT, MFS_NO_OFFSET, "not a readable 7z archive: %s",
                   lib.error_string(a) ? lib.error_string(a) : "unknown error");
  return MFS_OK;
}

static MfsStatus decode(Model *m, Source *src) {
  ArchiveBuild ab;
  MfsStatus st = archive_begin(&ab, m, "7z");
  if (st != MFS_OK) return st;
  if (src->size == SOURCE_SIZE_UNKNOWN)
    return err_set(&m->err, MFS_EUNSUPPORTED, MFS_NO_OFFSET,
                   "a 7z archive inside a compressed stream is not opened");
  const char *why;
  if (libarchive(&why) == NULL)
    return err_set(&m->err, MFS_EUNSUPPORTED, MFS_NO_OFFSET, "7z archives need libarchive: %s",
                   why);
  Io *io = calloc(1, sizeof *io);
  struct archive *a = io ? lib.read_new() : NULL;
  if (a == NULL) {
    free(io);
    return err_set(&m->err, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
  }
  io->src = src;
  st = open_archive(m, a, io);
  struct archive_entry *en;
  for (size_t count = 0; st == MFS_OK; count++) {
    int r = lib.next_header(a, &en);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      st = err_set(&m->err, MFS_ECORRUPT, MFS_NO_OFFSET, "7z archive: %s", lib.error_string(a));
      break;
    }
    if (count >= MFS_MAX_ZIP_MEMBERS)
      st = err_set(&m->err, MFS_ELIMIT, MFS_NO_OFFSET, "7z archive has more than %u members",
                   (unsigned)MFS_MAX_ZIP_MEMBERS);
    else
      st = add_entry(&ab, a, en);
    /* A broken member is reported but the others are still shown. */
    if (st != MFS_OK && st != MFS_ENOMEM && st != MFS_ELIMIT) st = MFS_OK;
  }
  lib.read_free(a);
  free(io);
  return st != MFS_OK ? st : m->err.code;
}

const Format format_sevenzip = {"7z", sniff, decode};
