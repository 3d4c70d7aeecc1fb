/*
** skops.c -- the skops Format: a zip holding schema.json plus .npy/.npz/.bin
** members, decoded into the same value graph the pickle decoder builds.
**
** Three layers, top to bottom:
**   - the zip: libzip over our Source (zip_source_function), members served as
**     Sources themselves (stored: a slice of the archive found through the local
**     header; deflated: inflated whole when small, else streamed on demand);
**   - the audit: one walk over the whole JSON tree that notes every name the
**     schema mentions (types.txt) and judges each node against that node type's
**     own default trust list, exactly as skops.io.get_untrusted_types does, but
**     without collapsing nodes that reuse an __id__ (skops hides those);
**   - the build: each node becomes what pickling the same object would have
**     produced (an estimator is VAL_OBJECT(global of its class, state dict), a
**     Tree its reduce args plus state, a numpy scalar VAL_SCALAR...).  Nodes that
**     share an __id__ share one Value, the first one built, as skops loads them.
**
** It must never import, resolve or call anything a schema names, never map a
** member name to a host path (names are only looked up inside the archive), and
** never read a member past the size its directory entry declares.
*/
#include <math.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cJSON.h>
#include <zip.h>
#include "modelfs/canon.h"
#include "modelfs/model.h"
#include "modelfs/dtype.h"
#include "modelfs/limits.h"
#include "modelfs/npy_read.h"
#include "modelfs/utf8.h"

/* ==== the zip archive over a Source ========================================= */

typedef struct ZipArc {
  zip_t *za;
  Source *src;             /* the archive bytes */
  pthread_mutex_t lock;    /* libzip handles are not thread safe */
  int refs;                /* atomic: the decoder plus every streamed member */
  uint64_t *lho;           /* local header offset per entry, from the central directory */
  uint64_t nlho;
  /* state of the zip_source callback */
  uint64_t pos;
  zip_error_t zerr;
  Err ioerr;
} ZipArc;

static zip_int64_t zsrc_callback(void *ud, void *data, zip_uint64_t len, zip_source_cmd_t cmd) {
  ZipArc *z = ud;
  switch (cmd) {
    case ZIP_SOURCE_OPEN:
      z->pos = 0;
      return 0;
    case ZIP_SOURCE_READ: {
      if (z->pos >= z->src->size) return 0;
      uint64_t n = z->src->size - z->pos < len ? z->src->size - z->pos : len;
      err_clear(&z->ioerr);
      if (source_read(z->src, z->pos, data, (size_t)n, &z->ioerr) != MFS_OK) {
        zip_error_set(&z->zerr, ZIP_ER_READ, 5 /* EIO */);
        return -1;
      }
      z->pos += n;
      return (zip_int64_t)n;
    }
    case ZIP_SOURCE_CLOSE:
      return 0;
    case ZIP_SOURCE_STAT: {
      zip_stat_t *st = data;
      if (len < sizeof *st) {
        zip_error_set(&z->zerr, ZIP_ER_INVAL, 0);
        return -1;
      }
      zip_stat_init(st);
      st->size = z->src->size;
      st->valid |= ZIP_STAT_SIZE;
      return sizeof *st;
    }
    case ZIP_SOURCE_ERROR:
      return zip_error_to_data(&z->zerr, data, len);
    case ZIP_SOURCE_FREE:
      return 0;
    case ZIP_SOURCE_SEEK: {
      zip_int64_t np = zip_source_seek_compute_offset(z->pos, z->src->size, data, len, &z->zerr);
      if (np < 0) return -1;
      z->pos = (uint64_t)np;
      return 0;
    }
    case ZIP_SOURCE_TELL:
      return (zip_int64_t)z->pos;
    case ZIP_SOURCE_SUPPORTS:
      return zip_source_make_command_bitmap(ZIP_SOURCE_OPEN, ZIP_SOURCE_READ, ZIP_SOURCE_CLOSE,
                                            ZIP_SOURCE_STAT, ZIP_SOURCE_ERROR, ZIP_SOURCE_FREE,
                                            ZIP_SOURCE_SEEK, ZIP_SOURCE_TELL, ZIP_SOURCE_SUPPORTS,
                                            -1);
    default:
      zip_error_set(&z->zerr, ZIP_ER_OPNOTSUPP, 0);
      return -1;
  }
}

static void ziparc_unref(ZipArc *z) {
  if (z == NULL || __atomic_sub_fetch(&z->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
  if (z->za) zip_discard(z->za);
  zip_error_fini(&z->zerr);
  pthread_mutex_destroy(&z->lock);
  source_unref(z->src);
  free(z->lho);
  free(z);
}

static uint32_t le16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t le32(const uint8_t *p) { return le16(p) | le16(p + 2) << 16; }
static uint64_t le64(const uint8_t *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

/* Find the central directory (plain or zip64) from the end-of-central-directory
** record.  0 when there is none we understand. */
static int cd_locate(Source *src, uint64_t *cd_off, uint64_t *count, Err *e) {
  uint64_t size = src->size;
  uint64_t span = size < 22 + 65535 ? size : 22 + 65535;
  if (span < 22) return 0;
  uint8_t *tail = malloc(span);
  if (tail == NULL) return 0;
  int found = 0;
  if (source_read(src, size - span, tail, span, e) == MFS_OK) {
    for (uint64_t i = span - 22 + 1; i-- > 0;) {
      const uint8_t *p = tail + i;
      if (memcmp(p, "PK\5\6", 4) != 0 || i + 22 + le16(p + 20) != span) continue;
      *count = le16(p + 10);
      *cd_off = le32(p + 16);
      found = 1;
      if ((*count == 0xffff || *cd_off == 0xffffffffu) && i >= 20 &&
          memcmp(p - 20, "PK\6\7", 4) == 0) {
        uint64_t z64 = le64(p - 20 + 8);
        uint8_t rec[56];
        if (z64 + 56 <= size && source_read(src, z64, rec, 56, e) == MFS_OK &&
            memcmp(rec, "PK\6\6", 4) == 0) {
          *count = le64(rec + 32);
          *cd_off = le64(rec + 48);
        } else {
          found = 0;
        }
      }
      break;
    }
  }
  free(tail);
  return found;
}

/* Local header offsets of every entry, in central directory order (libzip's index
** order).  On any doubt lho stays NULL and stored members are streamed instead. */
static void cd_read_offsets(ZipArc *z, uint64_t expect) {
  Err e;
  err_clear(&e);
  uint64_t cd_off = 0, count = 0;
  if (!cd_locate(z->src, &cd_off, &count, &e) || count != expect || count > MFS_MAX_ZIP_MEMBERS)
    return;
  uint64_t *lho = calloc(count ? count : 1, sizeof *lho);
  Reader r;
  if (lho == NULL || reader_init(&r, z->src, cd_off, &e) != MFS_OK) {
    free(lho);
    return;
  }
  uint64_t i = 0;
  for (; i < count; i++) {
    const uint8_t *h;
    if (reader_take(&r, 46, &h) != MFS_OK || memcmp(h, "PK\1\2", 4) != 0) break;
    uint32_t nlen = le16(h + 28), xlen = le16(h + 30), clen = le16(h + 32);
    uint64_t csize = le32(h + 20), usize = le32(h + 24), off = le32(h + 42);
    if (reader_skip(&r, nlen) != MFS_OK) break;
    const uint8_t *x;
    if (reader_take(&r, xlen, &x) != MFS_OK) break;
    /* zip64 extra field: the 0xffffffff fields, in order usize, csize, offset */
    for (uint32_t p = 0; p + 4 <= xlen;) {
      uint32_t id = le16(x + p), sz = le16(x + p + 2);
      if (p + 4 + sz > xlen) break;
      if (id == 1) {
        uint32_t q = p + 4;
        if (usize == 0xffffffffu && q + 8 <= p + 4 + sz) q += 8;
        if (csize == 0xffffffffu && q + 8 <= p + 4 + sz) q += 8;
        if (off == 0xffffffffu && q + 8 <= p + 4 + sz) off = le64(x + q);
      }
      p += 4 + sz;
    }
    lho[i] = off;
    if (reader_skip(&r, clen) != MFS_OK) break;
  }
  reader_done(&r);
  if (i != count) {
    free(lho);
    return;
  }
  z->lho = lho;
  z->nlho = count;
}

static MfsStatus zip_fail(Err *e, const char *what, zip_error_t *ze) {
  return err_set(e, MFS_ECORRUPT, MFS_NO_OFFSET, "zip: %s: %s", what,
                 ze ? zip_error_strerror(ze) : "error");
}

/* Open src as a zip archive of at most max_members members (checked from the
** end-of-directory record before libzip reads the directory, and again after). */
static ZipArc *ziparc_open(Source *src, uint64_t max_members, Err *e) {
  if (src->size == SOURCE_SIZE_UNKNOWN) {
    err_set(e, MFS_EUNSUPPORTED, MFS_NO_OFFSET, "zip: archive size unknown");
    return NULL;
  }
  uint64_t cd_off, declared;
  Err ignored;
  err_clear(&ignored);
  if (cd_locate(src, &cd_off, &declared, &ignored) && declared > max_members) {
    err_set(e, MFS_ELIMIT, MFS_NO_OFFSET, "zip: %llu members (limit %llu)",
            (unsigned long long)declared, (unsigned long long)max_members);
    return NULL;
  }
  ZipArc *z = calloc(1, sizeof *z);
  if (z == NULL) {
    err_set(e, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
    return NULL;
  }
  z->src = source_ref(src);
  z->refs = 1;
  pthread_mutex_init(&z->lock, NULL);
  zip_error_init(&z->zerr);
  err_clear(&z->ioerr);
  zip_error_t ze;
  zip_error_init(&ze);
  zip_source_t *zs = zip_source_function_create(zsrc_callback, z, &ze);
  if (zs != NULL) {
    z->za = zip_open_from_source(zs, ZIP_RDONLY, &ze);
    if (z->za == NULL) zip_source_free(zs);
  }
  if (z->za == NULL) {
    if (z->ioerr.code != MFS_OK) *e = z->ioerr;
    else zip_fail(e, "cannot open archive", &ze);
    zip_error_fini(&ze);
    ziparc_unref(z);
    return NULL;
  }
  zip_error_fini(&ze);
  zip_int64_t n = zip_get_num_entries(z->za, 0);
  if (n < 0 || (uint64_t)n > max_members) {
    err_set(e, MFS_ELIMIT, MFS_NO_OFFSET, "zip: %lld members (limit %llu)", (long long)n,
            (unsigned long long)max_members);
    ziparc_unref(z);
    return NULL;
  }
  cd_read_offsets(z, (uint64_t)n);
  return z;
}

/* ---- members as Sources ---------------------------------------------------- */

/* A deflated (or otherwise compressed) member too big to hold: inflated through
** libzip on demand.  One cursor; a read before it reopens the member. */
typedef struct StreamSource {
  Source base;
  ZipArc *arc;
  uint64_t index;
  uint64_t comp_size;      /* compressed bytes, from the central directory */
  zip_file_t *zf;
  uint64_t pos;
} StreamSource;

static MfsStatus stream_reopen(StreamSource *s, Err *e) {
  if (s->zf) zip_fclose(s->zf);
  s->zf = zip_fopen_index(s->arc->za, s->index, 0);
  s->pos = 0;
  if (s->zf == NULL) {
    if (s->arc->ioerr.code != MFS_OK) return err_set(e, s->arc->ioerr.code, MFS_NO_OFFSET, "%s", s->arc->ioerr.msg);
    return zip_fail(e, s->base.name, zip_get_error(s->arc->za));
  }
  return MFS_OK;
}

static MfsStatus stream_pull(StreamSource *s, void *buf, uint64_t n, uint64_t *got, Err *e) {
  zip_int64_t r = zip_fread(s->zf, buf, n);
  if (r < 0) {
    MfsStatus st = zip_fail(e, s->base.name, zip_file_get_error(s->zf));
    zip_fclose(s->zf);
    s->zf = NULL;
    return st;
  }
  *got = (uint64_t)r;
  s->pos += (uint64_t)r;
  return MFS_OK;
}

static MfsStatus stream_read(Source *src, uint64_t off, void *buf, size_t len, size_t *got, Err *e) {
  StreamSource *s = (StreamSource *)src;
  *got = 0;
  if (off >= src->size) return MFS_OK;
  if (len > src->size - off) len = (size_t)(src->size - off);
  pthread_mutex_lock(&s->arc->lock);
  MfsStatus st = MFS_OK;
  if (s->zf == NULL || off < s->pos) st = stream_reopen(s, e);
  static _Thread_local uint8_t scratch[64 * 1024];
  while (st == MFS_OK && s->pos < off) {
    uint64_t want = off - s->pos < sizeof scratch ? off - s->pos : sizeof scratch, n = 0;
    st = stream_pull(s, scratch, want, &n, e);
    if (st == MFS_OK && n == 0) break;
  }
  while (st == MFS_OK && s->pos == off + *got && *got < len) {
    uint64_t n = 0;
    st = stream_pull(s, (uint8_t *)buf + *got, len - *got, &n, e);
    if (n == 0) break;
    *got += (size_t)n;
  }
  pthread_mutex_unlock(&s->arc->lock);
  return st;
}

static void stream_destroy(Source *src) {
  StreamSource *s = (StreamSource *)src;
  if (s->zf) {
    pthread_mutex_lock(&s->arc->lock);
    zip_fclose(s->zf);
    pthread_mutex_unlock(&s->arc->lock);
  }
  ziparc_unref(s->arc);
  free(s);
}

/* The member's bytes are a function of the archive bytes libzip reads for it:
** its local header (30 bytes, a name and an extra field of at most 64 KiB each),
** its compressed bytes and a data descriptor (at most 24).  Summing those proves
** them after a touch or an append of the archive, and so the inflated bytes; a
** member whose local header offset is in doubt sums the whole archive. */
static MfsStatus stream_sum(Source *src, uint64_t off, uint64_t len, Err *e) {
  StreamSource *s = (StreamSource *)src;
  (void)off, (void)len;
  ZipArc *z = s->arc;
  if (z->lho == NULL || s->index >= z->nlho || s->comp_size > z->src->size)
    return source_sum(z->src, 0, UINT64_MAX, e);
  return source_sum(z->src, z->lho[s->index], 30 + 2 * 0xffffULL + s->comp_size + 24, e);
}

static const SourceOps stream_ops = {stream_read, stream_destroy, stream_sum};

/* Read a whole member of known size through libzip, checking it does not inflate
** to more than it declares (libzip also checks the CRC at the end). */
static MfsStatus member_inflate(ZipArc *z, uint64_t index, uint8_t *buf, uint64_t size,
                                const char *label, Err *e) {
  MfsStatus st = MFS_OK;
  pthread_mutex_lock(&z->lock);
  err_clear(&z->ioerr);
  zip_file_t *zf = zip_fopen_index(z->za, index, 0);
  if (zf == NULL) {
    st = zip_fail(e, label, zip_get_error(z->za));
  } else {
    uint64_t have = 0;
    while (have < size) {
      zip_int64_t r = zip_fread(zf, buf + have, size - have);
      if (r <= 0) break;
      have += (uint64_t)r;
    }
    uint8_t extra;
    zip_int64_t r = have == size ? zip_fread(zf, &extra, 1) : 0;
    if (z->ioerr.code != MFS_OK)
      st = err_set(e, z->ioerr.code, MFS_NO_OFFSET, "%s: %s", label, z->ioerr.msg);
    else if (have < size || r < 0)
      st = zip_fail(e, label, zip_file_get_error(zf));
    else if (r > 0)
      st = err_set(e, MFS_ECORRUPT, MFS_NO_OFFSET, "%s: inflates to more than the %llu bytes it declares",
                   label, (unsigned long long)size);
    zip_fclose(zf);
  }
  pthread_mutex_unlock(&z->lock);
  return st;
}

/* The data offset of a stored member: its local header says how long the name
** and extra fields are there (they may differ from the central directory's). */
static int stored_offset(ZipArc *z, uint64_t index, uint64_t size, uint64_t *data_off, Err *e) {
  if (z->lho == NULL || index >= z->nlho) return 0;
  uint8_t h[30];
  if (z->lho[index] > z->src->size || z->src->size - z->lho[index] < 30) return 0;
  if (source_read(z->src, z->lho[index], h, 30, e) != MFS_OK) return 0;
  if (memcmp(h, "PK\3\4", 4) != 0) return 0;
  uint64_t off = z->lho[index] + 30 + le16(h + 26) + le16(h + 28);
  if (off > z->src->size || size > z->src->size - off) return 0;
  *data_off = off;
  return 1;
}

static const char *method_name(zip_uint16_t m) {
  switch (m) {
    case ZIP_CM_STORE: return "store";
    case ZIP_CM_DEFLATE: return "deflate";
    case ZIP_CM_BZIP2: return "bz2";
    case ZIP_CM_LZMA: return "lzma";
    case ZIP_CM_XZ: return "xz";
    default: return "other";
  }
}

typedef struct Member {
  uint64_t index;
  uint64_t size;
  uint64_t comp_size;      /* UINT64_MAX when the directory does not say */
  const char *method;
} Member;

/* Look a member up by its exact name (never a host path). */
static MfsStatus member_find(ZipArc *z, const char *name, Member *mb, Err *e) {
  pthread_mutex_lock(&z->lock);
  zip_int64_t idx = zip_name_locate(z->za, name, 0);
  zip_stat_t st;
  int ok = idx >= 0 && zip_stat_index(z->za, (zip_uint64_t)idx, 0, &st) == 0;
  pthread_mutex_unlock(&z->lock);
  if (!ok)
    return err_set(e, MFS_ECORRUPT, MFS_NO_OFFSET,
                   "schema.json names member '%.200s', which is not in the archive", name);
  if ((st.valid & ZIP_STAT_SIZE) == 0 || (st.valid & ZIP_STAT_COMP_METHOD) == 0)
    return err_set(e, MFS_ECORRUPT, MFS_NO_OFFSET, "zip member '%.200s': no size", name);
  if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE)
    return err_set(e, MFS_EUNSUPPORTED, MFS_NO_OFFSET, "zip member '%.200s' is encrypted", name);
  if (st.size > MFS_MAX_ZIP_MEMBER_SIZE)
    return err_set(e, MFS_ELIMIT, MFS_NO_OFFSET,
                   "zip member '%.200s' declares %llu bytes (limit %llu)", name,
                   (unsigned long long)st.size, (unsigned long long)MFS_MAX_ZIP_MEMBER_SIZE);
  mb->index = (uint64_t)idx;
  mb->size = st.size;
  mb->comp_size = (st.valid & ZIP_STAT_COMP_SIZE) ? st.comp_size : UINT64_MAX;
  mb->method = method_name(st.comp_method);
  if (st.comp_method == ZIP_CM_STORE && (st.valid & ZIP_STAT_COMP_SIZE) && st.comp_size != st.size)
    return err_set(e, MFS_ECORRUPT, MFS_NO_OFFSET,
                   "zip member '%.200s' is stored but its sizes differ", name);
  return MFS_OK;
}

/* What a member Source holds outside the graph (inflated bytes, a streaming
** inflater) is charged to the model's arena (acct, when not NULL) as bytes that
** are reserved but never touched: they cost address space, not memory, and make
** the arena's size -- which MFS_MAX_GRAPH_BYTES and the mount's cache read --
** count them.  Many nodes may name the same small deflated member, each copy
** kept alive by its array: 3000 nodes x a 1 MB member (10 KB on disk) held 3 GB. */
static MfsStatus member_charge(Arena *acct, uint64_t n, Err *e) {
  if (acct == NULL) return MFS_OK;
  if (arena_bytes(acct) + n > MFS_MAX_GRAPH_BYTES)
    return err_set(e, MFS_ELIMIT, MFS_NO_OFFSET, "zip members inflated into memory exceed %llu MiB",
                   (unsigned long long)(MFS_MAX_GRAPH_BYTES >> 20));
  if (arena_alloc(acct, (size_t)n) == NULL)
    return err_set(e, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
  return MFS_OK;
}

/* A member as a Source: a slice of the archive when stored, the inflated bytes
** in memory when small, a streaming inflater otherwise (both charged to acct). */
static Source *member_open(ZipArc *z, const char *name, Arena *acct, Err *e) {
  Member mb;
  if (member_find(z, name, &mb, e) != MFS_OK) return NULL;
  char label[512];
  snprintf(label, sizeof label, "%s:%s", z->src->name ? z->src->name : "?", name);
  uint64_t off;
  if (strcmp(mb.method, "store") == 0 && stored_offset(z, mb.index, mb.size, &off, e))
    return source_slice(z->src, off, mb.size, label);
  if (mb.size <= MFS_ZIP_MEMBER_IN_MEMORY) {
    if (member_charge(acct, mb.size, e) != MFS_OK) return NULL;
    uint8_t *buf = malloc(mb.size ? mb.size : 1);
    if (buf == NULL) {
      err_set(e, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
      return NULL;
    }
    Source *s = NULL;
    if (member_inflate(z, mb.index, buf, mb.size, label, e) == MFS_OK)
      s = source_from_memory(buf, (size_t)mb.size, label);
    free(buf);
    if (s == NULL && e->code == MFS_OK) err_set(e, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
    return s;
  }
  if (member_charge(acct, MFS_ZIP_STREAM_COST, e) != MFS_OK) return NULL;
  StreamSource *s = calloc(1, sizeof *s);
  if (s == NULL) {
    err_set(e, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
    return NULL;
  }
  __atomic_add_fetch(&z->refs, 1, __ATOMIC_RELAXED);
  s->arc = z;
  s->index = mb.index;
  s->comp_size = mb.comp_size;
  source_init(&s->base, &stream_ops, label, mb.size);
  return &s->base;
}

/* ==== default trust lists ===================================================
** What skops v0.11 trusts by default, computed by skops at import time from the
** installed libraries; frozen here for scikit-learn 1.2.1, numpy 1.24, scipy 1.10
** (tests/test_skops.py recomputes them and fails when they drift).  Sorted for
** bsearch. */

/* sklearn.utils.all_estimators() of scikit-learn 1.2.1 (ObjectNode) */
static const char *const trust_estimators[] = {
    "sklearn.calibration.CalibratedClassifierCV",
    "sklearn.cluster._affinity_propagation.AffinityPropagation",
    "sklearn.cluster._agglomerative.AgglomerativeClustering",
    "sklearn.cluster._agglomerative.FeatureAgglomeration",
    "sklearn.cluster._bicluster.SpectralBiclustering",
    "sklearn.cluster._bicluster.SpectralCoclustering", "sklearn.cluster._birch.Birch",
    "sklearn.cluster._bisect_k_means.BisectingKMeans", "sklearn.cluster._dbscan.DBSCAN",
    "sklearn.cluster._kmeans.KMeans", "sklearn.cluster._kmeans.MiniBatchKMeans",
    "sklearn.cluster._mean_shift.MeanShift", "sklearn.cluster._optics.OPTICS",
    "sklearn.cluster._spectral.SpectralClustering",
    "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.compose._target.TransformedTargetRegressor",
    "sklearn.covariance._elliptic_envelope.EllipticEnvelope",
    "sklearn.covariance._empirical_covariance.EmpiricalCovariance",
    "sklearn.covariance._graph_lasso.GraphicalLasso",
    "sklearn.covariance._graph_lasso.GraphicalLassoCV",
    "sklearn.covariance._robust_covariance.MinCovDet",
    "sklearn.covariance._shrunk_covariance.LedoitWolf",
    "sklearn.covariance._shrunk_covariance.OAS",
    "sklearn.covariance._shrunk_covariance.ShrunkCovariance",
    "sklearn.cross_decomposition._pls.CCA", "sklearn.cross_decomposition._pls.PLSCanonical",
    "sklearn.cross_decomposition._pls.PLSRegression",
    "sklearn.cross_decomposition._pls.PLSSVD",
    "sklearn.decomposition._dict_learning.DictionaryLearning",
    "sklearn.decomposition._dict_learning.MiniBatchDictionaryLearning",
    "sklearn.decomposition._dict_learning.SparseCoder",
    "sklearn.decomposition._factor_analysis.FactorAnalysis",
    "sklearn.decomposition._fastica.FastICA",
    "sklearn.decomposition._incremental_pca.IncrementalPCA",
    "sklearn.decomposition._kernel_pca.KernelPCA",
    "sklearn.decomposition._lda.LatentDirichletAllocation",
    "sklearn.decomposition._nmf.MiniBatchNMF", "sklearn.decomposition._nmf.NMF",
    "sklearn.decomposition._pca.PCA",
    "sklearn.decomposition._sparse_pca.MiniBatchSparsePCA",
    "sklearn.decomposition._sparse_pca.SparsePCA",
    "sklearn.decomposition._truncated_svd.TruncatedSVD",
    "sklearn.discriminant_analysis.LinearDiscriminantAnalysis",
    "sklearn.discriminant_analysis.QuadraticDiscriminantAnalysis",
    "sklearn.dummy.DummyClassifier", "sklearn.dummy.DummyRegressor",
    "sklearn.ensemble._bagging.BaggingClassifier",
    "sklearn.ensemble._bagging.BaggingRegressor",
    "sklearn.ensemble._forest.ExtraTreesClassifier",
    "sklearn.ensemble._forest.ExtraTreesRegressor",
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.ensemble._forest.RandomForestRegressor",
    "sklearn.ensemble._forest.RandomTreesEmbedding",
    "sklearn.ensemble._gb.GradientBoostingClassifier",
    "sklearn.ensemble._gb.GradientBoostingRegressor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",   /* skops 0.14 */
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",   /* skops 0.14 */
    "sklearn.ensemble._iforest.IsolationForest",
    "sklearn.ensemble._stacking.StackingClassifier",
    "sklearn.ensemble._stacking.StackingRegressor",
    "sklearn.ensemble._voting.VotingClassifier", "sklearn.ensemble._voting.VotingRegressor",
    "sklearn.ensemble._weight_boosting.AdaBoostClassifier",
    "sklearn.ensemble._weight_boosting.AdaBoostRegressor",
    "sklearn.feature_extraction._dict_vectorizer.DictVectorizer",
    "sklearn.feature_extraction._hash.FeatureHasher",
    "sklearn.feature_extraction.image.PatchExtractor",
    "sklearn.feature_extraction.text.CountVectorizer",
    "sklearn.feature_extraction.text.HashingVectorizer",
    "sklearn.feature_extraction.text.TfidfTransformer",
    "sklearn.feature_extraction.text.TfidfVectorizer",
    "sklearn.feature_selection._from_model.SelectFromModel",
    "sklearn.feature_selection._rfe.RFE", "sklearn.feature_selection._rfe.RFECV",
    "sklearn.feature_selection._sequential.SequentialFeatureSelector",
    "sklearn.feature_selection._univariate_selection.GenericUnivariateSelect",
    "sklearn.feature_selection._univariate_selection.SelectFdr",
    "sklearn.feature_selection._univariate_selection.SelectFpr",
    "sklearn.feature_selection._univariate_selection.SelectFwe",
    "sklearn.feature_selection._univariate_selection.SelectKBest",
    "sklearn.feature_selection._univariate_selection.SelectPercentile",
    "sklearn.feature_selection._variance_threshold.VarianceThreshold",
    "sklearn.gaussian_process._gpc.GaussianProcessClassifier",
    "sklearn.gaussian_process._gpr.GaussianProcessRegressor",
    "sklearn.impute._base.MissingIndicator", "sklearn.impute._base.SimpleImputer",
    "sklearn.impute._knn.KNNImputer", "sklearn.isotonic.IsotonicRegression",
    "sklearn.kernel_approximation.AdditiveChi2Sampler",
    "sklearn.kernel_approximation.Nystroem",
    "sklearn.kernel_approximation.PolynomialCountSketch",
    "sklearn.kernel_approximation.RBFSampler",
    "sklearn.kernel_approximation.SkewedChi2Sampler", "sklearn.kernel_ridge.KernelRidge",
    "sklearn.linear_model._base.LinearRegression",
    "sklearn.linear_model._bayes.ARDRegression",
    "sklearn.linear_model._bayes.BayesianRidge",
    "sklearn.linear_model._coordinate_descent.ElasticNet",
    "sklearn.linear_model._coordinate_descent.ElasticNetCV",
    "sklearn.linear_model._coordinate_descent.Lasso",
    "sklearn.linear_model._coordinate_descent.LassoCV",
    "sklearn.linear_model._coordinate_descent.MultiTaskElasticNet",
    "sklearn.linear_model._coordinate_descent.MultiTaskElasticNetCV",
    "sklearn.linear_model._coordinate_descent.MultiTaskLasso",
    "sklearn.linear_model._coordinate_descent.MultiTaskLassoCV",
    "sklearn.linear_model._glm.glm.GammaRegressor",
    "sklearn.linear_model._glm.glm.PoissonRegressor",
    "sklearn.linear_model._glm.glm.TweedieRegressor",
    "sklearn.linear_model._huber.HuberRegressor", "sklearn.linear_model._least_angle.Lars",
    "sklearn.linear_model._least_angle.LarsCV",
    "sklearn.linear_model._least_angle.LassoLars",
    "sklearn.linear_model._least_angle.LassoLarsCV",
    "sklearn.linear_model._least_angle.LassoLarsIC",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.linear_model._logistic.LogisticRegressionCV",
    "sklearn.linear_model._omp.OrthogonalMatchingPursuit",
    "sklearn.linear_model._omp.OrthogonalMatchingPursuitCV",
    "sklearn.linear_model._passive_aggressive.PassiveAggressiveClassifier",
    "sklearn.linear_model._passive_aggressive.PassiveAggressiveRegressor",
    "sklearn.linear_model._perceptron.Perceptron",
    "sklearn.linear_model._quantile.QuantileRegressor",
    "sklearn.linear_model._ransac.RANSACRegressor", "sklearn.linear_model._ridge.Ridge",
    "sklearn.linear_model._ridge.RidgeCV", "sklearn.linear_model._ridge.RidgeClassifier",
    "sklearn.linear_model._ridge.RidgeClassifierCV",
    "sklearn.linear_model._stochastic_gradient.SGDClassifier",
    "sklearn.linear_model._stochastic_gradient.SGDOneClassSVM",
    "sklearn.linear_model._stochastic_gradient.SGDRegressor",
    "sklearn.linear_model._theil_sen.TheilSenRegressor", "sklearn.manifold._isomap.Isomap",
    "sklearn.manifold._locally_linear.LocallyLinearEmbedding", "sklearn.manifold._mds.MDS",
    "sklearn.manifold._spectral_embedding.SpectralEmbedding",
    "sklearn.manifold._t_sne.TSNE",
    "sklearn.mixture._bayesian_mixture.BayesianGaussianMixture",
    "sklearn.mixture._gaussian_mixture.GaussianMixture",
    "sklearn.model_selection._search.GridSearchCV",
    "sklearn.model_selection._search.RandomizedSearchCV",
    "sklearn.multiclass.OneVsOneClassifier", "sklearn.multiclass.OneVsRestClassifier",
    "sklearn.multiclass.OutputCodeClassifier", "sklearn.multioutput.ClassifierChain",
    "sklearn.multioutput.MultiOutputClassifier", "sklearn.multioutput.MultiOutputRegressor",
    "sklearn.multioutput.RegressorChain", "sklearn.naive_bayes.BernoulliNB",
    "sklearn.naive_bayes.CategoricalNB", "sklearn.naive_bayes.ComplementNB",
    "sklearn.naive_bayes.GaussianNB", "sklearn.naive_bayes.MultinomialNB",
    "sklearn.neighbors._classification.KNeighborsClassifier",
    "sklearn.neighbors._classification.RadiusNeighborsClassifier",
    "sklearn.neighbors._graph.KNeighborsTransformer",
    "sklearn.neighbors._graph.RadiusNeighborsTransformer",
    "sklearn.neighbors._kde.KernelDensity", "sklearn.neighbors._lof.LocalOutlierFactor",
    "sklearn.neighbors._nca.NeighborhoodComponentsAnalysis",
    "sklearn.neighbors._nearest_centroid.NearestCentroid",
    "sklearn.neighbors._regression.KNeighborsRegressor",
    "sklearn.neighbors._regression.RadiusNeighborsRegressor",
    "sklearn.neighbors._unsupervised.NearestNeighbors",
    "sklearn.neural_network._multilayer_perceptron.MLPClassifier",
    "sklearn.neural_network._multilayer_perceptron.MLPRegressor",
    "sklearn.neural_network._rbm.BernoulliRBM", "sklearn.pipeline.FeatureUnion",
    "sklearn.pipeline.Pipeline", "sklearn.preprocessing._data.Binarizer",
    "sklearn.preprocessing._data.KernelCenterer",
    "sklearn.preprocessing._data.MaxAbsScaler", "sklearn.preprocessing._data.MinMaxScaler",
    "sklearn.preprocessing._data.Normalizer",
    "sklearn.preprocessing._data.PowerTransformer",
    "sklearn.preprocessing._data.QuantileTransformer",
    "sklearn.preprocessing._data.RobustScaler",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.preprocessing._discretization.KBinsDiscretizer",
    "sklearn.preprocessing._encoders.OneHotEncoder",
    "sklearn.preprocessing._encoders.OrdinalEncoder",
    "sklearn.preprocessing._function_transformer.FunctionTransformer",
    "sklearn.preprocessing._label.LabelBinarizer",
    "sklearn.preprocessing._label.LabelEncoder",
    "sklearn.preprocessing._label.MultiLabelBinarizer",
    "sklearn.preprocessing._polynomial.PolynomialFeatures",
    "sklearn.preprocessing._polynomial.SplineTransformer",
    "sklearn.random_projection.GaussianRandomProjection",
    "sklearn.random_projection.SparseRandomProjection",
    "sklearn.semi_supervised._label_propagation.LabelPropagation",
    "sklearn.semi_supervised._label_propagation.LabelSpreading",
    "sklearn.semi_supervised._self_training.SelfTrainingClassifier",
    "sklearn.svm._classes.LinearSVC", "sklearn.svm._classes.LinearSVR",
    "sklearn.svm._classes.NuSVC", "sklearn.svm._classes.NuSVR",
    "sklearn.svm._classes.OneClassSVM", "sklearn.svm._classes.SVC",
    "sklearn.svm._classes.SVR", "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.tree._classes.DecisionTreeRegressor",
    "sklearn.tree._classes.ExtraTreeClassifier", "sklearn.tree._classes.ExtraTreeRegressor",
};

/* numpy scalar types of np.sctypeDict, numpy 1.24 (NdArrayNode, TypeNode) */
static const char *const trust_numpy_scalars[] = {
    "numpy.bool_", "numpy.bytes_", "numpy.complex128", "numpy.complex256",
    "numpy.complex64", "numpy.datetime64", "numpy.float128", "numpy.float16",
    "numpy.float32", "numpy.float64", "numpy.int16", "numpy.int32", "numpy.int64",
    "numpy.int8", "numpy.longlong", "numpy.object_", "numpy.str_", "numpy.timedelta64",
    "numpy.uint16", "numpy.uint32", "numpy.uint64", "numpy.uint8", "numpy.ulonglong",
    "numpy.void",
};

/* public numpy ufuncs, numpy 1.24 (FunctionNode, protocol >= 1) */
static const char *const trust_numpy_ufuncs[] = {
    "numpy.core._multiarray_umath.absolute", "numpy.core._multiarray_umath.add",
    "numpy.core._multiarray_umath.arccos", "numpy.core._multiarray_umath.arccosh",
    "numpy.core._multiarray_umath.arcsin", "numpy.core._multiarray_umath.arcsinh",
    "numpy.core._multiarray_umath.arctan", "numpy.core._multiarray_umath.arctan2",
    "numpy.core._multiarray_umath.arctanh", "numpy.core._multiarray_umath.bitwise_and",
    "numpy.core._multiarray_umath.bitwise_or", "numpy.core._multiarray_umath.bitwise_xor",
    "numpy.core._multiarray_umath.cbrt", "numpy.core._multiarray_umath.ceil",
    "numpy.core._multiarray_umath.conjugate", "numpy.core._multiarray_umath.copysign",
    "numpy.core._multiarray_umath.cos", "numpy.core._multiarray_umath.cosh",
    "numpy.core._multiarray_umath.deg2rad", "numpy.core._multiarray_umath.degrees",
    "numpy.core._multiarray_umath.divide", "numpy.core._multiarray_umath.divmod",
    "numpy.core._multiarray_umath.equal", "numpy.core._multiarray_umath.exp",
    "numpy.core._multiarray_umath.exp2", "numpy.core._multiarray_umath.expm1",
    "numpy.core._multiarray_umath.fabs", "numpy.core._multiarray_umath.float_power",
    "numpy.core._multiarray_umath.floor", "numpy.core._multiarray_umath.floor_divide",
    "numpy.core._multiarray_umath.fmax", "numpy.core._multiarray_umath.fmin",
    "numpy.core._multiarray_umath.fmod", "numpy.core._multiarray_umath.frexp",
    "numpy.core._multiarray_umath.gcd", "numpy.core._multiarray_umath.greater",
    "numpy.core._multiarray_umath.greater_equal", "numpy.core._multiarray_umath.heaviside",
    "numpy.core._multiarray_umath.hypot", "numpy.core._multiarray_umath.invert",
    "numpy.core._multiarray_umath.isfinite", "numpy.core._multiarray_umath.isinf",
    "numpy.core._multiarray_umath.isnan", "numpy.core._multiarray_umath.isnat",
    "numpy.core._multiarray_umath.lcm", "numpy.core._multiarray_umath.ldexp",
    "numpy.core._multiarray_umath.left_shift", "numpy.core._multiarray_umath.less",
    "numpy.core._multiarray_umath.less_equal", "numpy.core._multiarray_umath.log",
    "numpy.core._multiarray_umath.log10", "numpy.core._multiarray_umath.log1p",
    "numpy.core._multiarray_umath.log2", "numpy.core._multiarray_umath.logaddexp",
    "numpy.core._multiarray_umath.logaddexp2", "numpy.core._multiarray_umath.logical_and",
    "numpy.core._multiarray_umath.logical_not", "numpy.core._multiarray_umath.logical_or",
    "numpy.core._multiarray_umath.logical_xor", "numpy.core._multiarray_umath.matmul",
    "numpy.core._multiarray_umath.maximum", "numpy.core._multiarray_umath.minimum",
    "numpy.core._multiarray_umath.modf", "numpy.core._multiarray_umath.multiply",
    "numpy.core._multiarray_umath.negative", "numpy.core._multiarray_umath.nextafter",
    "numpy.core._multiarray_umath.not_equal", "numpy.core._multiarray_umath.positive",
    "numpy.core._multiarray_umath.power", "numpy.core._multiarray_umath.rad2deg",
    "numpy.core._multiarray_umath.radians", "numpy.core._multiarray_umath.reciprocal",
    "numpy.core._multiarray_umath.remainder", "numpy.core._multiarray_umath.right_shift",
    "numpy.core._multiarray_umath.rint", "numpy.core._multiarray_umath.sign",
    "numpy.core._multiarray_umath.signbit", "numpy.core._multiarray_umath.sin",
    "numpy.core._multiarray_umath.sinh", "numpy.core._multiarray_umath.spacing",
    "numpy.core._multiarray_umath.sqrt", "numpy.core._multiarray_umath.square",
    "numpy.core._multiarray_umath.subtract", "numpy.core._multiarray_umath.tan",
    "numpy.core._multiarray_umath.tanh", "numpy.core._multiarray_umath.trunc",
};

/* public scipy.special ufuncs, scipy 1.10 (FunctionNode) */
static const char *const trust_scipy_ufuncs[] = {
    "scipy.special._ufuncs.agm", "scipy.special._ufuncs.airy",
    "scipy.special._ufuncs.airye", "scipy.special._ufuncs.bdtr",
    "scipy.special._ufuncs.bdtrc", "scipy.special._ufuncs.bdtri",
    "scipy.special._ufuncs.bdtrik", "scipy.special._ufuncs.bdtrin",
    "scipy.special._ufuncs.bei", "scipy.special._ufuncs.beip", "scipy.special._ufuncs.ber",
    "scipy.special._ufuncs.berp", "scipy.special._ufuncs.besselpoly",
    "scipy.special._ufuncs.beta", "scipy.special._ufuncs.betainc",
    "scipy.special._ufuncs.betaincinv", "scipy.special._ufuncs.betaln",
    "scipy.special._ufuncs.binom", "scipy.special._ufuncs.boxcox",
    "scipy.special._ufuncs.boxcox1p", "scipy.special._ufuncs.btdtr",
    "scipy.special._ufuncs.btdtri", "scipy.special._ufuncs.btdtria",
    "scipy.special._ufuncs.btdtrib", "scipy.special._ufuncs.cbrt",
    "scipy.special._ufuncs.chdtr", "scipy.special._ufuncs.chdtrc",
    "scipy.special._ufuncs.chdtri", "scipy.special._ufuncs.chdtriv",
    "scipy.special._ufuncs.chndtr", "scipy.special._ufuncs.chndtridf",
    "scipy.special._ufuncs.chndtrinc", "scipy.special._ufuncs.chndtrix",
    "scipy.special._ufuncs.cosdg", "scipy.special._ufuncs.cosm1",
    "scipy.special._ufuncs.cotdg", "scipy.special._ufuncs.dawsn",
    "scipy.special._ufuncs.ellipe", "scipy.special._ufuncs.ellipeinc",
    "scipy.special._ufuncs.ellipj", "scipy.special._ufuncs.ellipk",
    "scipy.special._ufuncs.ellipkinc", "scipy.special._ufuncs.ellipkm1",
    "scipy.special._ufuncs.elliprc", "scipy.special._ufuncs.elliprd",
    "scipy.special._ufuncs.elliprf", "scipy.special._ufuncs.elliprg",
    "scipy.special._ufuncs.elliprj", "scipy.special._ufuncs.entr",
    "scipy.special._ufuncs.erf", "scipy.special._ufuncs.erfc",
    "scipy.special._ufuncs.erfcinv", "scipy.special._ufuncs.erfcx",
    "scipy.special._ufuncs.erfi", "scipy.special._ufuncs.erfinv",
    "scipy.special._ufuncs.eval_chebyc", "scipy.special._ufuncs.eval_chebys",
    "scipy.special._ufuncs.eval_chebyt", "scipy.special._ufuncs.eval_chebyu",
    "scipy.special._ufuncs.eval_gegenbauer", "scipy.special._ufuncs.eval_genlaguerre",
    "scipy.special._ufuncs.eval_hermite", "scipy.special._ufuncs.eval_hermitenorm",
    "scipy.special._ufuncs.eval_jacobi", "scipy.special._ufuncs.eval_laguerre",
    "scipy.special._ufuncs.eval_legendre", "scipy.special._ufuncs.eval_sh_chebyt",
    "scipy.special._ufuncs.eval_sh_chebyu", "scipy.special._ufuncs.eval_sh_jacobi",
    "scipy.special._ufuncs.eval_sh_legendre", "scipy.special._ufuncs.exp1",
    "scipy.special._ufuncs.exp10", "scipy.special._ufuncs.exp2",
    "scipy.special._ufuncs.expi", "scipy.special._ufuncs.expit",
    "scipy.special._ufuncs.expm1", "scipy.special._ufuncs.expn",
    "scipy.special._ufuncs.exprel", "scipy.special._ufuncs.fdtr",
    "scipy.special._ufuncs.fdtrc", "scipy.special._ufuncs.fdtri",
    "scipy.special._ufuncs.fdtridfd", "scipy.special._ufuncs.fresnel",
    "scipy.special._ufuncs.gamma", "scipy.special._ufuncs.gammainc",
    "scipy.special._ufuncs.gammaincc", "scipy.special._ufuncs.gammainccinv",
    "scipy.special._ufuncs.gammaincinv", "scipy.special._ufuncs.gammaln",
    "scipy.special._ufuncs.gammasgn", "scipy.special._ufuncs.gdtr",
    "scipy.special._ufuncs.gdtrc", "scipy.special._ufuncs.gdtria",
    "scipy.special._ufuncs.gdtrib", "scipy.special._ufuncs.gdtrix",
    "scipy.special._ufuncs.hankel1", "scipy.special._ufuncs.hankel1e",
    "scipy.special._ufuncs.hankel2", "scipy.special._ufuncs.hankel2e",
    "scipy.special._ufuncs.huber", "scipy.special._ufuncs.hyp0f1",
    "scipy.special._ufuncs.hyp1f1", "scipy.special._ufuncs.hyp2f1",
    "scipy.special._ufuncs.hyperu", "scipy.special._ufuncs.i0", "scipy.special._ufuncs.i0e",
    "scipy.special._ufuncs.i1", "scipy.special._ufuncs.i1e",
    "scipy.special._ufuncs.inv_boxcox", "scipy.special._ufuncs.inv_boxcox1p",
    "scipy.special._ufuncs.it2i0k0", "scipy.special._ufuncs.it2j0y0",
    "scipy.special._ufuncs.it2struve0", "scipy.special._ufuncs.itairy",
    "scipy.special._ufuncs.iti0k0", "scipy.special._ufuncs.itj0y0",
    "scipy.special._ufuncs.itmodstruve0", "scipy.special._ufuncs.itstruve0",
    "scipy.special._ufuncs.iv", "scipy.special._ufuncs.ive", "scipy.special._ufuncs.j0",
    "scipy.special._ufuncs.j1", "scipy.special._ufuncs.jv", "scipy.special._ufuncs.jve",
    "scipy.special._ufuncs.k0", "scipy.special._ufuncs.k0e", "scipy.special._ufuncs.k1",
    "scipy.special._ufuncs.k1e", "scipy.special._ufuncs.kei", "scipy.special._ufuncs.keip",
    "scipy.special._ufuncs.kelvin", "scipy.special._ufuncs.ker",
    "scipy.special._ufuncs.kerp", "scipy.special._ufuncs.kl_div",
    "scipy.special._ufuncs.kn", "scipy.special._ufuncs.kolmogi",
    "scipy.special._ufuncs.kolmogorov", "scipy.special._ufuncs.kv",
    "scipy.special._ufuncs.kve", "scipy.special._ufuncs.log1p",
    "scipy.special._ufuncs.log_expit", "scipy.special._ufuncs.log_ndtr",
    "scipy.special._ufuncs.loggamma", "scipy.special._ufuncs.logit",
    "scipy.special._ufuncs.lpmv", "scipy.special._ufuncs.mathieu_a",
    "scipy.special._ufuncs.mathieu_b", "scipy.special._ufuncs.mathieu_cem",
    "scipy.special._ufuncs.mathieu_modcem1", "scipy.special._ufuncs.mathieu_modcem2",
    "scipy.special._ufuncs.mathieu_modsem1", "scipy.special._ufuncs.mathieu_modsem2",
    "scipy.special._ufuncs.mathieu_sem", "scipy.special._ufuncs.modfresnelm",
    "scipy.special._ufuncs.modfresnelp", "scipy.special._ufuncs.modstruve",
    "scipy.special._ufuncs.nbdtr", "scipy.special._ufuncs.nbdtrc",
    "scipy.special._ufuncs.nbdtri", "scipy.special._ufuncs.nbdtrik",
    "scipy.special._ufuncs.nbdtrin", "scipy.special._ufuncs.ncfdtr",
    "scipy.special._ufuncs.ncfdtri", "scipy.special._ufuncs.ncfdtridfd",
    "scipy.special._ufuncs.ncfdtridfn", "scipy.special._ufuncs.ncfdtrinc",
    "scipy.special._ufuncs.nctdtr", "scipy.special._ufuncs.nctdtridf",
    "scipy.special._ufuncs.nctdtrinc", "scipy.special._ufuncs.nctdtrit",
    "scipy.special._ufuncs.ndtr", "scipy.special._ufuncs.ndtri",
    "scipy.special._ufuncs.ndtri_exp", "scipy.special._ufuncs.nrdtrimn",
    "scipy.special._ufuncs.nrdtrisd", "scipy.special._ufuncs.obl_ang1",
    "scipy.special._ufuncs.obl_ang1_cv", "scipy.special._ufuncs.obl_cv",
    "scipy.special._ufuncs.obl_rad1", "scipy.special._ufuncs.obl_rad1_cv",
    "scipy.special._ufuncs.obl_rad2", "scipy.special._ufuncs.obl_rad2_cv",
    "scipy.special._ufuncs.owens_t", "scipy.special._ufuncs.pbdv",
    "scipy.special._ufuncs.pbvv", "scipy.special._ufuncs.pbwa",
    "scipy.special._ufuncs.pdtr", "scipy.special._ufuncs.pdtrc",
    "scipy.special._ufuncs.pdtri", "scipy.special._ufuncs.pdtrik",
    "scipy.special._ufuncs.poch", "scipy.special._ufuncs.powm1",
    "scipy.special._ufuncs.pro_ang1", "scipy.special._ufuncs.pro_ang1_cv",
    "scipy.special._ufuncs.pro_cv", "scipy.special._ufuncs.pro_rad1",
    "scipy.special._ufuncs.pro_rad1_cv", "scipy.special._ufuncs.pro_rad2",
    "scipy.special._ufuncs.pro_rad2_cv", "scipy.special._ufuncs.pseudo_huber",
    "scipy.special._ufuncs.psi", "scipy.special._ufuncs.radian",
    "scipy.special._ufuncs.rel_entr", "scipy.special._ufuncs.rgamma",
    "scipy.special._ufuncs.round", "scipy.special._ufuncs.shichi",
    "scipy.special._ufuncs.sici", "scipy.special._ufuncs.sindg",
    "scipy.special._ufuncs.smirnov", "scipy.special._ufuncs.smirnovi",
    "scipy.special._ufuncs.spence", "scipy.special._ufuncs.sph_harm",
    "scipy.special._ufuncs.stdtr", "scipy.special._ufuncs.stdtridf",
    "scipy.special._ufuncs.stdtrit", "scipy.special._ufuncs.struve",
    "scipy.special._ufuncs.tandg", "scipy.special._ufuncs.tklmbda",
    "scipy.special._ufuncs.voigt_profile", "scipy.special._ufuncs.wofz",
    "scipy.special._ufuncs.wright_bessel", "scipy.special._ufuncs.wrightomega",
    "scipy.special._ufuncs.xlog1py", "scipy.special._ufuncs.xlogy",
    "scipy.special._ufuncs.y0", "scipy.special._ufuncs.y1", "scipy.special._ufuncs.yn",
    "scipy.special._ufuncs.yv", "scipy.special._ufuncs.yve", "scipy.special._ufuncs.zetac",
};

/* ALLOWED_LOSSES present in scikit-learn 1.2.1 (LossNode / SGDNode) */
static const char *const trust_losses[] = {
    "sklearn.linear_model._sgd_fast.EpsilonInsensitive",
    "sklearn.linear_model._sgd_fast.Hinge", "sklearn.linear_model._sgd_fast.Huber",
    "sklearn.linear_model._sgd_fast.Log", "sklearn.linear_model._sgd_fast.ModifiedHuber",
    "sklearn.linear_model._sgd_fast.SquaredEpsilonInsensitive",
    "sklearn.linear_model._sgd_fast.SquaredHinge",
    "sklearn.linear_model._sgd_fast.SquaredLoss",
};

static const char *const trust_dict[] = {"builtins.dict", "collections.OrderedDict"};
static const char *const trust_list[] = {"builtins.list"};
static const char *const trust_set[] = {"builtins.set"};
static const char *const trust_tuple[] = {"builtins.tuple"};
static const char *const trust_bytes[] = {"builtins.bytes"};
static const char *const trust_bytearray[] = {"builtins.bytearray"};
static const char *const trust_ndarray[] = {"numpy.ndarray"};
static const char *const trust_masked[] = {"numpy.ma.core.MaskedArray"};
static const char *const trust_sparse[] = {"scipy.sparse._base.spmatrix"};
static const char *const trust_rstate[] = {"numpy.random.mtrand.RandomState"};
static const char *const trust_rgen[] = {"numpy.random._generator.Generator"};
static const char *const trust_tree[] = {"sklearn.tree._tree.Tree"};
static const char *const trust_defaultdict[] = {"collections.defaultdict"};
/* skops builds this name from its own module, so the real class never matches. */
static const char *const trust_deprecated_keys[] = {"skops.io._sklearn._DictWithDeprecatedKeys"};
/* TypeNode: PRIMITIVE_TYPE_NAMES + CONTAINER_TYPE_NAMES (+ numpy scalars) */
static const char *const trust_type_builtins[] = {
    "builtins.bool", "builtins.float", "builtins.int", "builtins.list",
    "builtins.map",  "builtins.set",   "builtins.str", "builtins.tuple"};

#define NAMES(a) (a), sizeof(a) / sizeof *(a)

/* A node's trust = the names its parent passed down (only TreeNode and LossNode
** add any) + its own type's defaults. */
typedef struct Trust {
  const char *const *names;
  size_t n;
  const struct Trust *next;
} Trust;

static int cmp_name(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int in_sorted(const char *const *names, size_t n, const char *dotted) {
  return bsearch(&dotted, names, n, sizeof *names, cmp_name) != NULL;
}

static int in_chain(const Trust *t, const char *dotted) {
  for (; t != NULL; t = t->next)
    if (in_sorted(t->names, t->n, dotted)) return 1;
  return 0;
}

/* ==== decoder state ========================================================= */

typedef struct MemoEntry {
  int64_t id;
  Value *val;
} MemoEntry;

typedef struct Skops {
  Model *m;
  ValueSet *vs;
  Err *err;
  ZipArc *arc;
  int protocol;
  MemoEntry *memo;         /* open addressing, id != 0 */
  size_t memo_cap, memo_n;
  char *name;              /* scratch for "module.class" */
  size_t name_cap;
} Skops;

/* Record an error (the first one wins) and return NULL, for value builders. */
__attribute__((format(printf, 3, 4)))
static Value *bad(Skops *k, MfsStatus code, const char *fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  err_set(k->err, code, MFS_NO_OFFSET, "%s", msg);
  return NULL;
}

/* ---- JSON access ----------------------------------------------------------- */

/* Python's json keeps the LAST of duplicate members; skops reads node fields that
** way, so do we (DictNode contents keep every member, in order, instead). */
static const cJSON *jget(const cJSON *obj, const char *key) {
  const cJSON *found = NULL;
  if (!cJSON_IsObject(obj)) return NULL;
  for (const cJSON *c = obj->child; c != NULL; c = c->next)
    if (c->string != NULL && strcmp(c->string, key) == 0) found = c;
  return found;
}

static const char *jstr(const cJSON *obj, const char *key) {
  const cJSON *v = jget(obj, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The node's __id__ when it is a usable memo key; 0 otherwise (skops skips 0). */
static int64_t jid(const cJSON *node) {
  const cJSON *v = jget(node, "__id__");
  if (!cJSON_IsNumber(v)) return 0;
  double d = v->valuedouble;
  if (!(d >= -9.2e18 && d <= 9.2e18) || d != floor(d)) return 0;
  return (int64_t)d;
}

static const char *dotted(Skops *k, const char *module, const char *name) {
  size_t need = strlen(module) + strlen(name) + 2;
  if (need > k->name_cap) {
    char *p = realloc(k->name, need);
    if (p == NULL) return NULL;
    k->name = p;
    k->name_cap = need;
  }
  snprintf(k->name, need, "%s.%s", module, name);
  return k->name;
}

/* ---- memo: __id__ -> Value ------------------------------------------------- */

static size_t memo_slot(const Skops *k, int64_t id) {
  uint64_t h = (uint64_t)id * 0x9e3779b97f4a7c15ULL;
  return (size_t)(h >> 17) & (k->memo_cap - 1);
}

static Value *memo_get(const Skops *k, int64_t id) {
  if (id == 0 || k->memo_cap == 0) return NULL;
  for (size_t i = memo_slot(k, id);; i = (i + 1) & (k->memo_cap - 1)) {
    if (k->memo[i].id == 0) return NULL;
    if (k->memo[i].id == id) return k->memo[i].val;
  }
}

static MfsStatus memo_put(Skops *k, int64_t id, Value *v) {
  if (id == 0 || v == NULL) return MFS_OK;
  if ((k->memo_n + 1) * 2 > k->memo_cap) {
    size_t cap = k->memo_cap ? k->memo_cap * 2 : 256;
    MemoEntry *old = k->memo;
    size_t oldcap = k->memo_cap;
    k->memo = calloc(cap, sizeof *k->memo);
    if (k->memo == NULL) {
      k->memo = old;
      return err_set(k->err, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
    }
    k->memo_cap = cap;
    k->memo_n = 0;
    for (size_t i = 0; i < oldcap; i++)
      if (old[i].id != 0) memo_put(k, old[i].id, old[i].val);
    free(old);
  }
  size_t i = memo_slot(k, id);
  while (k->memo[i].id != 0 && k->memo[i].id != id) i = (i + 1) & (k->memo_cap - 1);
  if (k->memo[i].id == 0) k->memo_n++;
  k->memo[i].id = id;
  k->memo[i].val = v;
  return MFS_OK;
}

/* ==== JSON text inside JsonNode (and dict keys) ==============================
** json.dumps output of one Python value: null, true, false, NaN, Infinity,
** -Infinity, integers of any size, floats, strings; lists and dicts only in
** files no skops writes.  Parsed here rather than with cJSON so that big
** integers and non-finite floats keep their exact value. */

typedef struct Lit {
  const char *p, *end;
} Lit;

static void lit_space(Lit *l) {
  while (l->p < l->end && (*l->p == ' ' || *l->p == '\t' || *l->p == '\n' || *l->p == '\r')) l->p++;
}

static int lit_word(Lit *l, const char *w) {
  size_t n = strlen(w);
  if ((size_t)(l->end - l->p) < n || memcmp(l->p, w, n) != 0) return 0;
  l->p += n;
  return 1;
}

/* Decimal digits -> two's complement little-endian bytes -> value_bigint. */
static Value *big_from_decimal(Skops *k, const char *s, size_t n, int neg) {
  if (n > MFS_MAX_INT_DIGITS)
    return bad(k, MFS_ELIMIT, "schema.json: integer of more than %d digits", MFS_MAX_INT_DIGITS);
  size_t cap = n / 2 + 2;
  uint8_t *mag = calloc(cap, 1);
  if (mag == NULL) return bad(k, MFS_ENOMEM, "out of memory");
  size_t len = 1;
  for (size_t i = 0; i < n; i++) {
    unsigned carry = (unsigned)(s[i] - '0');
    for (size_t j = 0; j < len; j++) {
      unsigned v = mag[j] * 10u + carry;
      mag[j] = (uint8_t)v;
      carry = v >> 8;
    }
    if (carry && len < cap) mag[len++] = (uint8_t)carry;
  }
  len++;   /* room for the sign */
  if (len > cap) len = cap;
  if (neg) {
    unsigned c = 1;
    for (size_t j = 0; j < len; j++) {
      unsigned v = (uint8_t)~mag[j] + c;
      mag[j] = (uint8_t)v;
      c = v >> 8;
    }
  }
  Value *v = value_bigint(k->vs, mag, len);
  free(mag);
  return v;
}

static Value *lit_number(Skops *k, Lit *l) {
  const char *s = l->p;
  int neg = 0;
  if (l->p < l->end && *l->p == '-') neg = 1, l->p++;
  if (lit_word(l, "Infinity")) return value_float(k->vs, neg ? -INFINITY : INFINITY);
  const char *digits = l->p;
  while (l->p < l->end && *l->p >= '0' && *l->p <= '9') l->p++;
  size_t nd = (size_t)(l->p - digits);
  int is_float = 0;
  if (l->p < l->end && *l->p == '.') {
    is_float = 1;
    l->p++;
    while (l->p < l->end && *l->p >= '0' && *l->p <= '9') l->p++;
  }
  if (l->p < l->end && (*l->p == 'e' || *l->p == 'E')) {
    is_float = 1;
    l->p++;
    if (l->p < l->end && (*l->p == '+' || *l->p == '-')) l->p++;
    while (l->p < l->end && *l->p >= '0' && *l->p <= '9') l->p++;
  }
  if (nd == 0) return bad(k, MFS_ECORRUPT, "schema.json: bad number in JSON text");
  if (is_float) {
    size_t n = (size_t)(l->p - s);
    if (n > 1024) return bad(k, MFS_ELIMIT, "schema.json: float literal too long");
    char buf[1025];
    memcpy(buf, s, n);
    buf[n] = '\0';
    return value_float(k->vs, strtod(buf, NULL));
  }
  if (nd <= 18) {
    int64_t v = 0;
    for (size_t i = 0; i < nd; i++) v = v * 10 + (digits[i] - '0');
    return value_int(k->vs, neg ? -v : v);
  }
  return big_from_decimal(k, digits, nd, neg);
}

static int hex4(const char *p, uint32_t *out) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    int h = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
          : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (h < 0) return 0;
    v = v * 16 + (uint32_t)h;
  }
  *out = v;
  return 1;
}

/* A JSON string; lone surrogates are kept as their 3-byte (surrogatepass) form,
** as Python's json.loads keeps them. */
static Value *lit_string(Skops *k, Lit *l) {
  l->p++;
  const char *s = l->p;
  while (l->p < l->end && *l->p != '"') l->p += (*l->p == '\\' && l->p + 1 < l->end) ? 2 : 1;
  if (l->p >= l->end) return bad(k, MFS_ECORRUPT, "schema.json: unterminated string in JSON text");
  size_t n = (size_t)(l->p - s);
  l->p++;
  if (n > MFS_MAX_STRING) return bad(k, MFS_ELIMIT, "schema.json: string too long");
  char *out = malloc(n + 1);
  if (out == NULL) return bad(k, MFS_ENOMEM, "out of memory");
  size_t o = 0;
  int broken = 0;
  for (size_t i = 0; i < n && !broken; i++) {
    if (s[i] != '\\') {
      out[o++] = s[i];
      continue;
    }
    char c = s[++i];
    switch (c) {
      case '"': case '\\': case '/': out[o++] = c; break;
      case 'b': out[o++] = '\b'; break;
      case 'f': out[o++] = '\f'; break;
      case 'n': out[o++] = '\n'; break;
      case 'r': out[o++] = '\r'; break;
      case 't': out[o++] = '\t'; break;
      case 'u': {
        uint32_t cp, lo;
        if (i + 4 >= n) { broken = 1; break; }
        if (!hex4(s + i + 1, &cp)) { broken = 1; break; }
        i += 4;
        if (cp >= 0xd800 && cp < 0xdc00 && i + 6 < n &&
            s[i + 1] == '\\' && s[i + 2] == 'u' && hex4(s + i + 3, &lo) && lo >= 0xdc00 && lo < 0xe000) {
          cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          i += 6;
        }
        o += utf8_encode((uint8_t *)out + o, cp);
        break;
      }
      default: broken = 1;
    }
  }
  Value *v = broken ? NULL : value_str(k->vs, out, o);
  free(out);
  if (broken) return bad(k, MFS_ECORRUPT, "schema.json: bad escape in JSON text");
  return v;
}

static Value *lit_value(Skops *k, Lit *l, int depth) {
  if (depth > MFS_MAX_JSON_DEPTH) return bad(k, MFS_ELIMIT, "schema.json: JSON text nested too deeply");
  lit_space(l);
  if (l->p >= l->end) return bad(k, MFS_ECORRUPT, "schema.json: empty JSON text");
  char c = *l->p;
  if (c == '"') return lit_string(k, l);
  if (lit_word(l, "null")) return value_none(k->vs);
  if (lit_word(l, "true")) return value_bool(k->vs, 1);
  if (lit_word(l, "false")) return value_bool(k->vs, 0);
  if (lit_word(l, "NaN")) return value_float(k->vs, NAN);
  if (c == '-' || (c >= '0' && c <= '9') || c == 'I') return lit_number(k, l);
  if (c == '[' || c == '{') {
    int obj = c == '{';
    l->p++;
    Value *v = value_new(k->vs, obj ? VAL_DICT : VAL_LIST);
    if (v == NULL) return NULL;
    for (;;) {
      lit_space(l);
      if (l->p < l->end && *l->p == (obj ? '}' : ']')) {
        l->p++;
        return v;
      }
      if ((obj ? v->u.dict.n : v->u.seq.n) > 0) {
        if (l->p >= l->end || *l->p != ',') break;
        l->p++;
        lit_space(l);
      }
      Value *key = NULL;
      if (obj) {
        if (l->p >= l->end || *l->p != '"') break;
        key = lit_string(k, l);
        lit_space(l);
        if (key == NULL || l->p >= l->end || *l->p != ':') break;
        l->p++;
      }
      Value *item = lit_value(k, l, depth + 1);
      if (item == NULL) return NULL;
      if ((obj ? dict_put(k->vs, v, key, item) : seq_push(k->vs, v, item)) != MFS_OK) return NULL;
    }
  }
  return bad(k, MFS_ECORRUPT, "schema.json: bad JSON text");
}

static Value *json_text_value(Skops *k, const char *s, size_t n) {
  Lit l = {s, s + n};
  Value *v = lit_value(k, &l, 0);
  lit_space(&l);
  if (v != NULL && l.p != l.end)
    return bad(k, MFS_ECORRUPT, "schema.json: junk after JSON text '%.80s'", s);
  return v;
}

/* ==== the audit: names and skops's own trust judgement ======================
** Every node of the JSON tree is visited, also the ones that reuse an __id__
** (skops stops at the first and so never audits a crafted second node).  A node
** is reported unless its "module.class" is in its own type's default list or in
** the names its parent passed down; which children are visited and how follows
** each skops Node class (skops/io/_general.py, _numpy.py, _scipy.py, _sklearn.py
** at v0.11; protocol-0 files follow skops 0.5, which wrote them). */

typedef struct Defaults {
  const char *const *a;
  size_t na;
  const char *const *b;
  size_t nb;
} Defaults;

static MfsStatus note(Skops *k, const char *module, const char *name) {
  return model_note_global(k->m, module, name);
}

static MfsStatus report(Skops *k, const char *module, const char *name) {
  Value *g = value_global(k->vs, module, name);
  if (g == NULL) return k->err->code;
  return seq_push(k->vs, k->m->untrusted, g);
}

/* Report module.name unless trusted by defaults d or by the inherited names. */
static MfsStatus judge(Skops *k, const char *module, const char *name, Defaults d, const Trust *ctx) {
  const char *full = dotted(k, module, name);
  if (full == NULL) return err_set(k->err, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
  if ((d.a && in_sorted(d.a, d.na, full)) || (d.b && in_sorted(d.b, d.nb, full)) || in_chain(ctx, full))
    return MFS_OK;
  return report(k, module, name);
}

static const Defaults NO_DEFAULTS = {NULL, 0, NULL, 0};
#define ONE(arr) ((Defaults){NAMES(arr), NULL, 0})
#define TWO(x, y) ((Defaults){NAMES(x), NAMES(y)})

static MfsStatus audit_node(Skops *k, const cJSON *n, const Trust *ctx, int depth);

static MfsStatus audit_key(Skops *k, const cJSON *n, const char *key, const Trust *ctx, int depth) {
  const cJSON *c = jget(n, key);
  return c ? audit_node(k, c, ctx, depth + 1) : MFS_OK;
}

/* Children held in an array or (DictNode content) an object, every member kept. */
static MfsStatus audit_members(Skops *k, const cJSON *c, const Trust *ctx, int depth) {
  if (!cJSON_IsArray(c) && !cJSON_IsObject(c)) return MFS_OK;
  for (const cJSON *e = c->child; e != NULL; e = e->next) {
    MfsStatus st = audit_node(k, e, ctx, depth + 1);
    if (st != MFS_OK) return st;
  }
  return MFS_OK;
}

static int is(const char *a, const char *b) { return a != NULL && strcmp(a, b) == 0; }

static MfsStatus audit_function(Skops *k, const cJSON *n, const char *module, const char *cls,
                                const Trust *ctx) {
  if (k->protocol == 0) {
    /* skops 0.5: content {module_path, function}; only scipy ufuncs trusted */
    const cJSON *c = jget(n, "content");
    const char *mp = jstr(c, "module_path"), *fn = jstr(c, "function");
    if (mp == NULL || fn == NULL) return MFS_OK;
    MfsStatus st = note(k, mp, fn);
    return st != MFS_OK ? st : judge(k, mp, fn, ONE(trust_scipy_ufuncs), ctx);
  }
  MfsStatus st = note(k, module, cls);
  return st != MFS_OK ? st : judge(k, module, cls, TWO(trust_numpy_ufuncs, trust_scipy_ufuncs), ctx);
}

/* TreeNode, LossNode/SGDNode: children inherit the node's own list, and a TypeNode
** for the constructor (the class itself) is audited with it. */
static MfsStatus audit_reduce(Skops *k, const cJSON *n, const char *module, const char *cls,
                              const char *const *own, size_t nown, const Trust *ctx, int depth) {
  Trust inner = {own, nown, ctx};
  MfsStatus st = judge(k, module, cls, NO_DEFAULTS, &inner);
  if (st == MFS_OK) st = audit_key(k, n, "content", &inner, depth);
  if (st == MFS_OK) st = audit_key(k, jget(n, "__reduce__"), "args", &inner, depth);
  if (st == MFS_OK) st = judge(k, module, cls, TWO(trust_type_builtins, trust_numpy_scalars), &inner);
  return st;
}

static MfsStatus audit_loader(Skops *k, const cJSON *n, const char *loader, const char *module,
                              const char *cls, const Trust *ctx, int depth) {
  MfsStatus st = MFS_OK;
  const cJSON *c = jget(n, "content");
  if (is(loader, "ObjectNode")) {
    st = judge(k, module, cls, ONE(trust_estimators), ctx);
    return st != MFS_OK ? st : audit_key(k, n, "content", ctx, depth);
  }
  if (is(loader, "DictNode")) {
    st = judge(k, module, cls, ONE(trust_dict), ctx);
    if (st == MFS_OK) st = audit_key(k, n, "key_types", ctx, depth);
    return st != MFS_OK ? st : audit_members(k, c, ctx, depth);
  }
  if (is(loader, "ListNode") || is(loader, "SetNode") || is(loader, "TupleNode")) {
    Defaults d = is(loader, "ListNode") ? ONE(trust_list) : is(loader, "SetNode") ? ONE(trust_set)
                                                                                  : ONE(trust_tuple);
    st = judge(k, module, cls, d, ctx);
    return st != MFS_OK ? st : audit_members(k, c, ctx, depth);
  }
  if (is(loader, "JsonNode") || is(loader, "SliceNode") || is(loader, "CachedNode")) return MFS_OK;
  if (is(loader, "NdArrayNode")) {
    st = k->protocol == 0 ? judge(k, module, cls, ONE(trust_ndarray), ctx)
                          : judge(k, module, cls, TWO(trust_ndarray, trust_numpy_scalars), ctx);
    if (st != MFS_OK || !is(jstr(n, "type"), "json")) return st;
    st = audit_members(k, c, ctx, depth);
    return st != MFS_OK ? st : audit_key(k, n, "shape", ctx, depth);
  }
  if (is(loader, "MaskedArrayNode")) {
    st = judge(k, module, cls, ONE(trust_masked), ctx);
    if (st == MFS_OK) st = audit_key(k, c, "data", ctx, depth);
    return st != MFS_OK ? st : audit_key(k, c, "mask", ctx, depth);
  }
  if (is(loader, "DTypeNode") || is(loader, "ConstructorFromReduceNode")) {
    st = judge(k, module, cls, NO_DEFAULTS, ctx);
    return st != MFS_OK ? st : audit_key(k, n, "content", ctx, depth);
  }
  if (is(loader, "SparseMatrixNode")) return judge(k, module, cls, ONE(trust_sparse), ctx);
  if (is(loader, "RandomStateNode")) {
    st = judge(k, module, cls, ONE(trust_rstate), ctx);
    return st != MFS_OK ? st : audit_key(k, n, "content", ctx, depth);
  }
  if (is(loader, "RandomGeneratorNode")) {
    st = judge(k, module, cls, ONE(trust_rgen), ctx);
    if (st != MFS_OK || k->protocol == 0) return st;   /* p0: a raw JSON dict */
    st = audit_key(k, c, "bit_generator", ctx, depth);
    return st != MFS_OK || k->protocol == 1 ? st : audit_key(k, c, "seed_seq", ctx, depth);
  }
  if (is(loader, "FunctionNode")) return audit_function(k, n, module, cls, ctx);
  if (is(loader, "MethodNode")) {
    st = judge(k, module, cls, NO_DEFAULTS, ctx);
    if (st == MFS_OK) st = audit_key(k, c, "obj", ctx, depth);
    /* skops >= 0.12 names the owner's class here and always reports owner.func */
    const cJSON *obj = jget(c, "obj");
    const char *om = jstr(obj, "__module__"), *oc = jstr(obj, "__class__"), *fn = jstr(c, "func");
    if (st == MFS_OK && !is(cls, "method") && om && oc && fn) {
      size_t len = strlen(oc) + strlen(fn) + 2;
      char *qual = malloc(len);
      if (qual == NULL) return err_set(k->err, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
      snprintf(qual, len, "%s.%s", oc, fn);
      st = note(k, om, qual);
      if (st == MFS_OK) st = report(k, om, qual);
      free(qual);
    }
    return st;
  }
  if (is(loader, "PartialNode")) {
    st = judge(k, module, cls, NO_DEFAULTS, ctx);
    static const char *const parts[] = {"func", "args", "kwds", "namespace"};
    for (int i = 0; i < 4 && st == MFS_OK; i++) st = audit_key(k, c, parts[i], ctx, depth);
    return st;
  }
  if (is(loader, "OperatorFuncNode")) {
    st = judge(k, module, cls, NO_DEFAULTS, ctx);
    return st != MFS_OK ? st : audit_key(k, n, "attrs", ctx, depth);
  }
  if (is(loader, "TypeNode"))
    return judge(k, module, cls, TWO(trust_type_builtins, trust_numpy_scalars), ctx);
  if (is(loader, "BytesNode")) return judge(k, module, cls, ONE(trust_bytes), ctx);
  if (is(loader, "BytearrayNode")) return judge(k, module, cls, ONE(trust_bytearray), ctx);
  if (is(loader, "TreeNode")) return audit_reduce(k, n, module, cls, NAMES(trust_tree), ctx, depth);
  if (is(loader, "LossNode") || is(loader, "SGDNode"))
    return audit_reduce(k, n, module, cls, NAMES(trust_losses), ctx, depth);
  if (is(loader, "QuantileForestNode")) return audit_reduce(k, n, module, cls, NULL, 0, ctx, depth);
  if (is(loader, "DefaultDictNode") || is(loader, "_DictWithDeprecatedKeysNode")) {
    /* both hard-code their list, ignoring the inherited one */
    st = is(loader, "DefaultDictNode") ? judge(k, module, cls, ONE(trust_defaultdict), NULL)
                                       : judge(k, module, cls, ONE(trust_deprecated_keys), NULL);
    if (st == MFS_OK) st = audit_key(k, c, "main", ctx, depth);
    if (st == MFS_OK) st = audit_key(k, c, "default_factory", ctx, depth);
    return st != MFS_OK ? st : audit_key(k, c, "_deprecated_key_to_new_key", ctx, depth);
  }
  return MFS_OK;   /* unknown loader: the build reports it */
}

static MfsStatus audit_node(Skops *k, const cJSON *n, const Trust *ctx, int depth) {
  if (depth > MFS_MAX_JSON_DEPTH)
    return err_set(k->err, MFS_ELIMIT, MFS_NO_OFFSET, "schema.json: nodes nested deeper than %d",
                   MFS_MAX_JSON_DEPTH);
  if (!cJSON_IsObject(n)) return MFS_OK;
  const char *loader = jstr(n, "__loader__");
  const char *module = jstr(n, "__module__"), *cls = jstr(n, "__class__");
  if (loader == NULL || module == NULL || cls == NULL) return MFS_OK;
  /* protocol-0 functions name the module path and function in content instead */
  if (!(is(loader, "FunctionNode") && k->protocol == 0) && !is(loader, "CachedNode")) {
    MfsStatus st = note(k, module, cls);
    if (st != MFS_OK) return st;
  }
  return audit_loader(k, n, loader, module, cls, ctx, depth);
}

/* ==== the build: nodes -> the graph pickle would have produced ============= */

static Value *build(Skops *k, const cJSON *n, int depth);

static Value *gl(Skops *k, const char *module, const char *name) {
  return value_global(k->vs, module, name);
}

static Value *child(Skops *k, const cJSON *n, const char *key, const char *loader, int depth) {
  const cJSON *c = jget(n, key);
  if (c == NULL) return bad(k, MFS_ECORRUPT, "schema.json: %s node has no '%s'", loader, key);
  return build(k, c, depth + 1);
}

static Value *tuple_of(Skops *k, Value *const *items, size_t n) {
  Value *t = value_new(k->vs, VAL_TUPLE);
  for (size_t i = 0; t != NULL && i < n; i++)
    if (items[i] == NULL || seq_push(k->vs, t, items[i]) != MFS_OK) return NULL;
  return t;
}

static MfsStatus put_str(Skops *k, Value *dict, const char *key, Value *val) {
  Value *kv = value_str(k->vs, key, strlen(key));
  if (kv == NULL || val == NULL) return k->err->code ? k->err->code : MFS_ENOMEM;
  return dict_put(k->vs, dict, kv, val);
}

static Value *object_new(Skops *k, const char *module, const char *name, int64_t id) {
  Value *g = gl(k, module, name);
  Value *o = g ? value_object(k->vs, g, NULL, OBJ_SKOPS) : NULL;
  return o && memo_put(k, id, o) == MFS_OK ? o : NULL;
}

/* A raw JSON value (SliceNode content, protocol-0 generator state).  cJSON keeps
** numbers as doubles: integers past 2^53 cannot be recovered exactly. */
static Value *raw_value(Skops *k, const cJSON *j, int depth) {
  if (depth > MFS_MAX_JSON_DEPTH) return bad(k, MFS_ELIMIT, "schema.json: nested too deeply");
  if (cJSON_IsNull(j)) return value_none(k->vs);
  if (cJSON_IsBool(j)) return value_bool(k->vs, cJSON_IsTrue(j));
  if (cJSON_IsString(j)) return value_str(k->vs, j->valuestring, strlen(j->valuestring));
  if (cJSON_IsNumber(j)) {
    double d = j->valuedouble;
    if (d != floor(d) || !isfinite(d)) return value_float(k->vs, d);
    if (fabs(d) >= 9007199254740992.0)
      return bad(k, MFS_EUNSUPPORTED,
                 "schema.json: integer %.17g in raw JSON cannot be read exactly", d);
    return value_int(k->vs, (int64_t)d);
  }
  Value *v = value_new(k->vs, cJSON_IsObject(j) ? VAL_DICT : VAL_LIST);
  for (const cJSON *c = j->child; v != NULL && c != NULL; c = c->next) {
    Value *item = raw_value(k, c, depth + 1);
    if (item == NULL) return NULL;
    MfsStatus st = cJSON_IsObject(j) ? put_str(k, v, c->string ? c->string : "", item)
                                     : seq_push(k->vs, v, item);
    if (st != MFS_OK) return NULL;
  }
  return v;
}

/* ---- containers ------------------------------------------------------------ */

/* A dict key back from its JSON text, by the positional key type. */
static Value *dict_key(Skops *k, const char *key, const Value *kt) {
  size_t n = strlen(key);
  if (kt == NULL || kt->kind != VAL_GLOBAL) return value_str(k->vs, key, n);
  const char *m = kt->u.global.module, *t = kt->u.global.name;
  int numpy = strcmp(m, "numpy") == 0, builtin = strcmp(m, "builtins") == 0;
  int is_int = (builtin && strcmp(t, "int") == 0) ||
               (numpy && (strncmp(t, "int", 3) == 0 || strncmp(t, "uint", 4) == 0));
  int is_float = (builtin && strcmp(t, "float") == 0) || (numpy && strncmp(t, "float", 5) == 0);
  if (is_int || is_float) {
    Err saved = *k->err;
    Value *v = json_text_value(k, key, n);
    if (v == NULL) {
      *k->err = saved;   /* not a number after all: keep the text */
      return value_str(k->vs, key, n);
    }
    if (is_float && v->kind == VAL_INT) return value_float(k->vs, (double)v->u.i);
    return v;
  }
  if ((builtin && strcmp(t, "bool") == 0) || (numpy && strcmp(t, "bool_") == 0)) {
    /* the original key; skops's own loader calls bool("false") and gets True */
    if (strcmp(key, "true") == 0) return value_bool(k->vs, 1);
    if (strcmp(key, "false") == 0) return value_bool(k->vs, 0);
  }
  if (builtin && strcmp(t, "NoneType") == 0 && strcmp(key, "null") == 0) return value_none(k->vs);
  return value_str(k->vs, key, n);
}

static Value *build_dict(Skops *k, const cJSON *n, const char *module, const char *cls,
                         int64_t id, int depth) {
  Value *d = value_new(k->vs, VAL_DICT), *out = d;
  if (d == NULL) return NULL;
  if (strcmp(module, "collections") == 0 && strcmp(cls, "OrderedDict") == 0) {
    d->flags |= VF_ORDERED;
  } else if (!(strcmp(module, "builtins") == 0 && strcmp(cls, "dict") == 0)) {
    out = object_new(k, module, cls, 0);   /* a dict subclass: items set on an instance */
    if (out == NULL) return NULL;
    out->u.obj->dictitems = d;
  }
  if (memo_put(k, id, out) != MFS_OK) return NULL;
  const cJSON *content = jget(n, "content");
  if (!cJSON_IsObject(content)) return bad(k, MFS_ECORRUPT, "schema.json: DictNode content is not an object");
  const cJSON *ktj = jget(n, "key_types");
  Value *kt = ktj ? build(k, ktj, depth + 1) : NULL;
  if (ktj && kt == NULL) return NULL;
  size_t i = 0;
  for (const cJSON *c = content->child; c != NULL; c = c->next, i++) {
    const Value *type = kt && (kt->kind == VAL_LIST || kt->kind == VAL_TUPLE) && i < kt->u.seq.n
                            ? kt->u.seq.items[i] : NULL;
    Value *key = dict_key(k, c->string ? c->string : "", type);
    Value *val = key ? build(k, c, depth + 1) : NULL;
    if (val == NULL || dict_put(k->vs, d, key, val) != MFS_OK) {
      d->flags |= VF_PARTIAL;
      return NULL;
    }
  }
  return out;
}

static Value *build_seq(Skops *k, const cJSON *n, const char *loader, const char *module,
                        const char *cls, int64_t id, int depth) {
  ValueKind kind = strcmp(loader, "ListNode") == 0 ? VAL_LIST
                 : strcmp(loader, "SetNode") == 0 ? VAL_SET : VAL_TUPLE;
  static const char *const plain[] = {[VAL_LIST] = "list", [VAL_SET] = "set", [VAL_TUPLE] = "tuple"};
  Value *s = value_new(k->vs, kind), *out = s;
  if (s == NULL) return NULL;
  if (!(strcmp(module, "builtins") == 0 && strcmp(cls, plain[kind]) == 0)) {
    /* a namedtuple or a container subclass: the class called with the items */
    out = object_new(k, module, cls, 0);
    if (out == NULL) return NULL;
    if (kind == VAL_TUPLE) out->u.obj->args = s;
    else out->u.obj->items = s;
  }
  if (memo_put(k, id, out) != MFS_OK) return NULL;
  const cJSON *content = jget(n, "content");
  if (!cJSON_IsArray(content)) return bad(k, MFS_ECORRUPT, "schema.json: %s content is not a list", loader);
  for (const cJSON *c = content->child; c != NULL; c = c->next) {
    Value *item = build(k, c, depth + 1);
    if (item == NULL || seq_push(k->vs, s, item) != MFS_OK) {
      s->flags |= VF_PARTIAL;
      return NULL;
    }
  }
  return out;
}

/* ---- arrays ---------------------------------------------------------------- */

static Value *npy_member(Skops *k, ZipArc *arc, const char *file) {
  Err e;
  err_clear(&e);
  Source *ms = member_open(arc, file, k->vs->arena, &e);
  Value *a = ms ? npy_read(k->vs, ms, &e) : NULL;
  source_unref(ms);   /* the arena keeps it when an array points into it */
  if (a == NULL) return bad(k, e.code ? e.code : MFS_ECORRUPT, "member %.200s: %s", file, e.msg);
  return a;
}

/* A 0-d array saved for a numpy scalar (np.float64(2.5)): pickle would have
** given numpy.core.multiarray.scalar(dtype, bytes). */
static Value *scalar_from(Skops *k, Value *arr) {
  NdArray *a = arr->u.arr;
  Value *v = value_new(k->vs, VAL_SCALAR);
  Scalar *s = v ? arena_alloc(k->vs->arena, sizeof *s) : NULL;
  if (s == NULL) return bad(k, MFS_ENOMEM, "out of memory");
  v->u.scalar = s;
  s->dtype = a->dtype;
  s->data = a->data;
  if (a->data.len <= MFS_MAX_INLINE_BYTES) {
    uint8_t *mem = arena_alloc(k->vs->arena, a->data.len ? a->data.len : 1);
    if (mem == NULL) return bad(k, MFS_ENOMEM, "out of memory");
    if (blob_read(&a->data, 0, mem, a->data.len, k->err) != MFS_OK) return NULL;
    s->data.mem = mem;
    s->data.src = NULL;
    s->data.off = 0;
  }
  return v;
}

static Value *object_dtype(Skops *k) {
  Value *v = value_new(k->vs, VAL_DTYPE);
  Dtype *d = v ? arena_alloc(k->vs->arena, sizeof *d) : NULL;
  if (d == NULL) return bad(k, MFS_ENOMEM, "out of memory");
  d->kind = 'O';
  d->byteorder = '|';
  d->itemsize = 8;
  v->u.dtype = d;
  return v;
}

/* Object arrays are stored as tolist(): nested lists, ndim deep.  Lists may be
** shared (__id__), so the paths through them can be exponentially many: stop at
** the count the shape allows, at the graph limit, and after visiting more lists
** than there are values (a real tolist() never shares a list). */
static MfsStatus flatten(Skops *k, Value *flat, Value *item, int levels, uint64_t count,
                         uint64_t *visits) {
  if (++*visits > MFS_MAX_VALUES)
    return err_set(k->err, MFS_ELIMIT, MFS_NO_OFFSET,
                   "schema.json: object array nests more than %u lists", MFS_MAX_VALUES);
  if (levels == 0) {
    if (flat->u.seq.n >= count)
      return err_set(k->err, MFS_ECORRUPT, MFS_NO_OFFSET,
                     "schema.json: object array holds more elements than its shape says (%llu)",
                     (unsigned long long)count);
    if (arena_bytes(k->vs->arena) > MFS_MAX_GRAPH_BYTES)
      return err_set(k->err, MFS_ELIMIT, MFS_NO_OFFSET, "decoded graph larger than %llu MiB",
                     (unsigned long long)(MFS_MAX_GRAPH_BYTES >> 20));
    return seq_push(k->vs, flat, item);
  }
  if (item->kind != VAL_LIST)
    return err_set(k->err, MFS_ECORRUPT, MFS_NO_OFFSET, "schema.json: object array is not nested as its shape says");
  for (size_t i = 0; i < item->u.seq.n; i++) {
    MfsStatus st = flatten(k, flat, item->u.seq.items[i], levels - 1, count, visits);
    if (st != MFS_OK) return st;
  }
  return MFS_OK;
}

static Value *build_object_array(Skops *k, const cJSON *n, int64_t id, int depth) {
  Value *v = value_new(k->vs, VAL_NDARRAY);
  NdArray *a = v ? arena_alloc(k->vs->arena, sizeof *a) : NULL;
  if (a == NULL) return bad(k, MFS_ENOMEM, "out of memory");
  v->u.arr = a;
  if (memo_put(k, id, v) != MFS_OK) return NULL;
  Value *shape = child(k, n, "shape", "NdArrayNode", depth);
  if (shape == NULL) return NULL;
  if (shape->kind != VAL_TUPLE || shape->u.seq.n > MFS_MAX_NDIM)
    return bad(k, MFS_ECORRUPT, "schema.json: object array shape is not a tuple");
  a->ndim = (int)shape->u.seq.n;
  a->shape = arena_alloc(k->vs->arena, (shape->u.seq.n + 1) * sizeof *a->shape);
  a->dtype = object_dtype(k);
  a->objects = value_new(k->vs, VAL_LIST);
  if (a->shape == NULL || a->dtype == NULL || a->objects == NULL) return NULL;
  uint64_t count = 1;
  for (int i = 0; i < a->ndim; i++) {
    Value *d = shape->u.seq.items[i];
    if (d->kind != VAL_INT || d->u.i < 0) return bad(k, MFS_ECORRUPT, "schema.json: bad object array shape");
    a->shape[i] = (uint64_t)d->u.i;
    count = a->shape[i] && count > MFS_MAX_ELEMENTS / a->shape[i] ? MFS_MAX_ELEMENTS + 1 : count * a->shape[i];
  }
  const cJSON *content = jget(n, "content");
  if (!cJSON_IsArray(content)) return bad(k, MFS_ECORRUPT, "schema.json: object array content is not a list");
  uint64_t visits = 0;
  for (const cJSON *c = content->child; c != NULL; c = c->next) {
    Value *item = build(k, c, depth + 1);
    if (item == NULL || flatten(k, a->objects, item, a->ndim > 1 ? a->ndim - 1 : 0, count, &visits) != MFS_OK)
      return NULL;
  }
  if (a->ndim == 0 || count != a->objects->u.seq.n)
    return bad(k, MFS_ECORRUPT, "schema.json: object array holds %zu elements, its shape says %llu",
               a->objects->u.seq.n, (unsigned long long)count);
  return v;
}

static Value *build_ndarray(Skops *k, const cJSON *n, const char *module, const char *cls,
                            int64_t id, int depth) {
  const char *type = jstr(n, "type");
  if (is(type, "json")) return build_object_array(k, n, id, depth);
  if (!is(type, "numpy")) return bad(k, MFS_ECORRUPT, "schema.json: NdArrayNode of unknown type '%.40s'", type ? type : "");
  const char *file = jstr(n, "file");
  if (file == NULL) return bad(k, MFS_ECORRUPT, "schema.json: NdArrayNode has no 'file'");
  Value *arr = npy_member(k, k->arc, file);
  if (arr == NULL) return NULL;
  Value *out = arr;
  if (strcmp(module, "numpy") == 0 && strcmp(cls, "ndarray") == 0) {
    /* plain array */
  } else if (strcmp(module, "numpy") == 0 && arr->u.arr->ndim == 0) {
    out = scalar_from(k, arr);
  } else {
    arr->u.arr->cls = gl(k, module, cls);   /* an ndarray subclass */
  }
  return out && memo_put(k, id, out) == MFS_OK ? out : NULL;
}

/* A scipy sparse matrix: a nested .npz zip of data/indices/indptr/shape/format,
** in SPEC 3.2's one form (canon.h), as the pickled matrix is. */
static Value *build_sparse(Skops *k, const cJSON *n, const char *module, const char *cls, int64_t id) {
  const char *file = jstr(n, "file");
  if (file == NULL) return bad(k, MFS_ECORRUPT, "schema.json: SparseMatrixNode has no 'file'");
  Value *o = object_new(k, module, cls, id);
  if (o == NULL) return NULL;
  Value *state = value_new(k->vs, VAL_DICT);
  if (state == NULL) return NULL;
  o->u.obj->state = state;
  Err e;
  err_clear(&e);
  Source *npz = member_open(k->arc, file, k->vs->arena, &e);
  ZipArc *inner = npz ? ziparc_open(npz, MFS_MAX_NPZ_MEMBERS, &e) : NULL;
  source_unref(npz);
  if (inner == NULL) return bad(k, e.code ? e.code : MFS_ECORRUPT, "member %.200s: %s", file, e.msg);
  Value *shape = npy_member(k, inner, "shape.npy");
  Value *r = NULL;
  if (shape != NULL) {
    NdArray *sa = shape->u.arr;
    Dtype *sd = sa->dtype->u.dtype;
    uint64_t cnt = sa->ndim == 1 ? sa->shape[0] : 0;
    if (sa->ndim != 1 || cnt > MFS_MAX_NDIM || (sd->kind != 'i' && sd->kind != 'u') ||
        sd->itemsize != 8 || sd->byteorder == '>') {
      bad(k, MFS_ECORRUPT, "member %.200s: shape.npy is not a 1-d int64 array", file);
    } else {
      Value *tup = value_new(k->vs, VAL_TUPLE);
      for (uint64_t i = 0; tup != NULL && i < cnt; i++) {
        uint8_t b[8];
        if (blob_read(&sa->data, i * 8, b, 8, k->err) != MFS_OK) { tup = NULL; break; }
        int64_t d = (int64_t)le64(b);
        if (seq_push(k->vs, tup, value_int(k->vs, d)) != MFS_OK) tup = NULL;
      }
      if (tup != NULL && put_str(k, state, "_shape", tup) == MFS_OK) r = o;
    }
  }
  static const char *const parts[] = {"data", "indices", "indptr", "row", "col", "offsets"};
  for (size_t i = 0; r != NULL && i < sizeof parts / sizeof *parts; i++) {
    char name[16];
    snprintf(name, sizeof name, "%s.npy", parts[i]);
    Member mb;
    Err miss;
    err_clear(&miss);
    if (member_find(inner, name, &mb, &miss) != MFS_OK) continue;
    Value *arr = npy_member(k, inner, name);
    if (arr == NULL || put_str(k, state, parts[i], arr) != MFS_OK) r = NULL;
  }
  ziparc_unref(inner);
  if (r != NULL && canon_sparse(k->vs, r) != MFS_OK) return NULL;
  return r;
}

/* ---- numpy random state ---------------------------------------------------- */

/* RandomState / Generator pickle as numpy.random._pickle.__randomstate_ctor /
** __generator_ctor called with (bit generator name, __bit_generator_ctor), then
** the state dict. */
static Value *random_object(Skops *k, const char *ctor, int64_t id, Value *state) {
  Value *o = object_new(k, "numpy.random._pickle", ctor, id);
  if (o == NULL || state == NULL) return NULL;
  Value *name = state->kind == VAL_DICT ? dict_get_str(state, "bit_generator") : NULL;
  if (name == NULL || name->kind != VAL_STR) name = value_str(k->vs, "MT19937", 7);
  Value *args[2] = {name, gl(k, "numpy.random._pickle", "__bit_generator_ctor")};
  o->u.obj->args = tuple_of(k, args, 2);
  o->u.obj->state = state;
  return o->u.obj->args ? o : NULL;
}

static Value *build_generator(Skops *k, const cJSON *n, int64_t id, int depth) {
  const cJSON *c = jget(n, "content");
  const cJSON *bg = jget(c, "bit_generator");
  if (bg == NULL) return bad(k, MFS_ECORRUPT, "schema.json: RandomGeneratorNode has no bit_generator");
  /* p0 keeps the state as raw JSON; p1/p2 as a DictNode.  The SeedSequence that
  ** p2 adds has no place in the pickled Generator and is not shown. */
  Value *state = k->protocol == 0 ? raw_value(k, bg, depth + 1) : build(k, bg, depth + 1);
  return random_object(k, "__generator_ctor", id, state);
}

/* ---- functions, methods, partials ----------------------------------------- */

static Value *build_function(Skops *k, const cJSON *n, const char *module, const char *cls, int64_t id) {
  Value *g;
  if (k->protocol == 0) {
    const cJSON *c = jget(n, "content");
    const char *mp = jstr(c, "module_path"), *fn = jstr(c, "function");
    if (mp == NULL || fn == NULL) return bad(k, MFS_ECORRUPT, "schema.json: FunctionNode has no module_path/function");
    g = gl(k, mp, fn);
  } else {
    g = gl(k, module, cls);
  }
  return g && memo_put(k, id, g) == MFS_OK ? g : NULL;
}

/* A bound method pickles as getattr(owner, name). */
static Value *build_method(Skops *k, const cJSON *n, int64_t id, int depth) {
  Value *o = object_new(k, "builtins", "getattr", id);
  if (o == NULL) return NULL;
  const cJSON *c = jget(n, "content");
  const char *fn = jstr(c, "func");
  if (fn == NULL) return bad(k, MFS_ECORRUPT, "schema.json: MethodNode has no func");
  Value *args[2] = {child(k, c, "obj", "MethodNode", depth), NULL};
  if (args[0] == NULL) return NULL;
  args[1] = value_str(k->vs, fn, strlen(fn));
  o->u.obj->args = tuple_of(k, args, 2);
  return o->u.obj->args ? o : NULL;
}

/* functools.partial pickles as partial(func) + state (func, args, kwds, namespace). */
static Value *build_partial(Skops *k, const cJSON *n, int64_t id, int depth) {
  Value *o = object_new(k, "functools", "partial", id);
  if (o == NULL) return NULL;
  const cJSON *c = jget(n, "content");
  Value *parts[4];
  static const char *const keys[] = {"func", "args", "kwds", "namespace"};
  for (int i = 0; i < 4; i++)
    if ((parts[i] = child(k, c, keys[i], "PartialNode", depth)) == NULL) return NULL;
  o->u.obj->args = tuple_of(k, parts, 1);
  o->u.obj->state = tuple_of(k, parts, 4);
  return o->u.obj->args && o->u.obj->state ? o : NULL;
}

/* operator.itemgetter(*attrs), slice(start, stop, step), cls(*args): a call. */
static Value *build_call(Skops *k, const char *module, const char *cls, int64_t id, Value *args) {
  Value *o = object_new(k, module, cls, id);
  if (o == NULL || args == NULL) return NULL;
  if (args->kind != VAL_TUPLE) {
    Value *one[1] = {args};
    args = tuple_of(k, one, 1);
  }
  o->u.obj->args = args;
  return args ? o : NULL;
}

static Value *build_slice(Skops *k, const cJSON *n, int64_t id, int depth) {
  const cJSON *c = jget(n, "content");
  Value *parts[3];
  static const char *const keys[] = {"start", "stop", "step"};
  for (int i = 0; i < 3; i++) {
    const cJSON *p = jget(c, keys[i]);
    if (p == NULL) return bad(k, MFS_ECORRUPT, "schema.json: SliceNode has no '%s'", keys[i]);
    if ((parts[i] = raw_value(k, p, depth + 1)) == NULL) return NULL;
  }
  return build_call(k, "builtins", "slice", id, tuple_of(k, parts, 3));
}

static Value *build_bytes(Skops *k, const cJSON *n, const char *loader, int64_t id) {
  ValueKind kind = strcmp(loader, "BytesNode") == 0 ? VAL_BYTES : VAL_BYTEARRAY;
  const char *file = jstr(n, "file");
  if (file == NULL) return bad(k, MFS_ECORRUPT, "schema.json: %s has no 'file'", loader);
  Err e;
  err_clear(&e);
  Source *ms = member_open(k->arc, file, k->vs->arena, &e);
  if (ms == NULL) return bad(k, e.code ? e.code : MFS_ECORRUPT, "member %.200s: %s", file, e.msg);
  Value *v = NULL;
  if (ms->size <= MFS_MAX_INLINE_BYTES) {
    uint8_t *buf = malloc(ms->size ? ms->size : 1);
    if (buf != NULL && source_read(ms, 0, buf, (size_t)ms->size, k->err) == MFS_OK)
      v = value_bytes_mem(k->vs, kind, buf, (size_t)ms->size);
    free(buf);
  } else {
    arena_keep_source(k->vs->arena, ms);
    v = value_bytes_src(k->vs, kind, ms, 0, ms->size);
  }
  source_unref(ms);
  return v && memo_put(k, id, v) == MFS_OK ? v : NULL;
}

/* TreeNode, LossNode/SGDNode, QuantileForestNode: cls(*reduce args) + state. */
static Value *build_reduce(Skops *k, const cJSON *n, const char *loader, const char *module,
                           const char *cls, int64_t id, int depth) {
  Value *o = object_new(k, module, cls, id);
  if (o == NULL) return NULL;
  Value *args = child(k, jget(n, "__reduce__"), "args", loader, depth);
  if (args == NULL) return NULL;
  if (args->kind != VAL_TUPLE) return bad(k, MFS_ECORRUPT, "schema.json: %s reduce args are not a tuple", loader);
  o->u.obj->args = args;
  Value *state = child(k, n, "content", loader, depth);
  if (state == NULL) return NULL;
  /* an empty state is what pickle leaves out (the 2-tuple __reduce__ of losses) */
  if (!(state->kind == VAL_DICT && state->u.dict.n == 0)) o->u.obj->state = state;
  return o;
}

static Value *build_object(Skops *k, const cJSON *n, const char *module, const char *cls,
                           int64_t id, int depth) {
  Value *o = object_new(k, module, cls, id);
  if (o == NULL) return NULL;
  const cJSON *c = jget(n, "content");
  if (c == NULL || cJSON_IsNull(c)) return o;
  Value *state = build(k, c, depth + 1);
  if (state == NULL) return NULL;
  /* skops sets no state from None (a frozenset or a date written by skops 0.11 ends
  ** up here: their contents are not in the file) */
  if (state->kind != VAL_NONE) o->u.obj->state = state;
  return o;
}

static Value *build_loader(Skops *k, const cJSON *n, const char *loader, const char *module,
                           const char *cls, int64_t id, int depth) {
  const cJSON *c = jget(n, "content");
  if (is(loader, "ObjectNode")) return build_object(k, n, module, cls, id, depth);
  if (is(loader, "DictNode")) return build_dict(k, n, module, cls, id, depth);
  if (is(loader, "ListNode") || is(loader, "SetNode") || is(loader, "TupleNode"))
    return build_seq(k, n, loader, module, cls, id, depth);
  if (is(loader, "JsonNode")) {
    if (!cJSON_IsString(c)) return bad(k, MFS_ECORRUPT, "schema.json: JsonNode content is not a string");
    Value *v = json_text_value(k, c->valuestring, strlen(c->valuestring));
    return v && memo_put(k, id, v) == MFS_OK ? v : NULL;
  }
  if (is(loader, "NdArrayNode")) return build_ndarray(k, n, module, cls, id, depth);
  if (is(loader, "DTypeNode")) {
    Value *arr = child(k, n, "content", loader, depth);
    if (arr == NULL) return NULL;
    if (arr->kind != VAL_NDARRAY) return bad(k, MFS_ECORRUPT, "schema.json: DTypeNode content is not an array");
    return memo_put(k, id, arr->u.arr->dtype) == MFS_OK ? arr->u.arr->dtype : NULL;
  }
  if (is(loader, "SparseMatrixNode")) return build_sparse(k, n, module, cls, id);
  if (is(loader, "RandomStateNode"))
    return random_object(k, "__randomstate_ctor", id, child(k, n, "content", loader, depth));
  if (is(loader, "RandomGeneratorNode")) return build_generator(k, n, id, depth);
  if (is(loader, "FunctionNode")) return build_function(k, n, module, cls, id);
  if (is(loader, "MethodNode")) return build_method(k, n, id, depth);
  if (is(loader, "PartialNode")) return build_partial(k, n, id, depth);
  if (is(loader, "OperatorFuncNode")) {
    Value *o = object_new(k, module, cls, id);
    Value *attrs = o ? child(k, n, "attrs", loader, depth) : NULL;
    if (attrs == NULL) return NULL;
    o->u.obj->args = attrs->kind == VAL_TUPLE ? attrs : tuple_of(k, &attrs, 1);
    return o->u.obj->args ? o : NULL;
  }
  if (is(loader, "ConstructorFromReduceNode")) {
    Value *o = object_new(k, module, cls, id);
    Value *args = o ? child(k, n, "content", loader, depth) : NULL;
    if (args == NULL) return NULL;
    o->u.obj->args = args->kind == VAL_TUPLE ? args : tuple_of(k, &args, 1);
    return o->u.obj->args ? o : NULL;
  }
  if (is(loader, "TypeNode")) {
    Value *g = gl(k, module, cls);
    return g && memo_put(k, id, g) == MFS_OK ? g : NULL;
  }
  if (is(loader, "SliceNode")) return build_slice(k, n, id, depth);
  if (is(loader, "BytesNode") || is(loader, "BytearrayNode")) return build_bytes(k, n, loader, id);
  if (is(loader, "TreeNode") || is(loader, "LossNode") || is(loader, "SGDNode") ||
      is(loader, "QuantileForestNode"))
    return build_reduce(k, n, loader, module, cls, id, depth);
  if (is(loader, "DefaultDictNode")) {
    /* defaultdict(factory) + the items set on it */
    Value *o = object_new(k, "collections", "defaultdict", id);
    Value *factory = o ? child(k, c, "default_factory", loader, depth) : NULL;
    Value *main = factory ? child(k, c, "main", loader, depth) : NULL;
    if (main == NULL) return NULL;
    o->u.obj->args = tuple_of(k, &factory, 1);
    o->u.obj->dictitems = main->kind == VAL_DICT ? main : NULL;
    return o->u.obj->args ? o : NULL;
  }
  if (is(loader, "_DictWithDeprecatedKeysNode")) {
    Value *o = object_new(k, module, cls, id);
    Value *main = o ? child(k, c, "main", loader, depth) : NULL;
    Value *map = main ? child(k, c, "_deprecated_key_to_new_key", loader, depth) : NULL;
    Value *state = map ? value_new(k->vs, VAL_DICT) : NULL;
    if (state == NULL || put_str(k, state, "_deprecated_key_to_new_key", map) != MFS_OK) return NULL;
    o->u.obj->dictitems = main->kind == VAL_DICT ? main : NULL;
    o->u.obj->state = state;
    return o;
  }
  if (is(loader, "MaskedArrayNode")) {
    /* pickle stores numpy.ma's own reconstruct tuple; skops keeps data and mask */
    Value *o = object_new(k, module, cls, id);
    Value *data = o ? child(k, c, "data", loader, depth) : NULL;
    Value *mask = data ? child(k, c, "mask", loader, depth) : NULL;
    Value *state = mask ? value_new(k->vs, VAL_DICT) : NULL;
    if (state == NULL || put_str(k, state, "data", data) != MFS_OK || put_str(k, state, "mask", mask) != MFS_OK)
      return NULL;
    o->u.obj->state = state;
    return o;
  }
  if (is(loader, "CachedNode")) {
    Value *v = memo_get(k, id);
    return v ? v : bad(k, MFS_ECORRUPT, "schema.json: CachedNode refers to unknown id %lld", (long long)id);
  }
  return bad(k, MFS_EUNSUPPORTED, "schema.json: can't find loader %.80s for type %.200s.%.200s and protocol %d",
             loader, module, cls, k->protocol);
}

static Value *build(Skops *k, const cJSON *n, int depth) {
  if (depth > MFS_MAX_JSON_DEPTH)
    return bad(k, MFS_ELIMIT, "schema.json: nodes nested deeper than %d", MFS_MAX_JSON_DEPTH);
  if (!cJSON_IsObject(n)) return bad(k, MFS_ECORRUPT, "schema.json: expected a node, found a bare JSON value");
  int64_t id = jid(n);
  Value *seen = memo_get(k, id);
  if (seen != NULL) return seen;   /* skops reuses the first node with this id */
  const char *loader = jstr(n, "__loader__"), *module = jstr(n, "__module__"), *cls = jstr(n, "__class__");
  if (loader == NULL || module == NULL || cls == NULL)
    return bad(k, MFS_ECORRUPT, "schema.json: a node lacks __loader__, __module__ or __class__");
  return build_loader(k, n, loader, module, cls, id, depth);
}

/* ==== the Format ============================================================ */

/* Where cJSON gave up: nesting past its limit or a syntax error. */
static MfsStatus json_error(Model *m, const char *text, size_t len, const char *end) {
  size_t pos = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
  int depth = 0, max = 0, in_str = 0;
  for (size_t i = 0; i < pos; i++) {
    char c = text[i];
    if (in_str) {
      if (c == '\\') i++;
      else if (c == '"') in_str = 0;
    } else if (c == '"') {
      in_str = 1;
    } else if (c == '{' || c == '[') {
      if (++depth > max) max = depth;
    } else if (c == '}' || c == ']') {
      depth--;
    }
  }
  if (max >= CJSON_NESTING_LIMIT)
    return err_set(&m->err, MFS_ELIMIT, pos, "schema.json: offset %zu: JSON nested deeper than %d levels",
                   pos, CJSON_NESTING_LIMIT);
  return err_set(&m->err, MFS_ECORRUPT, pos, "schema.json: offset %zu: invalid JSON", pos);
}

/* An upper bound on the JSON values of a text (1 + commas + opening brackets
** outside strings), counted chunk by chunk while it is read, so that a deflated
** bomb is refused after its first megabytes, before cJSON allocates a node each. */
typedef struct NodeCount {
  uint64_t n;
  int in_str, esc;
} NodeCount;

static MfsStatus count_nodes(Model *m, NodeCount *c, const char *p, size_t len, uint64_t base) {
  for (size_t i = 0; i < len; i++) {
    char ch = p[i];
    if (c->in_str) {
      if (c->esc) c->esc = 0;
      else if (ch == '\\') c->esc = 1;
      else if (ch == '"') c->in_str = 0;
    } else if (ch == '"') {
      c->in_str = 1;
    } else if ((ch == ',' || ch == '{' || ch == '[') && ++c->n > MFS_MAX_SCHEMA_NODES) {
      return err_set(&m->err, MFS_ELIMIT, base + i,
                     "schema.json: offset %llu: more than %d JSON values",
                     (unsigned long long)(base + i), MFS_MAX_SCHEMA_NODES);
    }
  }
  return MFS_OK;
}

static char *schema_read(Model *m, ZipArc *arc, size_t *len) {
  Member mb;
  if (member_find(arc, "schema.json", &mb, &m->err) != MFS_OK) return NULL;
  m->compression = mb.method;
  if (mb.size > MFS_MAX_SCHEMA_JSON) {
    err_set(&m->err, MFS_ELIMIT, MFS_NO_OFFSET, "schema.json declares %llu bytes (limit %u)",
            (unsigned long long)mb.size, MFS_MAX_SCHEMA_JSON);
    return NULL;
  }
  Source *s = member_open(arc, "schema.json", NULL, &m->err);
  char *text = s ? malloc(mb.size + 1) : NULL;
  if (s != NULL && text == NULL) err_set(&m->err, MFS_ENOMEM, MFS_NO_OFFSET, "out of memory");
  NodeCount nc = {1, 0, 0};
  for (uint64_t off = 0; text != NULL && off < mb.size;) {
    size_t n = mb.size - off < (1u << 20) ? (size_t)(mb.size - off) : (1u << 20);
    if (source_read(s, off, text + off, n, &m->err) != MFS_OK ||
        count_nodes(m, &nc, text + off, n, off) != MFS_OK) {
      free(text);
      text = NULL;
    }
    off += n;
  }
  source_unref(s);
  if (text == NULL) return NULL;
  text[mb.size] = '\0';
  *len = (size_t)mb.size;
  return text;
}

static MfsStatus skops_run(Skops *k, const cJSON *root) {
  Model *m = k->m;
  const cJSON *proto = jget(root, "protocol");
  if (!cJSON_IsNumber(proto) || proto->valuedouble != floor(proto->valuedouble) ||
      fabs(proto->valuedouble) > 1e9)
    return err_set(k->err, MFS_ECORRUPT, MFS_NO_OFFSET, "schema.json: the root node has no protocol");
  /* a protocol newer than ours reads as the current one, as skops does */
  k->protocol = (int)proto->valuedouble;
  m->protocol = k->protocol;
  const char *version = jstr(root, "_skops_version");
  if (version != NULL && model_set_meta_str(m, "skops_version", version) != MFS_OK) return m->err.code;
  m->untrusted = value_new(k->vs, VAL_LIST);
  if (m->untrusted == NULL) return m->err.code;
  MfsStatus st = audit_node(k, root, NULL, 0);
  if (st != MFS_OK) return st;
  m->root = build(k, root, 0);
  return m->root ? MFS_OK : (k->err->code ? k->err->code : MFS_ECORRUPT);
}

static MfsStatus decode(Model *m, Source *src) {
  Skops k;
  memset(&k, 0, sizeof k);
  k.m = m;
  k.vs = &m->vs;
  k.err = &m->err;
  k.arc = ziparc_open(src, MFS_MAX_ZIP_MEMBERS, &m->err);
  if (k.arc == NULL) return m->err.code;
  size_t len = 0;
  char *text = schema_read(m, k.arc, &len);
  MfsStatus st = m->err.code ? m->err.code : MFS_ECORRUPT;
  if (text != NULL) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (root == NULL) st = json_error(m, text, len, end);
    free(text);   /* cJSON holds copies: the text need not stay for the build */
    if (root != NULL && !cJSON_IsObject(root))
      st = err_set(&m->err, MFS_ECORRUPT, 0, "schema.json: the root is not a JSON object");
    else if (root != NULL)
      st = skops_run(&k, root);
    cJSON_Delete(root);
  }
  free(k.memo);
  free(k.name);
  ziparc_unref(k.arc);
  return st;
}

/* A zip is ours when it holds schema.json; any other zip is left to the next format. */
static int sniff(Source *src, const uint8_t *head, size_t n) {
  if (n < 4 || memcmp(head, "PK\3\4", 4) != 0 || src->size == SOURCE_SIZE_UNKNOWN) return 0;
  Err e;
  err_clear(&e);
  ZipArc *z = ziparc_open(src, MFS_MAX_ZIP_MEMBERS, &e);
  if (z == NULL) return 0;
  int found = zip_name_locate(z->za, "schema.json", 0) >= 0;
  ziparc_unref(z);
  return found;
}

const Format format_skops = {"skops", sniff, decode};
