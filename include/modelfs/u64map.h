/*
** u64map.h -- a map from 64-bit keys to 64-bit values (malloc'd), for decoders.
*/
#ifndef MODELFS_U64MAP_H
#define MODELFS_U64MAP_H

#include <stddef.h>
#include <stdint.h>
#include "modelfs/err.h"

/* A map from 64-bit keys to 64-bit values (malloc'd).  The VM uses it for the
** memo (index -> Value*), the recognisers for facts about values keyed by Value
** id.  Both are mostly 0, 1, 2, ...: small keys live in a plain array while at
** least half of it is used; other keys in an open-addressing table. */
typedef struct U64Map {
  uint64_t *keys;
  uint64_t *vals;
  uint8_t *used;
  size_t n;                 /* entries, in both parts */
  size_t cap;               /* table slots (a power of two, or 0) */
  size_t tn;                /* table entries */
  uint64_t *dvals;          /* the array part: keys [0, dcap) */
  uint8_t *dused;
  size_t dcap;
} U64Map;

int u64map_get(const U64Map *m, uint64_t key, uint64_t *val);     /* 1 when found */
MfsStatus u64map_put(U64Map *m, uint64_t key, uint64_t val);       /* MFS_ENOMEM */
void u64map_free(U64Map *m);

#endif
