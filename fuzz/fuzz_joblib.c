/*
** fuzz_joblib.c -- libFuzzer target: the joblib reader through a compressed stream.
**
** The first byte picks how the rest reaches the decoder: 0 as is (raw joblib, or
** compressed bytes the fuzzer mutates directly), then compressed here with zlib,
** gzip, bz2, xz, lzma-alone or lz4-frame, or wrapped as a legacy joblib "ZF"
** Z-file.  Compressing valid mutations lets the fuzzer reach the pickle VM behind
** every decompressor, which random compressed bytes almost never do.
*/
#include <bzlib.h>
#include <lz4frame.h>
#include <lzma.h>
#include <stdio.h>
#include <zlib.h>
#include "fuzz_common.h"

enum { MODE_RAW, MODE_ZLIB, MODE_GZIP, MODE_BZ2, MODE_XZ, MODE_LZMA, MODE_LZ4, MODE_ZF, MODE_COUNT };

static uint8_t *deflate_with(const uint8_t *p, size_t n, int wbits, size_t *out_len) {
  z_stream z;
  memset(&z, 0, sizeof z);
  if (deflateInit2(&z, 3, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY) != Z_OK) return NULL;
  size_t cap = deflateBound(&z, n) + 32;
  uint8_t *out = malloc(cap);
  if (out == NULL) return deflateEnd(&z), NULL;
  z.next_in = (Bytef *)p;
  z.avail_in = (uInt)n;
  z.next_out = out;
  z.avail_out = (uInt)cap;
  int st = deflate(&z, Z_FINISH);
  *out_len = z.total_out;
  deflateEnd(&z);
  if (st != Z_STREAM_END) return free(out), NULL;
  return out;
}

static uint8_t *bz2_of(const uint8_t *p, size_t n, size_t *out_len) {
  unsigned int cap = (unsigned int)(n + n / 100 + 700);
  uint8_t *out = malloc(cap);
  if (out == NULL) return NULL;
  if (BZ2_bzBuffToBuffCompress((char *)out, &cap, (char *)p, (unsigned int)n, 1, 0, 0) != BZ_OK)
    return free(out), NULL;
  *out_len = cap;
  return out;
}

static uint8_t *xz_of(const uint8_t *p, size_t n, int alone, size_t *out_len) {
  size_t cap = lzma_stream_buffer_bound(n) + 64;
  uint8_t *out = malloc(cap);
  if (out == NULL) return NULL;
  lzma_stream s = LZMA_STREAM_INIT;
  lzma_options_lzma opt;
  lzma_lzma_preset(&opt, 0);
  lzma_ret r = alone ? lzma_alone_encoder(&s, &opt) : lzma_easy_encoder(&s, 0, LZMA_CHECK_CRC64);
  if (r != LZMA_OK) return free(out), NULL;
  s.next_in = p;
  s.avail_in = n;
  s.next_out = out;
  s.avail_out = cap;
  r = lzma_code(&s, LZMA_FINISH);
  *out_len = s.total_out;
  lzma_end(&s);
  if (r != LZMA_STREAM_END) return free(out), NULL;
  return out;
}

static uint8_t *lz4_of(const uint8_t *p, size_t n, size_t *out_len) {
  size_t cap = LZ4F_compressFrameBound(n, NULL);
  uint8_t *out = malloc(cap);
  if (out == NULL) return NULL;
  size_t r = LZ4F_compressFrame(out, cap, p, n, NULL);
  if (LZ4F_isError(r)) return free(out), NULL;
  *out_len = r;
  return out;
}

/* "ZF" + the uncompressed length as hex, left-justified in 19 bytes, + zlib. */
static uint8_t *zf_of(const uint8_t *p, size_t n, size_t *out_len) {
  size_t zn;
  uint8_t *z = deflate_with(p, n, 15, &zn);
  if (z == NULL) return NULL;
  uint8_t *out = malloc(zn + 21);
  if (out == NULL) return free(z), NULL;
  char hdr[22];
  snprintf(hdr, sizeof hdr, "ZF%-19s", "");
  int k = snprintf(hdr + 2, 20, "%#zx", n);
  if (k > 0 && k < 19) hdr[2 + k] = ' ';
  memcpy(out, hdr, 21);
  memcpy(out + 21, z, zn);
  free(z);
  *out_len = zn + 21;
  return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int mode = data[0] % MODE_COUNT;
  const uint8_t *p = data + 1;
  size_t n = size - 1, len = 0;
  uint8_t *buf = NULL;
  switch (mode) {
    case MODE_ZLIB: buf = deflate_with(p, n, 15, &len); break;
    case MODE_GZIP: buf = deflate_with(p, n, 31, &len); break;
    case MODE_BZ2: buf = bz2_of(p, n, &len); break;
    case MODE_XZ: buf = xz_of(p, n, 0, &len); break;
    case MODE_LZMA: buf = xz_of(p, n, 1, &len); break;
    case MODE_LZ4: buf = lz4_of(p, n, &len); break;
    case MODE_ZF: buf = zf_of(p, n, &len); break;
    default: break;
  }
  if (mode != MODE_RAW && buf == NULL) return 0;
  const uint8_t *in = buf ? buf : p;
  size_t in_len = buf ? len : n;
  fuzz_exercise_model(fuzz_decode_bytes(in, in_len, "fuzz.joblib"), 0);
  free(buf);
  return 0;
}
