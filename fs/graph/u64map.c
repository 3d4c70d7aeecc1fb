/*
** u64map.c -- a map from 64-bit keys to 64-bit values: an array part for the small
** dense keys pickles use (memo indexes, value ids) and an open-addressing table for
** the rest.  Must never let a file's keys make it large: the array part grows only
** while at least half of it is used.
*/
#include <stdlib.h>
#include <string.h>
#include "modelfs/u64map.h"

static size_t map_slot(uint64_t key, size_t cap) {
  key ^= key >> 33;
  key *= 0xff51afd7ed558ccdULL;
  key ^= key >> 33;
  return (size_t)key & (cap - 1);
}

static int table_get(const U64Map *m, uint64_t key, uint64_t **val) {
  if (m->cap == 0) return 0;
  for (size_t i = map_slot(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
    if (!m->used[i]) return 0;
    if (m->keys[i] == key) {
      *val = &m->vals[i];
      return 1;
    }
  }
}

int u64map_get(const U64Map *m, uint64_t key, uint64_t *val) {
  uint64_t *v;
  if (key < m->dcap && m->dused[key]) v = &m->dvals[key];
  else if (!table_get(m, key, &v)) return 0;
  if (val) *val = *v;
  return 1;
}

static MfsStatus table_put(U64Map *m, uint64_t key, uint64_t val);

static MfsStatus map_grow(U64Map *m) {
  size_t cap = m->cap ? m->cap * 2 : 64;
  U64Map n = {calloc(cap, sizeof(uint64_t)), calloc(cap, sizeof(uint64_t)), calloc(cap, 1), 0,
              cap, 0, NULL, NULL, 0};
  if (n.keys == NULL || n.vals == NULL || n.used == NULL) {
    u64map_free(&n);
    return MFS_ENOMEM;
  }
  for (size_t i = 0; i < m->cap; i++)
    if (m->used[i]) table_put(&n, m->keys[i], m->vals[i]);
  free(m->keys);
  free(m->vals);
  free(m->used);
  m->keys = n.keys;
  m->vals = n.vals;
  m->used = n.used;
  m->cap = cap;
  return MFS_OK;
}

static MfsStatus table_put(U64Map *m, uint64_t key, uint64_t val) {
  if ((m->tn + 1) * 2 > m->cap && map_grow(m) != MFS_OK) return MFS_ENOMEM;
  size_t i = map_slot(key, m->cap);
  while (m->used[i] && m->keys[i] != key) i = (i + 1) & (m->cap - 1);
  if (!m->used[i]) {
    m->used[i] = 1;
    m->keys[i] = key;
    m->tn++;
    m->n++;
  }
  m->vals[i] = val;
  return MFS_OK;
}

/* Grow the array part to cover key when it stays at least half used (so a file
** cannot make it large with a few big keys).  0 when the key goes to the table. */
static int dense_fit(U64Map *m, uint64_t key) {
  if (key < m->dcap) return 1;
  size_t cap = m->dcap ? m->dcap : 64;
  while (cap <= key && cap <= SIZE_MAX / 4) cap *= 2;
  if (cap <= key || cap > 2 * (m->n + 1) + 64) return 0;
  uint64_t *v = realloc(m->dvals, cap * sizeof *v);
  if (v == NULL) return 0;
  m->dvals = v;
  uint8_t *u = realloc(m->dused, cap);
  if (u == NULL) return 0;
  memset(u + m->dcap, 0, cap - m->dcap);
  m->dused = u;
  m->dcap = cap;
  return 1;
}

MfsStatus u64map_put(U64Map *m, uint64_t key, uint64_t val) {
  uint64_t *v;
  if (m->tn > 0 && table_get(m, key, &v)) {   /* put there before the array reached it */
    *v = val;
    return MFS_OK;
  }
  if (!dense_fit(m, key)) return table_put(m, key, val);
  if (!m->dused[key]) {
    m->dused[key] = 1;
    m->n++;
  }
  m->dvals[key] = val;
  return MFS_OK;
}

void u64map_free(U64Map *m) {
  free(m->keys);
  free(m->vals);
  free(m->used);
  free(m->dvals);
  free(m->dused);
  memset(m, 0, sizeof *m);
}
