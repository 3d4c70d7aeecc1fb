/*
** fuzz_common.h -- what every modelfs fuzz target does with a decoded Model:
** lay out its tree, look every name up again, and read every entry.
**
** The harness must never hide a fault: no signal handlers, no early returns on
** errors other than "nothing to do".  It bounds only the bytes it reads (so a
** valid 1 GB array does not make a run time out), never what the decoder may try.
*/
#ifndef MODELFS_FUZZ_COMMON_H
#define MODELFS_FUZZ_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "modelfs/decode.h"
#include "modelfs/render.h"
#include "modelfs/review.h"
#include "modelfs/trust.h"

#define FUZZ_READ_CHUNK 4096
#define FUZZ_MAX_FILE_READ (1u << 20)     /* bytes read from one entry */
#define FUZZ_MAX_TOTAL_READ (8u << 20)    /* bytes read from one tree */

/* "a/b/c" of a node, built from its parents, into buf; 0 when it does not fit. */
static int fuzz_node_path(const RTree *t, const RNode *n, char *buf, size_t cap) {
  size_t len = 0;
  const RNode *chain[256];
  int depth = 0;
  while (n != NULL && n->index != 0) {
    if (depth == 256) return 0;
    chain[depth++] = n;
    n = render_node(t, n->parent);
  }
  buf[0] = '\0';
  for (int i = depth - 1; i >= 0; i--) {
    size_t k = strlen(chain[i]->name);
    if (len + k + 2 > cap) return 0;
    if (len) buf[len++] = '/';
    memcpy(buf + len, chain[i]->name, k);
    len += k;
    buf[len] = '\0';
  }
  return 1;
}

/* Read one file entry in chunks, and once at an odd offset (random access). */
static void fuzz_read_entry(RTree *t, const RNode *n, uint64_t *budget) {
  static uint8_t buf[FUZZ_READ_CHUNK];
  Err e;
  err_clear(&e);
  uint64_t size = 0;
  if (render_size(t, n, &size, &e) != MFS_OK) return;
  if (n->kind != RK_FILE) return;
  uint64_t off = 0;
  while (off < size && off < FUZZ_MAX_FILE_READ && *budget > 0) {
    size_t got = 0;
    err_clear(&e);
    if (render_read(t, n, off, buf, sizeof buf, &got, &e) != MFS_OK || got == 0) break;
    off += got;
    *budget = *budget > got ? *budget - got : 0;
  }
  if (size > 3) {
    size_t got = 0;
    err_clear(&e);
    (void)render_read(t, n, size / 2 + 1, buf, 7, &got, &e);
    err_clear(&e);
    (void)render_read(t, n, size + 10, buf, 7, &got, &e);   /* past the end */
  }
}

/* `modelfs diff` of a model with itself walks the whole graph (hostile shapes,
** cycles, odd dtypes) under the sanitizers. */
static void fuzz_self_diff(Model *m, const TrustList *trust) {
  Arena *a = trust ? arena_new() : NULL;
  Judgement j;
  ModelDiff d = {0};
  Err e;
  err_clear(&e);
  if (a != NULL && judge_model(m, trust, a, &j) == MFS_OK) (void)model_diff(m, &j, m, &j, &d, &e);
  model_diff_free(&d);
  arena_free(a);
}

/* Decode done; render, look up and read everything, then free all. */
static void fuzz_exercise_model(Model *m, int thorough) {
  if (m == NULL) return;
  TrustList *trust = trust_new_default();
  RTree *t = trust ? render_tree(m, trust) : NULL;
  if (t != NULL) {
    uint64_t budget = FUZZ_MAX_TOTAL_READ;
    uint32_t count = render_count(t);
    static char path[8192];
    for (uint32_t i = 0; i < count; i++) {
      const RNode *n = render_node(t, i);
      if (n == NULL) continue;
      if (n->kind == RK_DIR && n->nchildren > 0 && n->children == NULL) abort();
      fuzz_read_entry(t, n, &budget);
      if (thorough && fuzz_node_path(t, n, path, sizeof path)) {
        const RNode *again = render_path(t, path);
        /* Every laid-out name must be found again by its path. */
        if (again != n) abort();
        if (n->index != 0) {
          const RNode *dir = render_node(t, n->parent);
          if (dir != NULL && render_lookup(t, dir, n->name) != n) abort();
        }
      }
    }
    (void)render_memory(t);
    render_free(t);
  }
  fuzz_self_diff(m, trust);
  trust_free(trust);
  model_free(m);
}

static Model *fuzz_decode_bytes(const uint8_t *data, size_t size, const char *name) {
  Source *src = source_from_memory(data, size, name);
  if (src == NULL) return NULL;
  Model *m = model_decode_source(src, name);
  source_unref(src);
  return m;
}

#endif
