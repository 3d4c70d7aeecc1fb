/*
** limits.h -- every number a model file can make us spend memory or time on.
**
** A file is untrusted input: each count, length or depth it declares is checked
** against one of these before anything is allocated or looped over.  A limit hit
** is a decode error with an offset, never a crash.  Change a number here, never
** hard-code one elsewhere.
*/
#ifndef MODELFS_LIMITS_H
#define MODELFS_LIMITS_H

/* Opcodes executed in one pickle stream.  The largest real model seen (a 100-tree
** forest) runs ~200k opcodes; 200M leaves room for gigabyte pickles yet stops a
** loop of cheap opcodes in seconds. */
#define MFS_MAX_OPCODES          200000000ULL

/* Values on the pickle stack, and open MARKs.  sklearn writes at most a few dozen
** of either; a million is hostile but still costs only ~8 MiB. */
#define MFS_MAX_STACK            1000000
#define MFS_MAX_MARKS            100000

/* Memo entries (PUT/MEMOIZE).  One per value at most; 10M values is beyond any
** model and ~80 MiB of index. */
#define MFS_MAX_MEMO             10000000

/* Values created while decoding one model (arena objects). */
#define MFS_MAX_VALUES           50000000

/* Nesting depth of containers/objects when walking the graph (render, JSON).
** Deeper structures are shown as an error entry, never recursed into. */
#define MFS_MAX_DEPTH            1000

/* A single str/bytes copied into memory.  Larger bytes stay in the source and are
** read by offset; larger strings are an error. */
#define MFS_MAX_INLINE_BYTES     (1u << 16)
#define MFS_MAX_STRING           (64u << 20)

/* Dimensions of an ndarray, and total elements (checked against data length too). */
#define MFS_MAX_NDIM             64
#define MFS_MAX_ELEMENTS         (1ULL << 40)

/* Fields in one structured dtype. */
#define MFS_MAX_FIELDS           4096

/* Decompressed size of one stream (joblib compressors): 64 GiB. */
#define MFS_MAX_DECOMPRESSED     (64ULL << 30)

/* Zip archives (skops, zipped pickles). */
#define MFS_MAX_ZIP_MEMBERS      100000
#define MFS_MAX_ZIP_MEMBER_SIZE  (16ULL << 30)
#define MFS_MAX_SCHEMA_JSON      (256u << 20)
#define MFS_MAX_JSON_DEPTH       1000

/* Names generated for one directory before giving up on "~N" suffixes. */
#define MFS_MAX_COLLISIONS       100000

#endif
