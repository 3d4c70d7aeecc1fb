/*
** recognise.h -- internal interface between the pickle VM (pickle.c) and the
** recognisers (numpy.c) that fold well-known plumbing calls into concrete values.
**
** The VM calls recognise_call at every REDUCE/NEWOBJ/NEWOBJ_EX/INST/OBJ and
** recognise_build at every BUILD.  A recogniser only reads the Values it is given
** and builds new ones; it never imports, resolves or calls anything, and it never
** reads the pickle stream.  Identity matters: a folded value that BUILD completes
** (ndarray via _reconstruct, dtype) is completed in place, so memo entries that
** point at it see the finished value.
**
** Not a public header: only pickle.c, numpy.c and their unit tests include it.
*/
#ifndef MODELFS_RECOGNISE_H
#define MODELFS_RECOGNISE_H

#include "modelfs/decode.h"

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

/* What the recognisers know about the stream being decoded.  One per pickle_run. */
typedef struct Recog {
  Model *m;
  uint64_t off;             /* offset of the opcode being executed */
  const char *op;           /* its name, for messages */
  U64Map durations;         /* id of a folded timedelta/timezone -> offset in microseconds */
  U64Map dtype_nodes;       /* id of a built dtype -> (depth << 32) | expanded node count */
  U64Map dtype_used;        /* id of a dtype placed inside another dtype -> 1 */
  uint32_t hook_seen;       /* values with id <= this existed when a format hook (joblib's
                               after_build) last ran: it may have sized data by them */
} Recog;

void recog_init(Recog *rc, Model *m);
void recog_done(Recog *rc);

/* Record an error "offset N: OP: reason" for the current opcode; returns code. */
MfsStatus recog_fail(Recog *rc, MfsStatus code, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));

/*
** A call: callable(*args, **kwargs) (how = OBJ_REDUCE or OBJ_INST) or
** callable.__new__(callable, *args) (OBJ_NEWOBJ, OBJ_NEWOBJ_EX).  args is a
** VAL_TUPLE, kwargs a VAL_DICT or NULL.  *out gets the folded value, or NULL when
** the call is not recognised (the VM then builds a VAL_OBJECT).  An error (bad
** arguments to a recognised callable) is recorded in m->err and returned.
*/
MfsStatus recognise_call(Recog *rc, Value *callable, Value *args, Value *kwargs, ObjHow how,
                         Value **out);

/*
** BUILD of state onto target (a VAL_OBJECT or a VAL_DTYPE).  *done = 1 when the
** recogniser applied the state (a dtype, an ndarray completed in place: target
** may change kind); 0 when the VM should record it as the object's state.
*/
MfsStatus recognise_build(Recog *rc, Value *target, Value *state, int *done);

#endif
