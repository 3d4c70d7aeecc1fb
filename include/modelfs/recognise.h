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

#include "modelfs/model.h"
#include "modelfs/u64map.h"

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
