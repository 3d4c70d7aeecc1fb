/*
** npy_read.h -- reading .npy headers (skops members, legacy joblib companions):
** the decoder's side of the .npy format.
*/
#ifndef MODELFS_NPY_READ_H
#define MODELFS_NPY_READ_H

#include "modelfs/value.h"

/* Parse a .npy stream at offset 0 of src into a VAL_NDARRAY whose data Blob points
** into src (no copy).  Object-dtype files are refused (their payload is a pickle). */
Value *npy_read(ValueSet *vs, Source *src, Err *e);
/* The same, but an object-dtype file (numpy.save's pickle.dump of the array, what
** numpy.load(allow_pickle=True) unpickles) returns NULL with *payload set to the
** offset of that pickle and e untouched; *payload stays 0 otherwise. */
Value *npy_read_objects(ValueSet *vs, Source *src, uint64_t *payload, Err *e);

#endif
