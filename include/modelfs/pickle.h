/*
** pickle.h -- the pickle virtual machine: opcodes in, value graph out.
**
** pickle_run executes one pickle stream from the reader's position to its STOP
** with CPython's semantics for stack, MARK, memo and sharing, but it never imports,
** resolves or calls anything: globals become VAL_GLOBAL, calls become VAL_OBJECT,
** and the numpy/copyreg/codecs/datetime plumbing is folded into concrete values by
** the recognisers (numpy.c).  Formats that splice raw bytes into the stream
** (joblib) hook in after BUILD and read from the same Reader.
*/
#ifndef MODELFS_PICKLE_H
#define MODELFS_PICKLE_H

#include "modelfs/model.h"

typedef struct PickleHooks {
  void *ctx;
  /* Called after BUILD applied a state to *obj when *obj is a VAL_OBJECT whose
  ** callable is a VAL_GLOBAL.  May read bytes from r (the stream continues after
  ** them) and replace *obj (the stack slot is updated; memo entries are not, as
  ** in joblib).  Return MFS_OK or an error recorded in m->err.  With r NULL
  ** (the stream was cut before BUILD): read nothing, record nothing, return
  ** MFS_ETRUNC when *obj is one whose data would have followed, else MFS_OK. */
  MfsStatus (*after_build)(void *ctx, Model *m, Reader *r, Value **obj);
  /* When set, PERSID/BINPERSID ask it for the value of persistent id pid (a
  ** format whose loader resolves ids itself, as PyTorch archives do with
  ** storages); the hook name pickle.persistent_load is then not listed among the
  ** model's globals.  *out NULL means: not one of ours, the VM's default applies.
  ** Return MFS_OK or an error recorded in m->err. */
  MfsStatus (*persistent_load)(void *ctx, Model *m, Value *pid, Value **out);
  /* When set, asked first at every REDUCE/NEWOBJ/NEWOBJ_EX/INST/OBJ: *out gets a
  ** value folded by the format (PyTorch's tensor reconstructors), or NULL for
  ** the VM's own recognisers.  Return MFS_OK or an error recorded in m->err. */
  MfsStatus (*call)(void *ctx, Model *m, Value *callable, Value *args, Value **out);
} PickleHooks;

/*
** Run one pickle to its STOP.  depth counts nested pickles (joblib object arrays)
** for the limits.  *result gets the value at STOP; on error, the bottom of the
** stack (the object being built) flagged VF_PARTIAL, or NULL.  *protocol gets the
** PROTO number (0 when absent); may be NULL.
*/
MfsStatus pickle_run(Model *m, Reader *r, const PickleHooks *hooks, int depth,
                     Value **result, int *protocol);

/* pickle_sniff.c: nonzero when a stream whose first n bytes are p (of total bytes,
** UINT64_MAX when unknown) is a pickle: CPython's unpickler, walked without values,
** reaches STOP or an import before it would raise.  pickle_sniff: total unknown. */
int pickle_sniff_stream(const uint8_t *p, size_t n, uint64_t total);
/* Nonzero when byte is an opcode CPython's unpickler knows (any may start one). */
int pickle_is_opcode(int byte);
int pickle_sniff(const uint8_t *head, size_t n);
/* Nonzero when head[0] is an opcode CPython's unpickler would start on. */
int pickle_first_opcode(const uint8_t *head, size_t n);

/* Python-2 to Python-3 name mapping (_compat_pickle), applied to every global.
** Returns the mapped module and name (static or from the table). */
void pickle_map_py2_name(const char **module, const char **name);

#endif
