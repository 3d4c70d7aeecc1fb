/*
** json.h -- JSON documents in Python's json.dumps(indent=2) layout (internal to
** the renderer): meta.json, object.json, the N.json of scalar containers.
**
** A streaming writer, so object.json of a big model is never a second tree in
** memory.  Strings are escaped as Python does by default (ensure_ascii), so the
** bytes equal json.dumps(x, indent=2) for the same data.
*/
#ifndef MODELFS_JSON_H
#define MODELFS_JSON_H

#include "modelfs/text.h"
#include "modelfs/value.h"

typedef struct JsonW {
  Buf *b;
  int depth;
  int after_key;           /* the next value follows "key": on the same line */
  unsigned char *has;      /* per depth: an item was written */
  int cap;
  int oom;
} JsonW;

void jw_init(JsonW *w, Buf *b);
void jw_done(JsonW *w);
void jw_begin(JsonW *w, char open);      /* '[' or '{' */
void jw_end(JsonW *w, char close);
void jw_key(JsonW *w, const char *s, size_t n);
void jw_raw(JsonW *w, const char *s, size_t n);   /* a value already in JSON */
void jw_string(JsonW *w, const char *s, size_t n);
void jw_cstring(JsonW *w, const char *s);

/* A JSON string literal with Python's escapes (ensure_ascii=True). */
void json_escape(Buf *b, const char *s, size_t n);

/* A Python scalar: None, bool, int, float, str (also Python-2 str). */
int json_is_scalar(const Value *v);
/* Those plus numeric, bool and str numpy scalars: what object.json writes as a
** JSON value rather than a string. */
int json_is_value(const Value *v);
/* Its JSON text (non-finite floats as "nan", "inf", "-inf"); 0 if not a scalar. */
int json_scalar(Buf *b, const Value *v, Err *e);
/* The value a container holds, unwrapping object-dtype numpy scalars. */
const Value *json_unwrap(const Value *v);

/* True when v is a list/tuple/set/frozenset/dict whose items (and keys) are all
** JSON values (Python scalars or numpy b/i/u/f/U scalars), or empty: rendered
** as one N.json file. */
int json_is_flat_container(const Value *v);
/* A flat set or frozenset as a JSON array sorted by the elements' JSON text. */
MfsStatus json_write_set(JsonW *w, const Value *v, Err *e);
/* The N.json document of such a container, with its trailing newline. */
MfsStatus json_container_doc(Buf *b, const Value *v, Err *e);

#endif
