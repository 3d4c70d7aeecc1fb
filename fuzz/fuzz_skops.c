/*
** fuzz_skops.c -- libFuzzer target: the skops reader on zip input.
**
** First byte 0: the rest is a whole zip archive (mutated as is).  Otherwise the
** rest is split at the first NUL: before it is schema.json, after it the bytes of
** a member "1.npy"; both are wrapped here in a stored zip with correct CRCs, so
** mutations reach the JSON and node decoders instead of dying in the zip reader.
*/
#include <zlib.h>
#include "fuzz_common.h"

typedef struct Zip {
  uint8_t *p;
  size_t n, cap;
} Zip;

static int zput(Zip *z, const void *p, size_t n) {
  if (z->n + n > z->cap) {
    size_t nc = (z->cap + n) * 2;
    uint8_t *np = realloc(z->p, nc);
    if (np == NULL) return 0;
    z->p = np, z->cap = nc;
  }
  memcpy(z->p + z->n, p, n);
  z->n += n;
  return 1;
}

static int zu16(Zip *z, unsigned v) { uint8_t b[2] = {v & 0xff, (v >> 8) & 0xff}; return zput(z, b, 2); }
static int zu32(Zip *z, uint32_t v) {
  uint8_t b[4] = {v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >> 24) & 0xff};
  return zput(z, b, 4);
}

typedef struct Member { const char *name; const uint8_t *p; size_t n; uint32_t off, crc; } Member;

static int zip_header(Zip *z, const Member *m, int central) {
  size_t k = strlen(m->name);
  int ok = zu32(z, central ? 0x02014b50 : 0x04034b50);
  if (central) ok = ok && zu16(z, 20);
  ok = ok && zu16(z, 20) && zu16(z, 0) && zu16(z, 0) && zu16(z, 0) && zu16(z, 0x21) &&
       zu32(z, m->crc) && zu32(z, (uint32_t)m->n) && zu32(z, (uint32_t)m->n) &&
       zu16(z, (unsigned)k) && zu16(z, 0);
  if (central) ok = ok && zu16(z, 0) && zu16(z, 0) && zu16(z, 0) && zu32(z, 0) && zu32(z, m->off);
  return ok && zput(z, m->name, k);
}

static uint8_t *stored_zip(Member *mem, int nmem, size_t *len) {
  Zip z = {NULL, 0, 0};
  int ok = 1;
  for (int i = 0; i < nmem && ok; i++) {
    mem[i].off = (uint32_t)z.n;
    mem[i].crc = (uint32_t)crc32(0, mem[i].p, (uInt)mem[i].n);
    ok = zip_header(&z, &mem[i], 0) && zput(&z, mem[i].p, mem[i].n);
  }
  uint32_t cd = (uint32_t)z.n;
  for (int i = 0; i < nmem && ok; i++) ok = zip_header(&z, &mem[i], 1);
  uint32_t cd_len = (uint32_t)z.n - cd;
  ok = ok && zu32(&z, 0x06054b50) && zu16(&z, 0) && zu16(&z, 0) && zu16(&z, (unsigned)nmem) &&
       zu16(&z, (unsigned)nmem) && zu32(&z, cd_len) && zu32(&z, cd) && zu16(&z, 0);
  if (!ok) return free(z.p), NULL;
  *len = z.n;
  return z.p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > (1u << 24)) return 0;
  if (data[0] == 0) {
    fuzz_exercise_model(fuzz_decode_bytes(data + 1, size - 1, "fuzz.skops"), 0);
    return 0;
  }
  const uint8_t *p = data + 1;
  size_t n = size - 1;
  const uint8_t *nul = memchr(p, 0, n);
  size_t schema_len = nul ? (size_t)(nul - p) : n;
  Member mem[2] = {{"1.npy", nul ? nul + 1 : p, nul ? n - schema_len - 1 : 0, 0, 0},
                   {"schema.json", p, schema_len, 0, 0}};
  size_t len;
  uint8_t *zip = stored_zip(mem, 2, &len);
  if (zip == NULL) return 0;
  fuzz_exercise_model(fuzz_decode_bytes(zip, len, "fuzz.skops"), 0);
  free(zip);
  return 0;
}
