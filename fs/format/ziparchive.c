/*
** ziparchive.c -- the "zip" Format: a zip archive that is not a skops or PyTorch file
** (zipped pickles, .npz, bundles of a model with its notes) shown as a tree of its
** members; archive.c identifies each member by its bytes like a file.
**
** libzip reads the directory (through a zip_source over our Source, so a zip inside
** a compressed stream works too); member bytes are then served by offset: a stored
** member is a slice of the archive, a deflated one a streaming inflate over that
** slice with restart points.  Other methods (bzip2, lzma, ...) are read into memory
** when small.  A member whose encryption flag is set but whose bytes are a model in
** the clear is read as such (peers' scanners are bypassed that way); a really
** encrypted one is reported, never judged.  It must never extract anything to a host
** path: member names are attacker data and only ever become dict keys.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>
#include "modelfs/limits.h"
#include "modelfs/archive.h"
#include "modelfs/zipio.h"
#include "modelfs/identify.h"

/* ---- libzip over a Source ------------------------------------------------------ */

/* ---- members ------------------------------------------------------------------------- */

/* A Source over member i, or NULL with a reason. */
static Source *plain_member_source(zip_t *za, ZipIo *io, zip_uint64_t i, const zip_stat_t *st,
                                   const char *label, char *why, size_t cap) {
  if (st->size > MFS_MAX_ZIP_MEMBER_SIZE) {
    snprintf(why, cap, "member of %llu bytes is over the limit", (unsigned long long)st->size);
    return NULL;
  }
  if (st->size == 0) return source_from_memory("", 0, label);
  uint64_t off;
  int flagged = st->encryption_method != ZIP_EM_NONE;
  int found = (st->comp_method == ZIP_CM_STORE || st->comp_method == ZIP_CM_DEFLATE) &&
              zipio_member_offset(za, io, i, st->comp_size,
                                  flagged ? ZIP_FL_ENCRYPTED : ZIP_FL_COMPRESSED, &off);
  if (found && st->comp_method == ZIP_CM_STORE) {
    if (st->comp_size != st->size) {
      snprintf(why, cap, "stored member sizes disagree");
      return NULL;
    }
    return source_slice(io->src, off, st->size, label);
  }
  if (found) {
    Source *raw = source_slice(io->src, off, st->comp_size, label);
    Err e;
    err_clear(&e);
    Source *inf = raw ? source_decompress(raw, "deflate", &e) : NULL;
    source_unref(raw);
    if (inf == NULL) {
      snprintf(why, cap, "%s", e.msg);
      return NULL;
    }
    /* The directory's size bounds the member: a longer stream is cut there and a
    ** shorter one reads as truncated. */
    Source *s = source_slice(inf, 0, st->size, label);
    source_unref(inf);
    return s;
  }
  if (st->size > MFS_MAX_ZIP_MEMBER_IN_MEMORY) {
    snprintf(why, cap, "member compressed with method %d is too large to read into memory",
             (int)st->comp_method);
    return NULL;
  }
  zip_file_t *zf = zip_fopen_index(za, i, 0);
  uint8_t *buf = malloc((size_t)st->size);
  zip_int64_t n = zf && buf ? zip_fread(zf, buf, st->size) : -1;
  if (n != (zip_int64_t)st->size) {
    snprintf(why, cap, "cannot read member: %s", zf ? zip_file_strerror(zf) : zip_strerror(za));
    if (zf) zip_fclose(zf);
    free(buf);
    return NULL;
  }
  zip_fclose(zf);
  Source *s = source_from_memory(buf, (size_t)st->size, label);
  free(buf);
  return s;
}

/* A member whose "encrypted" flag is set may not be encrypted at all (a trick to
** make scanners skip it while an unzip that ignores the flag loads it): its bytes
** are read as if in the clear and kept when they identify as a model; really
** encrypted bytes do not, and the member stays "encrypted" (never judged safe). */
static Source *member_source(zip_t *za, ZipIo *io, zip_uint64_t i, const zip_stat_t *st,
                             const char *label, char *why, size_t cap) {
  if (st->encryption_method == ZIP_EM_NONE)
    return plain_member_source(za, io, i, st, label, why, cap);
  Source *s = NULL;
  if (st->encryption_method == ZIP_EM_TRAD_PKWARE &&
      (st->comp_method == ZIP_CM_STORE || st->comp_method == ZIP_CM_DEFLATE))
    s = plain_member_source(za, io, i, st, label, why, cap);
  if (s != NULL) {
    Ident id;
    identify_source(s, NULL, &id);
    if (ident_is_model(&id)) {
      model_set_meta_str(io->m, "zip_encryption_flag", "set, member not encrypted");
      return s;
    }
    source_unref(s);
  }
  snprintf(why, cap, "member is encrypted");
  return NULL;
}

static MfsStatus add_member(ArchiveBuild *ab, zip_t *za, ZipIo *io, zip_uint64_t i) {
  Model *m = ab->m;
  zip_stat_t st;
  if (zip_stat_index(za, i, 0, &st) != 0 || !(st.valid & ZIP_STAT_NAME))
    return err_set(&m->err, MFS_ECORRUPT, MFS_NO_OFFSET, "zip member %llu: %s",
                   (unsigned long long)i, zip_strerror(za));
  size_t nlen = strlen(st.name);
  if (nlen > 0 && st.name[nlen - 1] == '/') return MFS_OK;   /* directory entry */
  char label[1024], why[600] = "";
  snprintf(label, sizeof label, "%s:%s", m->path, st.name);
  Source *ms = member_source(za, io, i, &st, label, why, sizeof why);
  MfsStatus rc = archive_add(ab, st.name, ms, why, st.comp_method == ZIP_CM_STORE ? "store" : "deflate");
  source_unref(ms);
  return rc;
}

static int sniff(Source *src, const uint8_t *head, size_t n) {
  (void)src;
  return n >= 4 && (memcmp(head, "PK\x03\x04", 4) == 0 || memcmp(head, "PK\x05\x06", 4) == 0);
}

static MfsStatus decode(Model *m, Source *src) {
  ArchiveBuild ab;
  MfsStatus begun = archive_begin(&ab, m, "zip");
  if (begun != MFS_OK) return begun;
  ZipIo io;
  memset(&io, 0, sizeof io);
  io.src = src;
  io.m = m;
  zip_error_init(&io.error);
  zip_error_t zerr;
  zip_error_init(&zerr);
  zip_source_t *zs = zip_source_function_create(zipio_cb, &io, &zerr);
  zip_t *za = zs ? zip_open_from_source(zs, ZIP_RDONLY, &zerr) : NULL;
  if (za == NULL) {
    MfsStatus st = err_set(&m->err, MFS_ECORRUPT, MFS_NO_OFFSET, "not a readable zip archive: %s",
                           zip_error_strerror(&zerr));
    if (zs) zip_source_free(zs);
    zip_error_fini(&zerr);
    zip_error_fini(&io.error);
    return st;
  }
  zip_int64_t n = zip_get_num_entries(za, 0);
  MfsStatus st = MFS_OK;
  if (n < 0 || n > MFS_MAX_ZIP_MEMBERS)
    st = err_set(&m->err, MFS_ELIMIT, MFS_NO_OFFSET, "zip archive has %lld members",
                 (long long)n);
  for (zip_int64_t i = 0; i < n && st == MFS_OK; i++) {
    st = add_member(&ab, za, &io, (zip_uint64_t)i);
    /* A broken member is reported but the others are still shown. */
    if (st != MFS_OK && st != MFS_ENOMEM && st != MFS_ELIMIT) st = MFS_OK;
  }
  zip_discard(za);
  zip_error_fini(&zerr);
  zip_error_fini(&io.error);
  return st != MFS_OK ? st : m->err.code;
}

const Format format_ziparchive = {"zip", sniff, decode};
