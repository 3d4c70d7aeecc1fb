/*
** pickle.c -- the pickle virtual machine: opcodes in, value graph out.
**
** Executes one pickle stream (protocols 0-5, all 68 opcodes) with CPython's
** semantics for the stack, MARKs, the memo and object sharing, and builds the
** value graph of value.h.  It must never import, resolve or call anything: a
** global is a VAL_GLOBAL naming it, a call is a VAL_OBJECT, and the well-known
** numpy/copyreg/codecs/datetime plumbing is folded by the recognisers (numpy.c,
** through recognise.h).  It must never recurse on file data (the loop is
** iterative), never allocate a length the file declares before checking it
** against the bytes that remain and limits.h, and never copy large bytes: those
** stay in the Source and are referenced by offset.
**
** Choices where CPython would call user code:
**  - PERSID/BINPERSID give VAL_OBJECT(callable = VAL_GLOBAL pickle.persistent_load,
**    args = (pid,)) unless the format's persistent_load hook resolves the id;
**    EXT1/2/4 give VAL_OBJECT(copyreg._inverted_registry, (code,)).  Both hook
**    names are listed among the model's globals (untrusted), since the loader
**    resolves them through code the file does not show.
**  - NEXT_BUFFER (and READONLY_BUFFER on anything but in-band bytes) is an
**    "out-of-band buffer" error: files carry no out-of-band buffers.
**  - Dict keys are not deduplicated (dict_put appends; lookups take the last).
*/
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "modelfs/limits.h"
#include "modelfs/pickle.h"
#include "modelfs/recognise.h"
#include "modelfs/utf8.h"

/* ---- Python-2 names (CPython's Lib/_compat_pickle.py, 3.11) ------------------- */

typedef struct NameMap { const char *mod, *name, *to_mod, *to_name; } NameMap;
typedef struct ModMap { const char *mod, *to_mod; } ModMap;

/* NAME_MAPPING, sorted by (module, name). */
static const NameMap name_mapping[] = {
  {"UserDict", "IterableUserDict", "collections", "UserDict"},
  {"UserDict", "UserDict", "collections", "UserDict"},
  {"UserList", "UserList", "collections", "UserList"},
  {"UserString", "UserString", "collections", "UserString"},
  {"__builtin__", "basestring", "builtins", "str"},
  {"__builtin__", "intern", "sys", "intern"},
  {"__builtin__", "long", "builtins", "int"},
  {"__builtin__", "reduce", "functools", "reduce"},
  {"__builtin__", "unichr", "builtins", "chr"},
  {"__builtin__", "unicode", "builtins", "str"},
  {"__builtin__", "xrange", "builtins", "range"},
  {"_multiprocessing", "Connection", "multiprocessing.connection", "Connection"},
  {"_socket", "fromfd", "socket", "fromfd"},
  {"exceptions", "ArithmeticError", "builtins", "ArithmeticError"},
  {"exceptions", "AssertionError", "builtins", "AssertionError"},
  {"exceptions", "AttributeError", "builtins", "AttributeError"},
  {"exceptions", "BaseException", "builtins", "BaseException"},
  {"exceptions", "BufferError", "builtins", "BufferError"},
  {"exceptions", "BytesWarning", "builtins", "BytesWarning"},
  {"exceptions", "DeprecationWarning", "builtins", "DeprecationWarning"},
  {"exceptions", "EOFError", "builtins", "EOFError"},
  {"exceptions", "EnvironmentError", "builtins", "EnvironmentError"},
  {"exceptions", "Exception", "builtins", "Exception"},
  {"exceptions", "FloatingPointError", "builtins", "FloatingPointError"},
  {"exceptions", "FutureWarning", "builtins", "FutureWarning"},
  {"exceptions", "GeneratorExit", "builtins", "GeneratorExit"},
  {"exceptions", "IOError", "builtins", "IOError"},
  {"exceptions", "ImportError", "builtins", "ImportError"},
  {"exceptions", "ImportWarning", "builtins", "ImportWarning"},
  {"exceptions", "IndentationError", "builtins", "IndentationError"},
  {"exceptions", "IndexError", "builtins", "IndexError"},
  {"exceptions", "KeyError", "builtins", "KeyError"},
  {"exceptions", "KeyboardInterrupt", "builtins", "KeyboardInterrupt"},
  {"exceptions", "LookupError", "builtins", "LookupError"},
  {"exceptions", "MemoryError", "builtins", "MemoryError"},
  {"exceptions", "NameError", "builtins", "NameError"},
  {"exceptions", "NotImplementedError", "builtins", "NotImplementedError"},
  {"exceptions", "OSError", "builtins", "OSError"},
  {"exceptions", "OverflowError", "builtins", "OverflowError"},
  {"exceptions", "PendingDeprecationWarning", "builtins", "PendingDeprecationWarning"},
  {"exceptions", "ReferenceError", "builtins", "ReferenceError"},
  {"exceptions", "RuntimeError", "builtins", "RuntimeError"},
  {"exceptions", "RuntimeWarning", "builtins", "RuntimeWarning"},
  {"exceptions", "StandardError", "builtins", "Exception"},
  {"exceptions", "StopIteration", "builtins", "StopIteration"},
  {"exceptions", "SyntaxError", "builtins", "SyntaxError"},
  {"exceptions", "SyntaxWarning", "builtins", "SyntaxWarning"},
  {"exceptions", "SystemError", "builtins", "SystemError"},
  {"exceptions", "SystemExit", "builtins", "SystemExit"},
  {"exceptions", "TabError", "builtins", "TabError"},
  {"exceptions", "TypeError", "builtins", "TypeError"},
  {"exceptions", "UnboundLocalError", "builtins", "UnboundLocalError"},
  {"exceptions", "UnicodeDecodeError", "builtins", "UnicodeDecodeError"},
  {"exceptions", "UnicodeEncodeError", "builtins", "UnicodeEncodeError"},
  {"exceptions", "UnicodeError", "builtins", "UnicodeError"},
  {"exceptions", "UnicodeTranslateError", "builtins", "UnicodeTranslateError"},
  {"exceptions", "UnicodeWarning", "builtins", "UnicodeWarning"},
  {"exceptions", "UserWarning", "builtins", "UserWarning"},
  {"exceptions", "ValueError", "builtins", "ValueError"},
  {"exceptions", "Warning", "builtins", "Warning"},
  {"exceptions", "ZeroDivisionError", "builtins", "ZeroDivisionError"},
  {"itertools", "ifilter", "builtins", "filter"},
  {"itertools", "ifilterfalse", "itertools", "filterfalse"},
  {"itertools", "imap", "builtins", "map"},
  {"itertools", "izip", "builtins", "zip"},
  {"itertools", "izip_longest", "itertools", "zip_longest"},
  {"multiprocessing", "AuthenticationError", "multiprocessing.context", "AuthenticationError"},
  {"multiprocessing", "BufferTooShort", "multiprocessing.context", "BufferTooShort"},
  {"multiprocessing", "ProcessError", "multiprocessing.context", "ProcessError"},
  {"multiprocessing", "TimeoutError", "multiprocessing.context", "TimeoutError"},
  {"multiprocessing.forking", "Popen", "multiprocessing.popen_fork", "Popen"},
  {"multiprocessing.process", "Process", "multiprocessing.context", "Process"},
  {"socket", "_socketobject", "socket", "SocketType"},
  {"urllib", "ContentTooShortError", "urllib.error", "ContentTooShortError"},
  {"urllib", "getproxies", "urllib.request", "getproxies"},
  {"urllib", "pathname2url", "urllib.request", "pathname2url"},
  {"urllib", "quote", "urllib.parse", "quote"},
  {"urllib", "quote_plus", "urllib.parse", "quote_plus"},
  {"urllib", "unquote", "urllib.parse", "unquote"},
  {"urllib", "unquote_plus", "urllib.parse", "unquote_plus"},
  {"urllib", "url2pathname", "urllib.request", "url2pathname"},
  {"urllib", "urlcleanup", "urllib.request", "urlcleanup"},
  {"urllib", "urlencode", "urllib.parse", "urlencode"},
  {"urllib", "urlopen", "urllib.request", "urlopen"},
  {"urllib", "urlretrieve", "urllib.request", "urlretrieve"},
  {"urllib2", "HTTPError", "urllib.error", "HTTPError"},
  {"urllib2", "URLError", "urllib.error", "URLError"},
  {"whichdb", "whichdb", "dbm", "whichdb"},
};

/* IMPORT_MAPPING, sorted by module. */
static const ModMap import_mapping[] = {
  {"BaseHTTPServer", "http.server"},
  {"CGIHTTPServer", "http.server"},
  {"ConfigParser", "configparser"},
  {"Cookie", "http.cookies"},
  {"Dialog", "tkinter.dialog"},
  {"DocXMLRPCServer", "xmlrpc.server"},
  {"FileDialog", "tkinter.filedialog"},
  {"HTMLParser", "html.parser"},
  {"Queue", "queue"},
  {"ScrolledText", "tkinter.scrolledtext"},
  {"SimpleDialog", "tkinter.simpledialog"},
  {"SimpleHTTPServer", "http.server"},
  {"SimpleXMLRPCServer", "xmlrpc.server"},
  {"SocketServer", "socketserver"},
  {"StringIO", "io"},
  {"Tix", "tkinter.tix"},
  {"Tkconstants", "tkinter.constants"},
  {"Tkdnd", "tkinter.dnd"},
  {"Tkinter", "tkinter"},
  {"UserDict", "collections"},
  {"UserList", "collections"},
  {"UserString", "collections"},
  {"__builtin__", "builtins"},
  {"_abcoll", "collections.abc"},
  {"_elementtree", "xml.etree.ElementTree"},
  {"_winreg", "winreg"},
  {"anydbm", "dbm"},
  {"cPickle", "pickle"},
  {"cStringIO", "io"},
  {"commands", "subprocess"},
  {"cookielib", "http.cookiejar"},
  {"copy_reg", "copyreg"},
  {"dbhash", "dbm.bsd"},
  {"dbm", "dbm.ndbm"},
  {"dumbdbm", "dbm.dumb"},
  {"dummy_thread", "_dummy_thread"},
  {"gdbm", "dbm.gnu"},
  {"htmlentitydefs", "html.entities"},
  {"httplib", "http.client"},
  {"markupbase", "_markupbase"},
  {"repr", "reprlib"},
  {"robotparser", "urllib.robotparser"},
  {"test.test_support", "test.support"},
  {"thread", "_thread"},
  {"tkColorChooser", "tkinter.colorchooser"},
  {"tkCommonDialog", "tkinter.commondialog"},
  {"tkFileDialog", "tkinter.filedialog"},
  {"tkFont", "tkinter.font"},
  {"tkMessageBox", "tkinter.messagebox"},
  {"tkSimpleDialog", "tkinter.simpledialog"},
  {"ttk", "tkinter.ttk"},
  {"urllib2", "urllib.request"},
  {"urlparse", "urllib.parse"},
  {"whichdb", "dbm"},
  {"xmlrpclib", "xmlrpc.client"},
};

static int cmp_name(const void *k, const void *e) {
  const NameMap *a = k, *b = e;
  int c = strcmp(a->mod, b->mod);
  return c ? c : strcmp(a->name, b->name);
}

static int cmp_mod(const void *k, const void *e) {
  return strcmp(((const ModMap *)k)->mod, ((const ModMap *)e)->mod);
}

void pickle_map_py2_name(const char **module, const char **name) {
  NameMap key = {*module, *name, NULL, NULL};
  const NameMap *n = bsearch(&key, name_mapping, sizeof name_mapping / sizeof *name_mapping,
                             sizeof *name_mapping, cmp_name);
  if (n != NULL) {
    *module = n->to_mod;
    *name = n->to_name;
    return;
  }
  ModMap mk = {*module, NULL};
  const ModMap *m = bsearch(&mk, import_mapping, sizeof import_mapping / sizeof *import_mapping,
                            sizeof *import_mapping, cmp_mod);
  if (m != NULL) *module = m->to_mod;
}

/* ---- opcodes ------------------------------------------------------------------ */

enum {
  OP_MARK = '(', OP_STOP = '.', OP_POP = '0', OP_POP_MARK = '1', OP_DUP = '2',
  OP_BINBYTES = 'B', OP_SHORT_BINBYTES = 'C', OP_FLOAT = 'F', OP_BINFLOAT = 'G',
  OP_INT = 'I', OP_BININT = 'J', OP_BININT1 = 'K', OP_LONG = 'L', OP_BININT2 = 'M',
  OP_NONE = 'N', OP_PERSID = 'P', OP_BINPERSID = 'Q', OP_REDUCE = 'R', OP_STRING = 'S',
  OP_BINSTRING = 'T', OP_SHORT_BINSTRING = 'U', OP_UNICODE = 'V', OP_BINUNICODE = 'X',
  OP_EMPTY_LIST = ']', OP_APPEND = 'a', OP_BUILD = 'b', OP_GLOBAL = 'c', OP_DICT = 'd',
  OP_APPENDS = 'e', OP_GET = 'g', OP_BINGET = 'h', OP_INST = 'i', OP_LONG_BINGET = 'j',
  OP_LIST = 'l', OP_OBJ = 'o', OP_PUT = 'p', OP_BINPUT = 'q', OP_LONG_BINPUT = 'r',
  OP_SETITEM = 's', OP_TUPLE = 't', OP_SETITEMS = 'u', OP_EMPTY_DICT = '}',
  OP_EMPTY_TUPLE = ')',
  OP_PROTO = 0x80, OP_NEWOBJ, OP_EXT1, OP_EXT2, OP_EXT4, OP_TUPLE1, OP_TUPLE2, OP_TUPLE3,
  OP_NEWTRUE, OP_NEWFALSE, OP_LONG1, OP_LONG4, OP_SHORT_BINUNICODE, OP_BINUNICODE8,
  OP_BINBYTES8, OP_EMPTY_SET, OP_ADDITEMS, OP_FROZENSET, OP_NEWOBJ_EX, OP_STACK_GLOBAL,
  OP_MEMOIZE, OP_FRAME, OP_BYTEARRAY8, OP_NEXT_BUFFER, OP_READONLY_BUFFER
};

static const char *op_name(int op) {
  switch (op) {
  case OP_MARK: return "MARK";
  case OP_STOP: return "STOP";
  case OP_POP: return "POP";
  case OP_POP_MARK: return "POP_MARK";
  case OP_DUP: return "DUP";
  case OP_BINBYTES: return "BINBYTES";
  case OP_SHORT_BINBYTES: return "SHORT_BINBYTES";
  case OP_FLOAT: return "FLOAT";
  case OP_BINFLOAT: return "BINFLOAT";
  case OP_INT: return "INT";
  case OP_BININT: return "BININT";
  case OP_BININT1: return "BININT1";
  case OP_LONG: return "LONG";
  case OP_BININT2: return "BININT2";
  case OP_NONE: return "NONE";
  case OP_PERSID: return "PERSID";
  case OP_BINPERSID: return "BINPERSID";
  case OP_REDUCE: return "REDUCE";
  case OP_STRING: return "STRING";
  case OP_BINSTRING: return "BINSTRING";
  case OP_SHORT_BINSTRING: return "SHORT_BINSTRING";
  case OP_UNICODE: return "UNICODE";
  case OP_BINUNICODE: return "BINUNICODE";
  case OP_EMPTY_LIST: return "EMPTY_LIST";
  case OP_APPEND: return "APPEND";
  case OP_BUILD: return "BUILD";
  case OP_GLOBAL: return "GLOBAL";
  case OP_DICT: return "DICT";
  case OP_APPENDS: return "APPENDS";
  case OP_GET: return "GET";
  case OP_BINGET: return "BINGET";
  case OP_INST: return "INST";
  case OP_LONG_BINGET: return "LONG_BINGET";
  case OP_LIST: return "LIST";
  case OP_OBJ: return "OBJ";
  case OP_PUT: return "PUT";
  case OP_BINPUT: return "BINPUT";
  case OP_LONG_BINPUT: return "LONG_BINPUT";
  case OP_SETITEM: return "SETITEM";
  case OP_TUPLE: return "TUPLE";
  case OP_SETITEMS: return "SETITEMS";
  case OP_EMPTY_DICT: return "EMPTY_DICT";
  case OP_EMPTY_TUPLE: return "EMPTY_TUPLE";
  case OP_PROTO: return "PROTO";
  case OP_NEWOBJ: return "NEWOBJ";
  case OP_EXT1: return "EXT1";
  case OP_EXT2: return "EXT2";
  case OP_EXT4: return "EXT4";
  case OP_TUPLE1: return "TUPLE1";
  case OP_TUPLE2: return "TUPLE2";
  case OP_TUPLE3: return "TUPLE3";
  case OP_NEWTRUE: return "NEWTRUE";
  case OP_NEWFALSE: return "NEWFALSE";
  case OP_LONG1: return "LONG1";
  case OP_LONG4: return "LONG4";
  case OP_SHORT_BINUNICODE: return "SHORT_BINUNICODE";
  case OP_BINUNICODE8: return "BINUNICODE8";
  case OP_BINBYTES8: return "BINBYTES8";
  case OP_EMPTY_SET: return "EMPTY_SET";
  case OP_ADDITEMS: return "ADDITEMS";
  case OP_FROZENSET: return "FROZENSET";
  case OP_NEWOBJ_EX: return "NEWOBJ_EX";
  case OP_STACK_GLOBAL: return "STACK_GLOBAL";
  case OP_MEMOIZE: return "MEMOIZE";
  case OP_FRAME: return "FRAME";
  case OP_BYTEARRAY8: return "BYTEARRAY8";
  case OP_NEXT_BUFFER: return "NEXT_BUFFER";
  case OP_READONLY_BUFFER: return "READONLY_BUFFER";
  default: return NULL;
  }
}

int pickle_is_opcode(int byte) { return op_name(byte) != NULL; }

/* ---- machine state -------------------------------------------------------------- */

typedef struct Vm {
  Model *m;
  ValueSet *vs;
  Reader *r;
  Err *outer_err;           /* the reader's own Err: restored around hooks and at exit */
  Err rerr;                 /* reader failures, re-reported with the opcode's name */
  const PickleHooks *hooks;
  int depth;
  int proto;
  Value **stack;
  size_t sp, scap;
  size_t *marks;
  size_t nmarks, mcap;
  U64Map memo;              /* index -> Value* */
  uint64_t op_off;          /* offset of the opcode being executed */
  int op;
  uint64_t frame_overrun;   /* 1 + offset of a FRAME longer than the file, else 0 */
  uint64_t frame_off;       /* offset of the FRAME whose bytes are being read */
  uint64_t frame_end;       /* where that frame's bytes end; 0 when none is open */
  uint64_t prev_off;        /* offset of the opcode before this one */
  int prev_op;              /* and that opcode */
  uint64_t straddle;        /* 1 + offset of the first opcode that ran past its frame's end */
  uint64_t straddle_frame, straddle_to;   /* that FRAME's offset, where the opcode ended */
  uint64_t max_ops;
  unsigned nested;          /* pickles tried inside bytes values so far */
  int binary;               /* an opcode of protocol >= 1 ran: MARK may mean APPENDS */
  char *scratch;            /* NUL-terminated copies of text arguments */
  size_t scratch_cap;
  Value *result;
  Recog rc;
} Vm;

static MfsStatus vm_fail(Vm *vm, MfsStatus code, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));
static MfsStatus run(Model *m, Reader *r, const PickleHooks *hooks, int depth,
                     Value **result, int *protocol, uint64_t max_ops);
static void nested_bytes(Vm *vm, const Value *b, int handed);

static MfsStatus vm_fail(Vm *vm, MfsStatus code, const char *fmt, ...) {
  char why[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  const char *name = op_name(vm->op);
  return err_set(&vm->m->err, code, vm->op_off, "offset %llu: %s%s%s",
                 (unsigned long long)vm->op_off, name ? name : "", name ? ": " : "", why);
}

/* The reader's bytes simply ended (err_is_end_of_data); a source that ends with a
** reason of its own (a compressed stream cut short: "zlib stream truncated at
** compressed offset N") has that reason said instead. */
static int plain_end(const Vm *vm) { return err_is_end_of_data(&vm->rerr); }

/* The reader recorded why it failed in vm->rerr; say it again with the opcode. */
static MfsStatus rd_fail(Vm *vm) {
  if (plain_end(vm))
    return vm_fail(vm, MFS_ETRUNC, "truncated (data ends at offset %llu)",
                   (unsigned long long)vm->rerr.offset);
  if (vm->rerr.code == MFS_ETRUNC)     /* where the stream broke, not the opcode */
    return err_set(&vm->m->err, MFS_ETRUNC, vm->rerr.offset, "%s", vm->rerr.msg);
  const char *msg = vm->rerr.msg;
  if (strncmp(msg, "offset ", 7) == 0 && strstr(msg, ": ") != NULL) msg = strstr(msg, ": ") + 2;
  return vm_fail(vm, vm->rerr.code != MFS_OK ? vm->rerr.code : MFS_EIO, "%s", msg);
}

static MfsStatus take(Vm *vm, size_t n, const uint8_t **p) {
  return reader_take(vm->r, n, p) == MFS_OK ? MFS_OK : rd_fail(vm);
}

static MfsStatus scratch_fit(Vm *vm, size_t need) {
  if (need <= vm->scratch_cap) return MFS_OK;
  size_t cap = vm->scratch_cap ? vm->scratch_cap : 256;
  while (cap < need) cap *= 2;
  char *n = realloc(vm->scratch, cap);
  if (n == NULL) return vm_fail(vm, MFS_ENOMEM, "out of memory");
  vm->scratch = n;
  vm->scratch_cap = cap;
  return MFS_OK;
}

/* A text argument (up to '\n', which is consumed), copied NUL-terminated into
** vm->scratch.  Lines may be longer than the reader's buffer (protocol 0 writes a
** whole bytes object on one line); MFS_MAX_STRING caps them. */
static MfsStatus text_line(Vm *vm, char **s, size_t *len) {
  size_t have = 0;
  for (;;) {
    const uint8_t *p;
    size_t got;
    if (reader_peek(vm->r, READER_BUF, &p, &got) != MFS_OK) return rd_fail(vm);
    const uint8_t *nl = memchr(p, '\n', got);
    size_t k = nl ? (size_t)(nl - p) : got;
    if (!nl && got < READER_BUF)
      return vm_fail(vm, MFS_ETRUNC, "line not terminated before end of data");
    if (have + k > MFS_MAX_STRING)
      return vm_fail(vm, MFS_ELIMIT, "text argument longer than %u bytes", MFS_MAX_STRING);
    if (scratch_fit(vm, have + k + 1) != MFS_OK) return vm->m->err.code;
    memcpy(vm->scratch + have, p, k);
    have += k;
    if (reader_take(vm->r, nl ? k + 1 : k, &p) != MFS_OK) return rd_fail(vm);
    if (nl) break;
  }
  vm->scratch[have] = '\0';
  *s = vm->scratch;
  *len = have;
  return MFS_OK;
}

static uint64_t le_u(const uint8_t *p, int n) {
  switch (n) {   /* the common widths as single loads */
    case 1: return p[0];
    case 4: return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24;
    default: break;
  }
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

static MfsStatus take_u(Vm *vm, int n, uint64_t *v) {
  const uint8_t *p;
  if (take(vm, (size_t)n, &p) != MFS_OK) return vm->m->err.code;
  *v = le_u(p, n);
  return MFS_OK;
}

/* A length from the file against a limit and against the bytes that remain. */
static MfsStatus check_len(Vm *vm, uint64_t len, uint64_t cap) {
  if (len > cap)
    return vm_fail(vm, MFS_ELIMIT, "length %llu exceeds the limit of %llu bytes",
                   (unsigned long long)len, (unsigned long long)cap);
  uint64_t size = vm->r->src->size, pos = reader_pos(vm->r);
  if (size != SOURCE_SIZE_UNKNOWN && (pos > size || len > size - pos))
    return vm_fail(vm, MFS_ETRUNC, "length %llu exceeds the %llu bytes that remain",
                   (unsigned long long)len, (unsigned long long)(pos < size ? size - pos : 0));
  return MFS_OK;
}

/* Room in the graph for n more bytes, checked before a string or container block
** is allocated (value_new checks only after the fact, when it is already there). */
static MfsStatus graph_bytes(Vm *vm, uint64_t n) {
  if (arena_bytes(vm->vs->arena) + n > MFS_MAX_GRAPH_BYTES)
    return vm_fail(vm, MFS_ELIMIT, "decoded graph larger than %llu MiB",
                   (unsigned long long)(MFS_MAX_GRAPH_BYTES >> 20));
  return MFS_OK;
}

/* ---- stack, marks, memo ------------------------------------------------------------ */

static size_t fence(const Vm *vm) { return vm->nmarks ? vm->marks[vm->nmarks - 1] : 0; }

static MfsStatus push(Vm *vm, Value *v) {
  if (v == NULL) return vm->m->err.code != MFS_OK ? vm->m->err.code : MFS_ENOMEM;
  if (vm->sp == vm->scap) {
    if (vm->scap >= MFS_MAX_STACK)
      return vm_fail(vm, MFS_ELIMIT, "more than %d values on the stack", MFS_MAX_STACK);
    size_t cap = vm->scap ? vm->scap * 2 : 64;
    if (cap > MFS_MAX_STACK) cap = MFS_MAX_STACK;
    Value **s = realloc(vm->stack, cap * sizeof *s);
    if (s == NULL) return vm_fail(vm, MFS_ENOMEM, "out of memory");
    vm->stack = s;
    vm->scap = cap;
  }
  vm->stack[vm->sp++] = v;
  return MFS_OK;
}

/* At least n values above the topmost MARK, as CPython's Pdata_pop demands. */
static MfsStatus need(Vm *vm, size_t n) {
  if (vm->sp - fence(vm) < n) return vm_fail(vm, MFS_ECORRUPT, "unpickling stack underflow");
  return MFS_OK;
}

static Value *pop1(Vm *vm) { return vm->stack[--vm->sp]; }

static MfsStatus push_mark(Vm *vm) {
  if (vm->nmarks == vm->mcap) {
    if (vm->mcap >= MFS_MAX_MARKS)
      return vm_fail(vm, MFS_ELIMIT, "more than %d open MARKs", MFS_MAX_MARKS);
    size_t cap = vm->mcap ? vm->mcap * 2 : 16;
    if (cap > MFS_MAX_MARKS) cap = MFS_MAX_MARKS;
    size_t *m = realloc(vm->marks, cap * sizeof *m);
    if (m == NULL) return vm_fail(vm, MFS_ENOMEM, "out of memory");
    vm->marks = m;
    vm->mcap = cap;
  }
  vm->marks[vm->nmarks++] = vm->sp;
  return MFS_OK;
}

static MfsStatus pop_mark(Vm *vm, size_t *at) {
  if (vm->nmarks == 0) return vm_fail(vm, MFS_ECORRUPT, "could not find MARK");
  *at = vm->marks[--vm->nmarks];
  return MFS_OK;
}

static MfsStatus memo_put(Vm *vm, uint64_t idx) {
  if (need(vm, 1) != MFS_OK) return vm->m->err.code;
  if (vm->memo.n >= MFS_MAX_MEMO && !u64map_get(&vm->memo, idx, NULL))
    return vm_fail(vm, MFS_ELIMIT, "more than %d memo entries", MFS_MAX_MEMO);
  if (u64map_put(&vm->memo, idx, (uint64_t)(uintptr_t)vm->stack[vm->sp - 1]) != MFS_OK)
    return vm_fail(vm, MFS_ENOMEM, "out of memory");
  return MFS_OK;
}

static MfsStatus memo_get(Vm *vm, uint64_t idx) {
  uint64_t v;
  if (!u64map_get(&vm->memo, idx, &v))
    return vm_fail(vm, MFS_ECORRUPT, "memo value not found at index %llu",
                   (unsigned long long)idx);
  return push(vm, (Value *)(uintptr_t)v);
}

/* A container of the values stack[from..sp), which are popped. */
static Value *seq_from(Vm *vm, ValueKind kind, size_t from) {
  Value *v = value_new(vm->vs, kind);
  if (v == NULL) return NULL;
  size_t n = vm->sp - from;
  if (n > 0) {
    v->u.seq.items = arena_memdup(vm->vs->arena, vm->stack + from, n * sizeof(Value *));
    if (v->u.seq.items == NULL) {
      vm_fail(vm, MFS_ENOMEM, "out of memory");
      return NULL;
    }
  }
  v->u.seq.n = v->u.seq.cap = n;
  vm->sp = from;
  return v;
}

/* ---- text arguments (protocol 0) ------------------------------------------------------ */

static int py_space(int c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int digit_value(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'z') return c - 'a' + 10;
  if (c >= 'A' && c <= 'Z') return c - 'A' + 10;
  return 99;
}

/* A little-endian magnitude and a sign: an int of any size. */
typedef struct Mag {
  uint8_t *b;
  size_t n;
  int neg;
} Mag;

/* Magnitude of digits d[0..nd) (most significant first) in base b. */
static int mag_from_digits(const uint8_t *d, size_t nd, int b, Mag *g) {
  int bits = b == 2 ? 1 : b == 8 ? 3 : b == 16 ? 4 : 0;
  size_t cap = bits ? (nd * (size_t)bits + 7) / 8 + 1 : nd / 2 + 2;
  g->b = calloc(cap, 1);
  if (g->b == NULL) return -2;
  g->n = 0;
  if (bits) {
    for (size_t k = 0; k < nd; k++) {
      unsigned dv = d[nd - 1 - k];
      for (int j = 0; j < bits; j++)
        if (dv >> j & 1) {
          size_t bit = k * (size_t)bits + (size_t)j;
          g->b[bit / 8] |= (uint8_t)(1u << (bit % 8));
        }
    }
    g->n = cap;
    return 0;
  }
  for (size_t k = 0; k < nd; k++) {
    unsigned carry = d[k];
    for (size_t i = 0; i < g->n; i++) {
      unsigned t = g->b[i] * 10u + carry;
      g->b[i] = (uint8_t)t;
      carry = t >> 8;
    }
    while (carry) {
      g->b[g->n++] = (uint8_t)carry;
      carry >>= 8;
    }
  }
  return 0;
}

/* Python 3.11's int(s, base) for base 0 or 10 (PyLong_FromString): whitespace,
** sign, 0x/0o/0b prefixes, underscores between digits, and the 4300-digit limit
** on decimal text.  0 on success (g->b malloc'd), -1 with *why, -2 out of memory. */
static int pylong_text(const char *s, int base, Mag *g, const char **why) {
  *why = "invalid literal for int()";
  memset(g, 0, sizeof *g);
  while (py_space((unsigned char)*s)) s++;
  if (*s == '+' || *s == '-') g->neg = *s++ == '-';
  int b = base ? base : 10, prefix = 0;
  if (base == 0 && s[0] == '0') {
    int c = s[1] | 0x20;
    b = c == 'x' ? 16 : c == 'o' ? 8 : c == 'b' ? 2 : 10;
    if (b != 10) {
      prefix = 1;
      s += 2;
    }
  }
  size_t len = strlen(s);
  uint8_t *d = malloc(len + 1);
  if (d == NULL) return -2;
  size_t nd = 0;
  int allow_us = prefix, want_digit = 0;
  for (; *s; s++) {
    if (*s == '_') {
      if (!allow_us) break;
      allow_us = 0;
      want_digit = 1;
      continue;
    }
    int v = digit_value((unsigned char)*s);
    if (v >= b) break;
    d[nd++] = (uint8_t)v;
    allow_us = 1;
    want_digit = 0;
  }
  while (py_space((unsigned char)*s)) s++;
  int bad = *s != '\0' || nd == 0 || want_digit;
  if (!bad && base == 0 && b == 10 && d[0] == 0)
    for (size_t i = 1; i < nd; i++)
      if (d[i] != 0) bad = 1;   /* "010" is not an int literal in Python 3 */
  if (!bad && b == 10 && nd > MFS_MAX_INT_DIGITS) {
    *why = "integer text exceeds the limit of digits (Python's int_max_str_digits)";
    bad = 1;
  }
  int rc = bad ? -1 : mag_from_digits(d, nd, b, g);
  free(d);
  return rc;
}

static Value *mag_value(Vm *vm, const Mag *g) {
  size_t n = g->n + 1;
  uint8_t *t = calloc(n, 1);
  if (t == NULL) {
    vm_fail(vm, MFS_ENOMEM, "out of memory");
    return NULL;
  }
  if (g->n) memcpy(t, g->b, g->n);
  if (g->neg) {
    unsigned carry = 1;
    for (size_t i = 0; i < n; i++) {
      unsigned x = (uint8_t)~t[i] + carry;
      t[i] = (uint8_t)x;
      carry = x >> 8;
    }
  }
  Value *v = value_bigint(vm->vs, t, n);
  free(t);
  return v;
}

static MfsStatus push_pylong(Vm *vm, const char *s, int base, const char *what) {
  Mag g;
  const char *why;
  int rc = pylong_text(s, base, &g, &why);
  if (rc == -2) return vm_fail(vm, MFS_ENOMEM, "out of memory");
  if (rc < 0) return vm_fail(vm, MFS_ECORRUPT, "could not convert %s to int (%s)", what, why);
  MfsStatus st = push(vm, mag_value(vm, &g));
  free(g.b);
  return st;
}

/* A memo index written as decimal text (GET/PUT): Python's int(s, 10). */
static MfsStatus text_index(Vm *vm, int64_t *idx) {
  char *s;
  size_t len;
  if (text_line(vm, &s, &len) != MFS_OK) return vm->m->err.code;
  Mag g;
  const char *why;
  int rc = pylong_text(s, 10, &g, &why);
  if (rc == -2) return vm_fail(vm, MFS_ENOMEM, "out of memory");
  if (rc < 0) return vm_fail(vm, MFS_ECORRUPT, "bad memo index (%s)", why);
  uint64_t v = 0;
  int big = 0;
  for (size_t i = g.n; i-- > 0;) {
    if (v >> 55) big = 1;
    v = v << 8 | g.b[i];
  }
  free(g.b);
  if (big || v > (uint64_t)INT64_MAX) return vm_fail(vm, MFS_ECORRUPT, "memo index out of range");
  *idx = g.neg ? -(int64_t)v : (int64_t)v;
  return MFS_OK;
}

static MfsStatus op_int(Vm *vm) {
  char *s;
  size_t len;
  if (text_line(vm, &s, &len) != MFS_OK) return vm->m->err.code;
  if (len == 0) return vm_fail(vm, MFS_ECORRUPT, "empty argument");
  /* CPython tries strtol(base 0) first, then Python's int(); "00"/"01" are bools. */
  char *end;
  errno = 0;
  long x = strtol(s, &end, 0);
  if (errno != 0 || *end != '\0') return push_pylong(vm, s, 0, "INT text");
  if (len == 2 && (x == 0 || x == 1)) return push(vm, value_bool(vm->vs, (int)x));
  return push(vm, value_int(vm->vs, x));
}

static MfsStatus op_long(Vm *vm) {
  char *s;
  size_t len;
  if (text_line(vm, &s, &len) != MFS_OK) return vm->m->err.code;
  if (len == 0) return vm_fail(vm, MFS_ECORRUPT, "empty argument");
  if (s[len - 1] == 'L') s[len - 1] = '\0';
  return push_pylong(vm, s, 0, "LONG text");
}

static int ci_prefix(const char *s, const char *word) {
  for (; *word; s++, word++)
    if ((*s | 0x20) != *word) return 0;
  return 1;
}

/* Python's float(repr) as the unpickler parses it (PyOS_string_to_double). */
static int parse_py_float(const char *s, double *out) {
  const char *p = s;
  int neg = 0;
  if (*p == '-' || *p == '+') neg = *p++ == '-';
  if (ci_prefix(p, "inf")) {
    p += 3;
    if (ci_prefix(p, "inity")) p += 5;
    *out = neg ? -INFINITY : INFINITY;
    return *p == '\0';
  }
  if (ci_prefix(p, "nan")) {
    *out = neg ? -NAN : NAN;
    return p[3] == '\0';
  }
  if (p[0] == '0' && (p[1] | 0x20) == 'x') return 0;
  if (!(*p >= '0' && *p <= '9') && *p != '.') return 0;
  char *end;
  errno = 0;
  double d = strtod(p, &end);
  if (*end != '\0') return 0;
  if (errno == ERANGE && fabs(d) >= 1.0) return 0;   /* OverflowError in Python */
  *out = neg ? -d : d;
  return 1;
}

static MfsStatus op_float(Vm *vm) {
  char *s;
  size_t len;
  double d;
  if (text_line(vm, &s, &len) != MFS_OK) return vm->m->err.code;
  if (len == 0 || !parse_py_float(s, &d))
    return vm_fail(vm, MFS_ECORRUPT, "could not convert string to float");
  return push(vm, value_float(vm->vs, d));
}

/* Python 2 string-escape (PyBytes_DecodeEscape) of the quoted STRING argument. */
static MfsStatus op_string(Vm *vm) {
  char *s;
  size_t len;
  if (text_line(vm, &s, &len) != MFS_OK) return vm->m->err.code;
  if (len < 2 || s[0] != s[len - 1] || (s[0] != '\'' && s[0] != '"'))
    return vm_fail(vm, MFS_ECORRUPT, "the STRING opcode argument must be quoted");
  const char *p = s + 1, *end = s + len - 1;
  if (graph_bytes(vm, len) != MFS_OK) return vm->m->err.code;
  uint8_t *out = arena_alloc(vm->vs->arena, len), *q = out;
  if (out == NULL) return vm_fail(vm, MFS_ENOMEM, "out of memory");
  while (p < end) {
    if (*p != '\\') {
      *q++ = (uint8_t)*p++;
      continue;
    }
    if (++p == end) return vm_fail(vm, MFS_ECORRUPT, "trailing \\ in string");
    char c = *p++;
    switch (c) {
    case '\\': case '\'': case '"': *q++ = (uint8_t)c; break;
    case 'b': *q++ = '\b'; break;
    case 'f': *q++ = '\f'; break;
    case 't': *q++ = '\t'; break;
    case 'n': *q++ = '\n'; break;
    case 'r': *q++ = '\r'; break;
    case 'v': *q++ = '\v'; break;
    case 'a': *q++ = '\a'; break;
    case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7': {
      unsigned v = (unsigned)(c - '0');
      for (int k = 0; k < 2 && p < end && *p >= '0' && *p <= '7'; k++) v = v * 8 + (unsigned)(*p++ - '0');
      *q++ = (uint8_t)v;
      break;
    }
    case 'x':
      if (p + 1 < end && digit_value((unsigned char)p[0]) < 16 &&
          digit_value((unsigned char)p[1]) < 16) {
        *q++ = (uint8_t)(digit_value((unsigned char)p[0]) * 16 + digit_value((unsigned char)p[1]));
        p += 2;
        break;
      }
      return vm_fail(vm, MFS_ECORRUPT, "invalid \\x escape at position %zu",
                     (size_t)(p - 2 - (s + 1)));
    default:   /* unknown escapes keep their backslash */
      *q++ = '\\';
      p--;
    }
  }
  Value *v = value_new(vm->vs, VAL_BYTES);
  if (v == NULL) return vm->m->err.code;
  v->flags |= VF_PY2STR;
  v->u.bytes.mem = out;
  v->u.bytes.len = (uint64_t)(q - out);
  return push(vm, v);
}

/* raw-unicode-escape: bytes are Latin-1 code points; a backslash starts \uXXXX or
** \UXXXXXXXX only when it is not itself escaped (pairs are literal). */
static MfsStatus op_unicode(Vm *vm) {
  char *s;
  size_t len;
  if (text_line(vm, &s, &len) != MFS_OK) return vm->m->err.code;
  if (graph_bytes(vm, 2 * (uint64_t)len + 1) != MFS_OK) return vm->m->err.code;
  uint8_t *out = arena_alloc(vm->vs->arena, 2 * len + 1), *q = out;
  if (out == NULL) return vm_fail(vm, MFS_ENOMEM, "out of memory");
  const uint8_t *p = (const uint8_t *)s, *end = p + len;
  while (p < end) {
    uint8_t c = *p++;
    if (c != '\\' || p >= end) {
      q += utf8_encode(q, c);
      continue;
    }
    c = *p++;
    int count = c == 'u' ? 4 : c == 'U' ? 8 : 0;
    if (count == 0) {
      *q++ = '\\';
      q += utf8_encode(q, c);
      continue;
    }
    uint32_t ch = 0;
    for (; count; count--, p++) {
      if (p >= end || digit_value(*p) >= 16)
        return vm_fail(vm, MFS_ECORRUPT, "truncated \\%c escape in raw-unicode-escape text", c);
      ch = ch << 4 | (uint32_t)digit_value(*p);
    }
    if (ch > 0x10ffff) return vm_fail(vm, MFS_ECORRUPT, "\\Uxxxxxxxx out of range");
    q += utf8_encode(q, ch);
  }
  Value *v = value_new(vm->vs, VAL_STR);
  if (v == NULL) return vm->m->err.code;
  *q = '\0';
  v->u.str.s = (const char *)out;
  v->u.str.len = (size_t)(q - out);
  return push(vm, v);
}

/* ---- binary arguments --------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p (surrogates allowed when pass), or 0. */
static size_t utf8_seq(const uint8_t *p, size_t n, int pass) {
  uint8_t c = p[0];
  if (c < 0x80) return 1;
  size_t k = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
  if (k == 0 || c > 0xf4 || k > n) return 0;
  for (size_t i = 1; i < k; i++)
    if ((p[i] & 0xc0) != 0x80) return 0;
  if (c == 0xe0 && p[1] < 0xa0) return 0;                  /* overlong */
  if (c == 0xed && p[1] >= 0xa0 && !pass) return 0;        /* surrogate */
  if (c == 0xf0 && p[1] < 0x90) return 0;                  /* overlong */
  if (c == 0xf4 && p[1] >= 0x90) return 0;                 /* > U+10FFFF */
  return k;
}

static int utf8_valid(const uint8_t *p, size_t n, int pass) {
  for (size_t i = 0; i < n;) {
    i = utf8_latin1_run(p, i, n);
    /* a stretch sequence by sequence, then the fast run again */
    for (size_t stop = n - i > 16 ? i + 16 : n; i < stop;) {
      size_t k = utf8_seq(p + i, n - i, pass);
      if (k == 0) return 0;
      i += k;
    }
  }
  return 1;
}

/* BINUNICODE family: UTF-8 with surrogatepass, copied (strings are never huge). */
static MfsStatus op_binunicode(Vm *vm, int lenbytes) {
  uint64_t len = 0;
  if (take_u(vm, lenbytes, &len) != MFS_OK || check_len(vm, len, MFS_MAX_STRING) != MFS_OK)
    return vm->m->err.code;
  if (graph_bytes(vm, len + 1) != MFS_OK) return vm->m->err.code;
  char *buf = arena_alloc(vm->vs->arena, (size_t)len + 1);
  if (buf == NULL) return vm_fail(vm, MFS_ENOMEM, "out of memory");
  if (reader_copy(vm->r, buf, len) != MFS_OK) return rd_fail(vm);
  if (!utf8_valid((const uint8_t *)buf, (size_t)len, 1))
    return vm_fail(vm, MFS_ECORRUPT, "invalid UTF-8 in a %llu-byte string",
                   (unsigned long long)len);
  Value *v = value_new(vm->vs, VAL_STR);
  if (v == NULL) return vm->m->err.code;
  v->u.str.s = buf;
  v->u.str.len = (size_t)len;
  return push(vm, v);
}

/* bytes, bytearray, Python-2 str: small ones copied, large ones left in the source. */
static MfsStatus push_bytes(Vm *vm, uint64_t len, ValueKind kind, int py2) {
  if (check_len(vm, len, UINT64_MAX) != MFS_OK) return vm->m->err.code;
  Value *v;
  if (len <= MFS_MAX_INLINE_BYTES) {
    const uint8_t *p = NULL;
    if (len > 0 && take(vm, (size_t)len, &p) != MFS_OK) return vm->m->err.code;
    v = value_bytes_mem(vm->vs, kind, p, (size_t)len);
  } else {
    uint64_t off = reader_pos(vm->r);
    if (reader_skip(vm->r, len) != MFS_OK) return rd_fail(vm);
    v = value_bytes_src(vm->vs, kind, vm->r->src, off, len);
  }
  if (v != NULL && py2) v->flags |= VF_PY2STR;
  if (v != NULL && !py2) nested_bytes(vm, v, 0);
  return push(vm, v);
}

static MfsStatus op_bytes(Vm *vm, int lenbytes, ValueKind kind, int py2) {
  uint64_t len = 0;
  if (take_u(vm, lenbytes, &len) != MFS_OK) return vm->m->err.code;
  return push_bytes(vm, len, kind, py2);
}

static MfsStatus op_binstring(Vm *vm) {
  uint64_t len = 0;
  if (take_u(vm, 4, &len) != MFS_OK) return vm->m->err.code;
  if (len & 0x80000000u) return vm_fail(vm, MFS_ECORRUPT, "BINSTRING pickle has negative byte count");
  return push_bytes(vm, len, VAL_BYTES, 1);
}

static MfsStatus op_long_bin(Vm *vm, int lenbytes) {
  uint64_t len = 0;
  if (take_u(vm, lenbytes, &len) != MFS_OK) return vm->m->err.code;
  if (lenbytes == 4 && (len & 0x80000000u))
    return vm_fail(vm, MFS_ECORRUPT, "LONG pickle has negative byte count");
  if (check_len(vm, len, MFS_MAX_STRING) != MFS_OK || graph_bytes(vm, len) != MFS_OK)
    return vm->m->err.code;
  uint8_t *buf = malloc(len ? (size_t)len : 1);
  if (buf == NULL) return vm_fail(vm, MFS_ENOMEM, "out of memory");
  if (reader_copy(vm->r, buf, len) != MFS_OK) {
    free(buf);
    return rd_fail(vm);
  }
  Value *v = value_bigint(vm->vs, buf, (size_t)len);
  free(buf);
  return push(vm, v);
}

static MfsStatus op_binfloat(Vm *vm) {
  const uint8_t *p;
  if (take(vm, 8, &p) != MFS_OK) return vm->m->err.code;
  uint64_t bits = 0;
  for (int i = 0; i < 8; i++) bits = bits << 8 | p[i];   /* big-endian */
  double d;
  memcpy(&d, &bits, sizeof d);
  return push(vm, value_float(vm->vs, d));
}

/* ---- globals and calls ------------------------------------------------------------- */

static int good_name(const char *s, size_t n) {
  return memchr(s, '\0', n) == NULL && utf8_valid((const uint8_t *)s, n, 0);
}

/* A referenced global: mapped from Python 2 names below protocol 3 (as Python 3's
** Unpickler.find_class does with fix_imports), recorded in the model, pushed. */
static MfsStatus push_global(Vm *vm, const char *mod, size_t mlen, const char *name, size_t nlen) {
  if (!good_name(mod, mlen) || !good_name(name, nlen))
    return vm_fail(vm, MFS_ECORRUPT, "global name is not valid UTF-8 text");
  char *m = arena_strndup(vm->vs->arena, mod, mlen);
  char *n = arena_strndup(vm->vs->arena, name, nlen);
  if (m == NULL || n == NULL) return vm_fail(vm, MFS_ENOMEM, "out of memory");
  const char *mm = m, *nn = n;
  if (vm->proto < 3) pickle_map_py2_name(&mm, &nn);
  if (model_note_global(vm->m, mm, nn) != MFS_OK) return vm->m->err.code;
  return push(vm, value_global(vm->vs, mm, nn));
}

/* Two text lines "module\nname\n", copied out of the reader one at a time. */
static MfsStatus read_global_lines(Vm *vm, char **mod, size_t *mlen, char **name, size_t *nlen) {
  char *s;
  if (text_line(vm, &s, mlen) != MFS_OK) return vm->m->err.code;
  *mod = arena_strndup(vm->vs->arena, s, *mlen);
  if (*mod == NULL) return vm_fail(vm, MFS_ENOMEM, "out of memory");
  if (text_line(vm, name, nlen) != MFS_OK) return vm->m->err.code;
  return MFS_OK;
}

static MfsStatus op_global(Vm *vm) {
  char *mod, *name;
  size_t mlen, nlen;
  if (read_global_lines(vm, &mod, &mlen, &name, &nlen) != MFS_OK) return vm->m->err.code;
  return push_global(vm, mod, mlen, name, nlen);
}

/* A STACK_GLOBAL operand as text.  Python 3 loads a Python-2 STRING as str when it
** is ASCII (the default encoding), so such operands name globals too: scanners that
** accept only unicode operands were bypassed this way. */
static int text_operand(const Value *v, const char **s, size_t *len) {
  if (v->kind == VAL_STR) {
    *s = v->u.str.s;
    *len = v->u.str.len;
    return 1;
  }
  if (v->kind != VAL_BYTES || !(v->flags & VF_PY2STR) || v->u.bytes.mem == NULL) return 0;
  for (uint64_t i = 0; i < v->u.bytes.len; i++)
    if (v->u.bytes.mem[i] >= 0x80) return 0;
  *s = (const char *)v->u.bytes.mem;
  *len = (size_t)v->u.bytes.len;
  return 1;
}

/* A value made at load time (a call's result, a global, an object's attribute):
** it may well be a str by then, so a STACK_GLOBAL naming it imports whatever the
** load computed. */
static int computed(const Value *v) {
  return v->kind == VAL_OBJECT || v->kind == VAL_GLOBAL;
}

/* What stands for a global no literal names: the loader's own result. */
static MfsStatus push_computed_global(Vm *vm, const Value *mod, const Value *name) {
  if (model_note_hazard(vm->m, vm->op_off,
                        "STACK_GLOBAL imports a name computed while loading (%s and %s), "
                        "not a literal string", value_kind_name(mod->kind),
                        value_kind_name(name->kind)) != MFS_OK)
    return vm->m->err.code;
  return push(vm, value_global(vm->vs, "<computed>", "<computed>"));
}

static MfsStatus op_stack_global(Vm *vm) {
  if (need(vm, 2) != MFS_OK) return vm->m->err.code;
  Value *name = pop1(vm), *mod = pop1(vm);
  const char *ms, *ns;
  size_t ml, nl;
  int mok = text_operand(mod, &ms, &ml), nok = text_operand(name, &ns, &nl);
  if ((mok || computed(mod)) && (nok || computed(name)) && !(mok && nok))
    return push_computed_global(vm, mod, name);
  if (!mok || !nok)
    return vm_fail(vm, MFS_ECORRUPT, "STACK_GLOBAL requires str (got %s and %s)",
                   value_kind_name(mod->kind), value_kind_name(name->kind));
  return push_global(vm, ms, ml, ns, nl);
}

/* BUILD, SETITEM(S) or APPEND(S) on a global sets attributes or items of a
** module or class: every later import of it (sys.modules override) or every
** object of it changes.  Nothing is applied; the file is dangerous. */
static MfsStatus note_global_mutation(Vm *vm, const Value *target) {
  char *d = (char *)global_dotted(vm->vs->arena, target);
  return model_note_hazard(vm->m, vm->op_off, "%s changes the global %s (a module or class "
                           "rewritten for whatever loads after it)",
                           op_name(vm->op) ? op_name(vm->op) : "?", d ? d : "?");
}

/* ---- pickles inside bytes (SPEC 5) ----------------------------------------------- */

/* Callables that unpickle the bytes they are given: pickle.loads and its kin
** under any module (dill, cloudpickle, joblib's pickle), numba's and torch's
** byte loaders. */
static int unpickles_bytes(const Value *callable) {
  static const char *const last[] = {"loads", "_loads", "load_from_bytes", "_load_from_bytes",
                                     "_unpickle__CustomPickled", "_numba_unpickle",
                                     "pickle_loads", "unpickle", NULL};
  if (callable == NULL || callable->kind != VAL_GLOBAL) return 0;
  const char *n = callable->u.global.name, *dot = strrchr(n, '.');
  n = dot ? dot + 1 : n;
  for (int i = 0; last[i]; i++)
    if (strcmp(n, last[i]) == 0) return 1;
  return 0;
}

/* The first two bytes of a bytes value, wherever they live. */
static int bytes_head(const Value *b, uint8_t head[2]) {
  const Blob *bl = &b->u.bytes;
  if (bl->len < 2) return 0;
  if (bl->mem != NULL) {
    memcpy(head, bl->mem, 2);
    return 1;
  }
  Err e;
  err_clear(&e);
  return bl->src != NULL && source_read(bl->src, bl->off, head, 2, &e) == MFS_OK;
}

/* A pickle inside a bytes value: decoded in a model of its own, so that bytes
** which only look like one leave nothing behind.  When it is handed to an
** unpickling callable, or is a complete pickle (PROTO 2-5 up to a STOP at its
** very end), what it references is the file's: its globals and hazards join
** the model's, so types.txt and the verdict cover them. */
static void nested_bytes(Vm *vm, const Value *b, int handed) {
  uint8_t head[2];
  if (b == NULL || (b->kind != VAL_BYTES && b->kind != VAL_BYTEARRAY) || !bytes_head(b, head)) return;
  if (handed ? !pickle_is_opcode(head[0]) : !(head[0] == OP_PROTO && head[1] >= 2 && head[1] <= 5))
    return;
  if (vm->nested >= MFS_MAX_NESTED_DECODES) {
    if (handed) model_note_hazard(vm->m, vm->op_off, "more than %d pickles inside bytes: "
                                  "the rest are not judged", MFS_MAX_NESTED_DECODES);
    return;
  }
  vm->nested++;
  const Blob *bl = &b->u.bytes;
  Source *s = bl->mem ? source_from_memory(bl->mem, (size_t)bl->len, "nested pickle")
                      : source_slice(bl->src, bl->off, bl->len, "nested pickle");
  Model *scratch = s ? model_new_within(vm->m->path, vm->m) : NULL;
  Reader r2;
  if (scratch != NULL && reader_init(&r2, s, 0, &scratch->err) == MFS_OK) {
    Value *res;
    MfsStatus st = run(scratch, &r2, NULL, vm->depth + 1, &res, NULL,
                       limit_lowered("MODELFS_TEST_MAX_OPCODES", MFS_MAX_OPCODES));
    int complete = st == MFS_OK && reader_pos(&r2) == bl->len;
    reader_done(&r2);
    if (handed || complete) {
      const Value *g = scratch->globals, *h = scratch->hazards;
      for (size_t i = 0; g != NULL && i < g->u.seq.n; i++)
        model_note_global(vm->m, g->u.seq.items[i]->u.global.module,
                          g->u.seq.items[i]->u.global.name);
      for (size_t i = 0; h != NULL && i < h->u.seq.n; i++)
        model_note_hazard(vm->m, vm->op_off, "in the pickle inside these bytes, %s",
                          h->u.seq.items[i]->u.str.s);
      if (st == MFS_ELIMIT && handed)
        model_note_hazard(vm->m, vm->op_off, "the pickle inside these bytes could not be "
                          "judged to its end (%s)", scratch->err.msg);
    }
  }
  model_free(scratch);
  source_unref(s);
}

/* Every bytes value in a call's arguments (and in tuples among them). */
static void nested_args(Vm *vm, const Value *args, int level) {
  if (args == NULL || level > 2 || (args->kind != VAL_TUPLE && args->kind != VAL_LIST)) return;
  for (size_t i = 0; i < args->u.seq.n; i++) {
    const Value *a = args->u.seq.items[i];
    if (a != NULL && (a->kind == VAL_TUPLE || a->kind == VAL_LIST)) nested_args(vm, a, level + 1);
    else nested_bytes(vm, a, 1);
  }
}

/* callable(*args) or cls.__new__(cls, *args): a recognised value or a VAL_OBJECT. */
static MfsStatus push_call(Vm *vm, Value *callable, Value *args, Value *kwargs, ObjHow how) {
  Value *out = NULL;
  vm->rc.off = vm->op_off;
  vm->rc.op = op_name(vm->op);
  if (vm->hooks != NULL && vm->hooks->call != NULL) {
    if (vm->hooks->call(vm->hooks->ctx, vm->m, callable, args, &out) != MFS_OK)
      return vm->m->err.code != MFS_OK ? vm->m->err.code : MFS_ECORRUPT;
    if (out != NULL) return push(vm, out);
  }
  if (recognise_call(&vm->rc, callable, args, kwargs, how, &out) != MFS_OK)
    return vm->m->err.code != MFS_OK ? vm->m->err.code : MFS_ECORRUPT;
  if (unpickles_bytes(callable)) nested_args(vm, args, 0);
  else if (out != NULL && out->kind == VAL_BYTES) nested_bytes(vm, out, 0);   /* folded bytes */
  if (out == NULL) {
    out = value_object(vm->vs, callable, args, how);
    if (out != NULL) out->u.obj->kwargs = kwargs;
  }
  return push(vm, out);
}

static MfsStatus op_reduce(Vm *vm) {
  if (need(vm, 2) != MFS_OK) return vm->m->err.code;
  Value *args = pop1(vm), *callable = pop1(vm);
  if (args->kind != VAL_TUPLE)
    return vm_fail(vm, MFS_ECORRUPT, "argument list must be a tuple, not %s",
                   value_kind_name(args->kind));
  return push_call(vm, callable, args, NULL, OBJ_REDUCE);
}

static MfsStatus op_newobj(Vm *vm, int ex) {
  if (need(vm, ex ? 3 : 2) != MFS_OK) return vm->m->err.code;
  Value *kwargs = ex ? pop1(vm) : NULL;
  Value *args = pop1(vm), *cls = pop1(vm);
  if (args->kind != VAL_TUPLE)
    return vm_fail(vm, MFS_ECORRUPT, "args must be a tuple, not %s", value_kind_name(args->kind));
  if (kwargs != NULL && kwargs->kind != VAL_DICT)
    return vm_fail(vm, MFS_ECORRUPT, "kwargs must be a dict, not %s",
                   value_kind_name(kwargs->kind));
  return push_call(vm, cls, args, kwargs, ex ? OBJ_NEWOBJ_EX : OBJ_NEWOBJ);
}

static MfsStatus op_inst(Vm *vm) {
  size_t at = 0;
  char *mod, *name;
  size_t mlen, nlen;
  if (pop_mark(vm, &at) != MFS_OK) return vm->m->err.code;
  if (read_global_lines(vm, &mod, &mlen, &name, &nlen) != MFS_OK) return vm->m->err.code;
  Value *args = seq_from(vm, VAL_TUPLE, at);
  if (args == NULL) return vm->m->err.code;
  if (push_global(vm, mod, mlen, name, nlen) != MFS_OK) return vm->m->err.code;
  Value *cls = pop1(vm);
  return push_call(vm, cls, args, NULL, OBJ_INST);
}

static MfsStatus op_obj(Vm *vm) {
  size_t at = 0;
  if (pop_mark(vm, &at) != MFS_OK) return vm->m->err.code;
  if (vm->sp - at < 1) return vm_fail(vm, MFS_ECORRUPT, "unpickling stack underflow");
  Value *args = seq_from(vm, VAL_TUPLE, at + 1);
  if (args == NULL) return vm->m->err.code;
  Value *cls = pop1(vm);
  return push_call(vm, cls, args, NULL, OBJ_INST);
}

/* A value the file asks an external table for (persistent id, extension code). */
static MfsStatus push_external(Vm *vm, const char *mod, const char *name, Value *arg) {
  if (arg == NULL) return vm->m->err.code;
  Value *args = value_new(vm->vs, VAL_TUPLE);
  Value *g = value_global(vm->vs, mod, name);
  /* The loader resolves these through hooks we cannot see (persistent_load, the
  ** copyreg registry): listing the hook makes the verdict "untrusted", never "safe". */
  if (model_note_global(vm->m, mod, name) != MFS_OK) return vm->m->err.code;
  if (args == NULL || g == NULL || seq_push(vm->vs, args, arg) != MFS_OK) return vm->m->err.code;
  return push(vm, value_object(vm->vs, g, args, OBJ_REDUCE));
}

static MfsStatus op_persid(Vm *vm, int bin) {
  Value *pid;
  if (bin) {
    if (need(vm, 1) != MFS_OK) return vm->m->err.code;
    pid = pop1(vm);
  } else {
    char *s;
    size_t len;
    if (text_line(vm, &s, &len) != MFS_OK) return vm->m->err.code;
    for (size_t i = 0; i < len; i++)
      if ((unsigned char)s[i] >= 0x80)
        return vm_fail(vm, MFS_ECORRUPT, "persistent IDs in protocol 0 must be ASCII strings");
    pid = value_str(vm->vs, s, len);
  }
  if (pid != NULL && vm->hooks != NULL && vm->hooks->persistent_load != NULL) {
    Value *out = NULL;
    if (vm->hooks->persistent_load(vm->hooks->ctx, vm->m, pid, &out) != MFS_OK)
      return vm->m->err.code != MFS_OK ? vm->m->err.code : MFS_ECORRUPT;
    if (out != NULL) return push(vm, out);
  }
  return push_external(vm, "pickle", "persistent_load", pid);
}

static MfsStatus op_ext(Vm *vm, int n) {
  uint64_t code;
  if (take_u(vm, n, &code) != MFS_OK) return vm->m->err.code;
  int64_t c = n == 4 ? (int64_t)(int32_t)code : (int64_t)code;
  if (c <= 0) return vm_fail(vm, MFS_ECORRUPT, "EXT specifies code <= 0");
  return push_external(vm, "copyreg", "_inverted_registry", value_int(vm->vs, c));
}

/* ---- container mutation -------------------------------------------------------------- */

static Value *lazy_container(Vm *vm, Value **slot, ValueKind kind) {
  if (*slot == NULL) *slot = value_new(vm->vs, kind);
  return *slot;
}

/* Room in the graph for a container that holds `have` of `cap` slots to take
** `more` items.  Items already in the graph (memo GET, DUP) cost no new Value,
** so value_new's limit never sees them: a stream of GET+APPENDS would grow one
** list past any bound.  The doubled block the container grows into is counted
** before it is allocated. */
static MfsStatus graph_room(Vm *vm, size_t have, size_t cap, size_t more, size_t per_item) {
  uint64_t need = (uint64_t)have + more, grown = cap, extra = 0;
  if (need > grown) {
    grown = grown ? grown : 4;
    while (grown < need) grown *= 2;
    extra = grown * per_item;
  }
  return graph_bytes(vm, extra);
}

/* A list, dict, set, bytearray or array: what CPython refuses as a dict key or
** set member ("unhashable type"), so a file using one never loads. */
static MfsStatus check_hashable(Vm *vm, Value *const *v, size_t n, size_t step) {
  for (size_t i = 0; i < n; i += step) {
    int k = v[i] != NULL ? v[i]->kind : VAL_NONE;
    if (k == VAL_LIST || k == VAL_DICT || k == VAL_SET || k == VAL_BYTEARRAY || k == VAL_NDARRAY)
      return vm_fail(vm, MFS_ECORRUPT, "unhashable type: '%s'", value_kind_name(k));
  }
  return MFS_OK;
}

/* list.append/extend or set.add/update of items[0..n) onto target. */
static MfsStatus add_items(Vm *vm, Value *target, Value **items, size_t n, int is_set) {
  Value *dst = NULL;
  if (target->kind == VAL_OBJECT)
    dst = lazy_container(vm, &target->u.obj->items, VAL_LIST);
  else if (target->kind == (is_set ? VAL_SET : VAL_LIST))
    dst = target;
  else if (target->kind == VAL_GLOBAL)
    return note_global_mutation(vm, target);
  else
    return vm_fail(vm, MFS_ECORRUPT, "cannot %s items to a %s", is_set ? "add" : "append",
                   value_kind_name(target->kind));
  if (dst == NULL) return vm->m->err.code;
  if (is_set && check_hashable(vm, items, n, 1) != MFS_OK) return vm->m->err.code;
  if (graph_room(vm, dst->u.seq.n, dst->u.seq.cap, n, sizeof(Value *)) != MFS_OK)
    return vm->m->err.code;
  for (size_t i = 0; i < n; i++)
    if (seq_push(vm->vs, dst, items[i]) != MFS_OK) return vm->m->err.code;
  return MFS_OK;
}

static MfsStatus set_items(Vm *vm, Value *target, Value **kv, size_t n) {
  Value *dst = NULL;
  if (target->kind == VAL_OBJECT)
    dst = lazy_container(vm, &target->u.obj->dictitems, VAL_DICT);
  else if (target->kind == VAL_DICT)
    dst = target;
  else if (target->kind == VAL_GLOBAL)
    return note_global_mutation(vm, target);
  else
    return vm_fail(vm, MFS_ECORRUPT, "cannot set items on a %s", value_kind_name(target->kind));
  if (dst == NULL) return vm->m->err.code;
  if (dst == target && check_hashable(vm, kv, n, 2) != MFS_OK) return vm->m->err.code;
  if (graph_room(vm, dst->u.dict.n, dst->u.dict.cap, n / 2, 2 * sizeof(Value *)) != MFS_OK)
    return vm->m->err.code;
  for (size_t i = 0; i + 1 < n; i += 2)
    if (dict_put(vm->vs, dst, kv[i], kv[i + 1]) != MFS_OK) return vm->m->err.code;
  return MFS_OK;
}

/* APPENDS/SETITEMS/ADDITEMS: the items above the mark go into the value below it. */
static MfsStatus op_marked_items(Vm *vm, int which) {
  size_t at = 0;
  if (pop_mark(vm, &at) != MFS_OK) return vm->m->err.code;
  if (at > vm->sp || at <= fence(vm)) return vm_fail(vm, MFS_ECORRUPT, "unpickling stack underflow");
  size_t n = vm->sp - at;
  Value *target = vm->stack[at - 1];
  MfsStatus st = MFS_OK;
  if (which == OP_SETITEMS) {
    if (n % 2) return vm_fail(vm, MFS_ECORRUPT, "odd number of items for SETITEMS");
    if (n) st = set_items(vm, target, vm->stack + at, n);
  } else if (n) {
    st = add_items(vm, target, vm->stack + at, n, which == OP_ADDITEMS);
  }
  vm->sp = at;
  return st;
}

static MfsStatus op_append(Vm *vm) {
  if (need(vm, 2) != MFS_OK) return vm->m->err.code;
  Value *item = pop1(vm);
  return add_items(vm, vm->stack[vm->sp - 1], &item, 1, 0);
}

static MfsStatus op_setitem(Vm *vm) {
  if (need(vm, 3) != MFS_OK) return vm->m->err.code;
  Value *kv[2];
  kv[1] = pop1(vm);
  kv[0] = pop1(vm);
  return set_items(vm, vm->stack[vm->sp - 1], kv, 2);
}

static MfsStatus op_dict(Vm *vm) {
  size_t at = 0;
  if (pop_mark(vm, &at) != MFS_OK) return vm->m->err.code;
  if ((vm->sp - at) % 2) return vm_fail(vm, MFS_ECORRUPT, "odd number of items for DICT");
  if (vm->sp > at && check_hashable(vm, vm->stack + at, vm->sp - at, 2) != MFS_OK)
    return vm->m->err.code;
  Value *d = value_new(vm->vs, VAL_DICT);
  if (d == NULL) return vm->m->err.code;
  for (size_t i = at; i < vm->sp; i += 2)
    if (dict_put(vm->vs, d, vm->stack[i], vm->stack[i + 1]) != MFS_OK) return vm->m->err.code;
  vm->sp = at;
  return push(vm, d);
}

static MfsStatus op_marked_seq(Vm *vm, ValueKind kind) {
  size_t at = 0;
  if (pop_mark(vm, &at) != MFS_OK) return vm->m->err.code;
  if (kind == VAL_FROZENSET && vm->sp > at &&
      check_hashable(vm, vm->stack + at, vm->sp - at, 1) != MFS_OK)
    return vm->m->err.code;
  return push(vm, seq_from(vm, kind, at));
}

static MfsStatus op_tuple_n(Vm *vm, size_t n) {
  if (need(vm, n) != MFS_OK) return vm->m->err.code;
  return push(vm, seq_from(vm, VAL_TUPLE, vm->sp - n));
}

/* ---- BUILD -------------------------------------------------------------------------- */

/* Index of str keys of a dict being merged: open addressing over positions
** (pos + 1, 0 = empty), so a BUILD of n keys onto a state of m keys costs
** O(n + m), not O(n * m) -- a file may BUILD a large state onto itself again
** and again. */
typedef struct KeyIndex {
  size_t *slots;
  size_t cap;
} KeyIndex;

static uint64_t key_hash(const Value *k) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < k->u.str.len; i++) h = (h ^ (uint8_t)k->u.str.s[i]) * 0x100000001b3ULL;
  return h;
}

static int same_str(const Value *a, const Value *b) {
  return a->u.str.len == b->u.str.len && memcmp(a->u.str.s, b->u.str.s, a->u.str.len) == 0;
}

/* The slot of key k in d (empty when absent). */
static size_t *key_slot(KeyIndex *ix, const Dict *d, const Value *k) {
  for (size_t i = (size_t)key_hash(k) & (ix->cap - 1);; i = (i + 1) & (ix->cap - 1))
    if (ix->slots[i] == 0 || same_str(d->keys[ix->slots[i] - 1], k)) return &ix->slots[i];
}

/* A second dict state updates the first, as obj.__dict__.update would: str keys
** already present get the new value, others are appended. */
static MfsStatus merge_state(Vm *vm, Object *o, Value *state) {
  if (o->state == NULL || (state->kind == VAL_NONE)) {
    if (o->state == NULL) o->state = state;
    return MFS_OK;
  }
  if (o->state->kind != VAL_DICT || state->kind != VAL_DICT) {
    o->state = state;
    return MFS_OK;
  }
  Value *old = o->state;
  size_t total = old->u.dict.n + state->u.dict.n;
  Value *d = value_new(vm->vs, VAL_DICT);
  if (d == NULL) return vm->m->err.code;
  if (graph_room(vm, 0, 0, total, 2 * sizeof(Value *)) != MFS_OK) return vm->m->err.code;
  KeyIndex ix = {NULL, 16};
  while (ix.cap < 2 * total) ix.cap *= 2;
  ix.slots = calloc(ix.cap, sizeof *ix.slots);
  if (ix.slots == NULL) return vm_fail(vm, MFS_ENOMEM, "out of memory");
  MfsStatus st = MFS_OK;
  for (int pass = 0; pass < 2 && st == MFS_OK; pass++) {
    const Dict *src = pass == 0 ? &old->u.dict : &state->u.dict;
    for (size_t i = 0; i < src->n && st == MFS_OK; i++) {
      Value *k = src->keys[i];
      size_t *slot = k->kind == VAL_STR ? key_slot(&ix, &d->u.dict, k) : NULL;
      if (slot != NULL && *slot != 0 && pass == 1) {
        d->u.dict.vals[*slot - 1] = src->vals[i];
        continue;
      }
      st = dict_put(vm->vs, d, k, src->vals[i]);
      if (slot != NULL) *slot = d->u.dict.n;   /* the last of equal keys, as lookups take */
    }
  }
  free(ix.slots);
  if (st != MFS_OK) return vm->m->err.code;
  o->state = d;
  return MFS_OK;
}

/* A folded dict/list/set that receives instance state (an OrderedDict with
** attributes): it becomes, in place, an object of its class holding the items. */
static MfsStatus objectify(Vm *vm, Value *v) {
  const char *mod = "builtins", *name = v->kind == VAL_DICT ? "dict" : v->kind == VAL_SET ? "set" : "list";
  if (v->kind == VAL_DICT && (v->flags & VF_ORDERED)) {
    mod = "collections";
    name = "OrderedDict";
  }
  Value *copy = value_new(vm->vs, v->kind == VAL_DICT ? VAL_DICT : VAL_LIST);
  Value *g = value_global(vm->vs, mod, name);
  Object *o = arena_alloc(vm->vs->arena, sizeof *o);
  if (copy == NULL || g == NULL) return vm->m->err.code;
  if (o == NULL) return vm_fail(vm, MFS_ENOMEM, "out of memory");
  copy->u = v->u;
  o->callable = g;
  o->how = OBJ_REDUCE;
  if (v->kind == VAL_DICT)
    o->dictitems = copy;
  else
    o->items = copy;
  v->kind = VAL_OBJECT;
  v->flags &= (uint8_t)~VF_ORDERED;
  v->u.obj = o;
  return MFS_OK;
}

static MfsStatus op_build(Vm *vm) {
  if (need(vm, 2) != MFS_OK) return vm->m->err.code;
  Value *state = pop1(vm);
  Value *target = vm->stack[vm->sp - 1];
  int done = 0;
  vm->rc.off = vm->op_off;
  vm->rc.op = op_name(vm->op);
  if (target->kind == VAL_OBJECT || target->kind == VAL_DTYPE) {
    if (recognise_build(&vm->rc, target, state, &done) != MFS_OK)
      return vm->m->err.code != MFS_OK ? vm->m->err.code : MFS_ECORRUPT;
  }
  if (done) return MFS_OK;
  if (target->kind == VAL_DTYPE) return MFS_OK;
  if (target->kind == VAL_GLOBAL) return note_global_mutation(vm, target);
  if (target->kind != VAL_OBJECT) {
    if (state->kind == VAL_NONE) return MFS_OK;
    if (target->kind != VAL_DICT && target->kind != VAL_LIST && target->kind != VAL_SET)
      return vm_fail(vm, MFS_EUNSUPPORTED, "cannot apply a state to a %s",
                     value_kind_name(target->kind));
    if (objectify(vm, target) != MFS_OK) return vm->m->err.code;
  }
  if (merge_state(vm, target->u.obj, state) != MFS_OK) return vm->m->err.code;
  if (vm->hooks == NULL || vm->hooks->after_build == NULL ||
      target->u.obj->callable == NULL || target->u.obj->callable->kind != VAL_GLOBAL)
    return MFS_OK;
  vm->r->err = vm->outer_err;
  vm->rc.hook_seen = vm->vs->next_id;   /* no BUILD may change a dtype the hook sized data by */
  uint64_t before = reader_pos(vm->r);
  MfsStatus st = vm->hooks->after_build(vm->hooks->ctx, vm->m, vm->r, &vm->stack[vm->sp - 1]);
  if (reader_pos(vm->r) != before)
    vm->frame_end = 0;   /* joblib ends the frame before the array bytes it writes */
  vm->r->err = &vm->rerr;
  if (st != MFS_OK && vm->m->err.code == MFS_OK)
    vm_fail(vm, st, "reading the data that follows the object failed");
  if (vm->stack[vm->sp - 1] == NULL) return vm_fail(vm, MFS_ECORRUPT, "hook removed the object");
  if (st != MFS_OK && vm->stack[vm->sp - 1] == target)
    vm->stack[vm->sp - 1] = NULL;   /* unfinished: what a cut leaves must not show it */
  return st;
}

/* ---- the loop ----------------------------------------------------------------------- */

static MfsStatus op_frame(Vm *vm) {
  uint64_t len = 0;
  if (take_u(vm, 8, &len) != MFS_OK) return vm->m->err.code;
  if (len > (uint64_t)INT64_MAX)
    return vm_fail(vm, MFS_ECORRUPT, "FRAME length exceeds system's maximum");
  /* A hint only: big payloads sit outside frames, opcodes are read one by one.
  ** CPython reads the whole frame first, so a frame longer than the file is an
  ** error -- but a truncated file keeps its opcodes up to the real cut browsable,
  ** and a complete graph behind a lying frame is still reported as an error. */
  uint64_t size = vm->r->src->size, pos = reader_pos(vm->r);
  if (size != SOURCE_SIZE_UNKNOWN && (pos > size || len > size - pos) && !vm->frame_overrun)
    vm->frame_overrun = vm->op_off + 1;
  if (vm->frame_end != 0 && vm->op_off < vm->frame_end && !vm->straddle) {
    /* a frame inside a frame: Python's unpickler refuses it, C's reads on */
    vm->straddle = vm->op_off + 1;
    vm->straddle_frame = vm->frame_off;
    vm->straddle_to = vm->op_off;
  }
  vm->frame_off = vm->op_off;
  vm->frame_end = len > UINT64_MAX - pos ? UINT64_MAX : pos + len;
  return MFS_OK;
}

/* Each opcode must lie inside the frame it starts in (CPython's Python
** unpickler reads frame by frame and refuses one that runs past; the C one
** only prefetches, so the two disagree on where the next opcode is). */
static int count_bytes(int op) {
  switch (op) {
    case OP_SHORT_BINBYTES: case OP_SHORT_BINSTRING: case OP_SHORT_BINUNICODE: case OP_LONG1:
      return 1;
    case OP_BINBYTES: case OP_BINSTRING: case OP_BINUNICODE: case OP_LONG4: return 4;
    case OP_BINBYTES8: case OP_BINUNICODE8: case OP_BYTEARRAY8: return 8;
    default: return 0;
  }
}

/* Python's _Unframer reads the rest of an exhausted frame from the file when
** a read starts exactly at the frame's end (after the opcode byte, after a
** length field); only a frame ending inside one read makes the readers part. */
static int frame_ends_between_reads(const Vm *vm) {
  uint64_t after_op = vm->prev_off + 1;
  int k = count_bytes(vm->prev_op);
  return vm->frame_end == after_op || (k && vm->frame_end == after_op + (uint64_t)k);
}

static void frame_check(Vm *vm) {
  if (vm->frame_end == 0) return;
  if (vm->op_off == vm->frame_end) {
    vm->frame_end = 0;
  } else if (vm->op_off > vm->frame_end) {
    if (!vm->straddle && !frame_ends_between_reads(vm)) {
      vm->straddle = vm->prev_off + 1;
      vm->straddle_frame = vm->frame_off;
      vm->straddle_to = vm->op_off;
    }
    vm->frame_end = 0;
  }
}

/* STOP reached after a FRAME that promised more bytes than the file has. */
static MfsStatus frame_overrun_fail(Vm *vm) {
  vm->op_off = vm->frame_overrun - 1;
  vm->op = OP_FRAME;
  return vm_fail(vm, MFS_ETRUNC, "frame longer than the file (pickle.load refuses it)");
}

static MfsStatus op_pop(Vm *vm) {
  if (vm->nmarks > 0 && vm->marks[vm->nmarks - 1] == vm->sp) {
    vm->nmarks--;   /* nothing above the mark: POP discards the mark itself */
    return MFS_OK;
  }
  if (need(vm, 1) != MFS_OK) return vm->m->err.code;
  vm->sp--;
  return MFS_OK;
}

static MfsStatus op_readonly_buffer(Vm *vm) {
  if (need(vm, 1) != MFS_OK) return vm->m->err.code;
  int k = vm->stack[vm->sp - 1]->kind;
  if (k == VAL_BYTES || k == VAL_BYTEARRAY) return MFS_OK;   /* a read-only view of it */
  return vm_fail(vm, MFS_EUNSUPPORTED, "out-of-band buffer");
}

static MfsStatus step(Vm *vm, int *stop) {
  const uint8_t *p;
  uint64_t u = 0;
  int64_t idx;
  vm->prev_off = vm->op_off;
  vm->prev_op = vm->op;
  vm->op_off = reader_pos(vm->r);
  frame_check(vm);
  vm->op = -1;
  if (reader_take(vm->r, 1, &p) != MFS_OK) {
    if (plain_end(vm)) return vm_fail(vm, MFS_ETRUNC, "pickle data was truncated (no STOP opcode)");
    return rd_fail(vm);
  }
  vm->op = p[0];
  if (!vm->binary && p[0] != 0 && strchr("]})qrhjJKMXUTGeu", p[0]) != NULL) vm->binary = 1;
  ValueSet *vs = vm->vs;
  switch (vm->op) {
  case OP_MARK: return push_mark(vm);
  case OP_STOP:
    if (need(vm, 1) != MFS_OK) return vm->m->err.code;
    if (vm->frame_overrun) return frame_overrun_fail(vm);
    vm->result = pop1(vm);
    *stop = 1;
    return MFS_OK;
  case OP_POP: return op_pop(vm);
  case OP_POP_MARK: {
    size_t at = 0;
    if (pop_mark(vm, &at) != MFS_OK) return vm->m->err.code;
    vm->sp = at;
    return MFS_OK;
  }
  case OP_DUP:
    if (need(vm, 1) != MFS_OK) return vm->m->err.code;
    return push(vm, vm->stack[vm->sp - 1]);
  case OP_BINBYTES: return op_bytes(vm, 4, VAL_BYTES, 0);
  case OP_SHORT_BINBYTES: return op_bytes(vm, 1, VAL_BYTES, 0);
  case OP_BINBYTES8: return op_bytes(vm, 8, VAL_BYTES, 0);
  case OP_BYTEARRAY8: return op_bytes(vm, 8, VAL_BYTEARRAY, 0);
  case OP_BINSTRING: return op_binstring(vm);
  case OP_SHORT_BINSTRING: return op_bytes(vm, 1, VAL_BYTES, 1);
  case OP_STRING: return op_string(vm);
  case OP_FLOAT: return op_float(vm);
  case OP_BINFLOAT: return op_binfloat(vm);
  case OP_INT: return op_int(vm);
  case OP_BININT:
    if (take_u(vm, 4, &u) != MFS_OK) return vm->m->err.code;
    return push(vm, value_int(vs, (int32_t)(uint32_t)u));
  case OP_BININT1:
    if (take_u(vm, 1, &u) != MFS_OK) return vm->m->err.code;
    return push(vm, value_int(vs, (int64_t)u));
  case OP_BININT2:
    if (take_u(vm, 2, &u) != MFS_OK) return vm->m->err.code;
    return push(vm, value_int(vs, (int64_t)u));
  case OP_LONG: return op_long(vm);
  case OP_LONG1: return op_long_bin(vm, 1);
  case OP_LONG4: return op_long_bin(vm, 4);
  case OP_NONE: return push(vm, value_none(vs));
  case OP_NEWTRUE: return push(vm, value_bool(vs, 1));
  case OP_NEWFALSE: return push(vm, value_bool(vs, 0));
  case OP_UNICODE: return op_unicode(vm);
  case OP_BINUNICODE: return op_binunicode(vm, 4);
  case OP_SHORT_BINUNICODE: return op_binunicode(vm, 1);
  case OP_BINUNICODE8: return op_binunicode(vm, 8);
  case OP_EMPTY_LIST: return push(vm, value_new(vs, VAL_LIST));
  case OP_EMPTY_TUPLE: return push(vm, value_new(vs, VAL_TUPLE));
  case OP_EMPTY_DICT: return push(vm, value_new(vs, VAL_DICT));
  case OP_EMPTY_SET: return push(vm, value_new(vs, VAL_SET));
  case OP_LIST: return op_marked_seq(vm, VAL_LIST);
  case OP_TUPLE: return op_marked_seq(vm, VAL_TUPLE);
  case OP_FROZENSET: return op_marked_seq(vm, VAL_FROZENSET);
  case OP_TUPLE1: return op_tuple_n(vm, 1);
  case OP_TUPLE2: return op_tuple_n(vm, 2);
  case OP_TUPLE3: return op_tuple_n(vm, 3);
  case OP_DICT: return op_dict(vm);
  case OP_APPEND: return op_append(vm);
  case OP_APPENDS: return op_marked_items(vm, OP_APPENDS);
  case OP_SETITEM: return op_setitem(vm);
  case OP_SETITEMS: return op_marked_items(vm, OP_SETITEMS);
  case OP_ADDITEMS: return op_marked_items(vm, OP_ADDITEMS);
  case OP_GET:
    if (text_index(vm, &idx) != MFS_OK) return vm->m->err.code;
    if (idx < 0)
      return vm_fail(vm, MFS_ECORRUPT, "memo value not found at index %lld", (long long)idx);
    return memo_get(vm, (uint64_t)idx);
  case OP_BINGET:
    if (take_u(vm, 1, &u) != MFS_OK) return vm->m->err.code;
    return memo_get(vm, u);
  case OP_LONG_BINGET:
    if (take_u(vm, 4, &u) != MFS_OK) return vm->m->err.code;
    return memo_get(vm, u);
  case OP_PUT:
    if (text_index(vm, &idx) != MFS_OK) return vm->m->err.code;
    if (idx < 0) return vm_fail(vm, MFS_ECORRUPT, "negative PUT argument");
    return memo_put(vm, (uint64_t)idx);
  case OP_BINPUT:
    if (take_u(vm, 1, &u) != MFS_OK) return vm->m->err.code;
    return memo_put(vm, u);
  case OP_LONG_BINPUT:
    if (take_u(vm, 4, &u) != MFS_OK) return vm->m->err.code;
    return memo_put(vm, u);
  case OP_MEMOIZE: return memo_put(vm, vm->memo.n);
  case OP_GLOBAL: return op_global(vm);
  case OP_STACK_GLOBAL: return op_stack_global(vm);
  case OP_INST: return op_inst(vm);
  case OP_OBJ: return op_obj(vm);
  case OP_REDUCE: return op_reduce(vm);
  case OP_NEWOBJ: return op_newobj(vm, 0);
  case OP_NEWOBJ_EX: return op_newobj(vm, 1);
  case OP_BUILD: return op_build(vm);
  case OP_PERSID: return op_persid(vm, 0);
  case OP_BINPERSID: return op_persid(vm, 1);
  case OP_EXT1: return op_ext(vm, 1);
  case OP_EXT2: return op_ext(vm, 2);
  case OP_EXT4: return op_ext(vm, 4);
  case OP_PROTO:
    if (take_u(vm, 1, &u) != MFS_OK) return vm->m->err.code;
    if (u > 5) return vm_fail(vm, MFS_EUNSUPPORTED, "unsupported pickle protocol: %d", (int)u);
    vm->proto = (int)u;
    return MFS_OK;
  case OP_FRAME: return op_frame(vm);
  case OP_NEXT_BUFFER: return vm_fail(vm, MFS_EUNSUPPORTED, "out-of-band buffer");
  case OP_READONLY_BUFFER: return op_readonly_buffer(vm);
  default: {
    int c = vm->op;
    vm->op = -1;
    if (c >= 0x20 && c < 0x7f) return vm_fail(vm, MFS_ECORRUPT, "invalid load key, '%c'", c);
    return vm_fail(vm, MFS_ECORRUPT, "invalid load key, '\\x%02x'", c);
  }
  }
}

/* ---- what a cut stream leaves ------------------------------------------------------ */

/* An object still waiting for the state above it: BUILD would have come next. */
static int awaits_state(const Vm *vm) {
  if (vm->sp < fence(vm) + 2) return 0;
  const Value *obj = vm->stack[vm->sp - 2], *st = vm->stack[vm->sp - 1];
  if (obj == NULL || st == NULL || obj->kind != VAL_OBJECT || obj->u.obj->state != NULL) return 0;
  return st->kind == VAL_DICT || st->kind == VAL_TUPLE;   /* numpy's state is a 5-tuple */
}

/* A list, dict or set: what a cut may have left about to take more items. */
static int fillable(const Value *v) {
  return v != NULL && (v->kind == VAL_LIST || v->kind == VAL_DICT || v->kind == VAL_SET);
}

static int plain_key(const Value *v) {
  return v != NULL && (v->kind == VAL_STR || v->kind == VAL_INT);
}

/* Siblings made the same way: tuples of one length, objects both built or not. */
static int alike(const Value *a, const Value *b) {
  if (a->kind != b->kind) return 0;
  if (a->kind == VAL_TUPLE) return a->u.seq.n == b->u.seq.n;
  if (a->kind == VAL_OBJECT) return (a->u.obj->state == NULL) == (b->u.obj->state == NULL);
  return 1;
}

/* A value no TUPLE1-3, STACK_GLOBAL or BUILD still waits to take as a part. */
static int made_whole(const Value *v) {
  switch (v->kind) {
    case VAL_LIST: case VAL_DICT: case VAL_SET: case VAL_FROZENSET: case VAL_NDARRAY:
    case VAL_BYTEARRAY: return 1;
    case VAL_OBJECT: return v->u.obj->state != NULL;
    default: return 0;
  }
}

static int is_scalar_kind(int kind) {
  switch (kind) {
    case VAL_NONE: case VAL_BOOL: case VAL_INT: case VAL_FLOAT: case VAL_COMPLEX:
    case VAL_STR: case VAL_BYTES: return 1;
    default: return 0;
  }
}

/* Protocols 0 and 1 make every tuple between a MARK and TUPLE and name globals
** inline, so what a cut leaves outside a mark is whole -- but from a class or
** function on (it waits for its arguments), and an object waiting for its
** state at the end. */
static size_t completed_items_v1(Value **items, size_t n, int pairs) {
  size_t j = 0, step = pairs ? 2 : 1;
  while (j + step <= n && items[j] != NULL && items[j + step - 1] != NULL &&
         (!pairs || plain_key(items[j])) && items[j + step - 1]->kind != VAL_GLOBAL)
    j += step;
  const Value *last = j > 0 ? items[j - 1] : NULL;
  if (last != NULL && j + step > n && last->kind == VAL_OBJECT && last->u.obj->state == NULL)
    j -= step;
  return j;
}

/* How many of the n items above a mark a cut stream surely completed.  What a
** cut leaves open is ambiguous: TUPLE1-3, REDUCE, BUILD and STACK_GLOBAL take
** their parts off the stack without a mark, so the parts of an unfinished value
** look like items.  So items are kept only while they look alike (a list of
** tuples stops at a string; a dict's keys are all of the first key's kind),
** never from a callable on (a global followed by what may be its arguments),
** and the last one only when the cut went through it (the unwinding filled
** it: VF_PARTIAL) -- else it may itself be the part of something.  When in
** doubt an item goes: never a wrong value. */
static size_t completed_items(Value **items, size_t n, int pairs, int proto) {
  size_t j = 0, step = pairs ? 2 : 1;
  if (n == 0 || items[0] == NULL) return 0;
  if (proto < 2) return completed_items_v1(items, n, pairs);
  int kind = items[0]->kind;
  for (; j + step <= n; j += step) {
    const Value *v = items[j + step - 1];
    if (items[j] == NULL || items[j]->kind != kind || v == NULL) break;
    if (pairs && !plain_key(items[j])) break;
    if (v->kind == VAL_GLOBAL) break;
  }
  if (j == 0 || (items[j - 1]->flags & VF_PARTIAL)) return j;
  if (!pairs && j < n) {   /* two alike, then something else: maybe its item */
    if (fillable(items[j - 1])) items[j - 1]->flags |= VF_PARTIAL;
    return j >= 2 ? j : 0;
  }
  /* Scalars are what TUPLE1-3 and STACK_GLOBAL take: a region of them with no
  ** end in sight may be the parts of its own first value. */
  if (!pairs && is_scalar_kind(kind)) return 0;
  if (!pairs && j >= 2 && alike(items[0], items[j - 1])) return j;
  if (pairs && made_whole(items[j - 1])) {
    if (j < n && fillable(items[j - 1]))
      items[j - 1]->flags |= VF_PARTIAL;   /* what follows may be its next item */
    return j;
  }
  return j - step;
}

/* A list of tuples (a Pipeline's steps) cut inside or just after the last one
** leaves that tuple's parts loose: when they are the kinds of the first tuple's
** items, make them the tuple TUPLE1-3 would have. */
static void close_tuple_like_first(Vm *vm, size_t at) {
  size_t n = vm->sp - at;
  const Value *first = n > 0 ? vm->stack[at] : NULL;
  if (first == NULL || first->kind != VAL_TUPLE) return;
  size_t m = first->u.seq.n;
  if (m < 1 || m > 3 || n < m + 1) return;
  Value **tail = vm->stack + vm->sp - m;
  for (size_t i = 0; i < m; i++)
    if (tail[i] == NULL || first->u.seq.items[i] == NULL ||
        tail[i]->kind != first->u.seq.items[i]->kind)
      return;
  for (size_t i = 0; i + m < n; i++)
    if (vm->stack[at + i] == NULL || vm->stack[at + i]->kind != VAL_TUPLE) return;
  Value *t = seq_from(vm, VAL_TUPLE, vm->sp - m);
  if (t == NULL) return;
  t->flags |= VF_PARTIAL;
  vm->stack[vm->sp++] = t;   /* where its m >= 1 parts were */
}

/* What a cut stream leaves at the bottom of its stack is worth showing when
** it holds something: a module name or class pushed for the root's own call
** is not the root. */
static int holds_items(const Value *v) {
  if (v == NULL) return 0;
  switch (v->kind) {
    case VAL_LIST: case VAL_TUPLE: case VAL_DICT: case VAL_SET: case VAL_FROZENSET:
    case VAL_OBJECT: case VAL_NDARRAY: return 1;
    default: return 0;
  }
}

/* BUILD every object the cut left just below its state.  One whose BUILD would
** have read data that follows (a joblib array) is unfinished: it goes, with its
** state, as does one whose BUILD fails. */
static void fold_states(Vm *vm, const PickleHooks *hooks) {
  while (awaits_state(vm)) {
    Value *obj = vm->stack[vm->sp - 2];
    if (hooks != NULL && hooks->after_build != NULL && obj->u.obj->callable != NULL &&
        obj->u.obj->callable->kind == VAL_GLOBAL &&
        hooks->after_build(hooks->ctx, vm->m, NULL, &obj) != MFS_OK)
      vm->sp -= 2;
    else if (op_build(vm) != MFS_OK)
      vm->sp--;
    else
      vm->stack[vm->sp - 1]->flags |= VF_PARTIAL;   /* its state may be cut short */
  }
}

/* Protocols 0 and 1 add one item at a time (APPEND, SETITEM), so a cut leaves
** items loose above the list or dict they were going into, with no mark.  Put
** the completed ones in; the rest go. */
static int close_loose_items(Vm *vm) {
  if (vm->proto >= 2 || vm->sp == 0) return 1;
  size_t p = vm->sp - 1;   /* the top is an item, even when it is a list or dict */
  while (p > fence(vm) && (vm->stack[p - 1] == NULL || (vm->stack[p - 1]->kind != VAL_DICT &&
                                                         vm->stack[p - 1]->kind != VAL_LIST)))
    p--;
  if (p <= fence(vm)) return 1;
  Value *into = vm->stack[p - 1];
  int is_dict = into->kind == VAL_DICT;
  into->flags |= VF_PARTIAL;
  size_t n = completed_items(vm->stack + p, vm->sp - p, is_dict, vm->proto);
  int ok = n == 0 || (is_dict ? set_items(vm, into, vm->stack + p, n)
                              : add_items(vm, into, vm->stack + p, n, 0)) == MFS_OK;
  vm->sp = p;
  return ok;
}

/* A list, dict or set on top of what a cut left may have been about to take
** items: it is not known to hold only what it holds. */
static void mark_if_filling(Vm *vm) {
  Value *top = vm->sp > fence(vm) ? vm->stack[vm->sp - 1] : NULL;
  if (fillable(top)) top->flags |= VF_PARTIAL;
}

/* Close what the stream left open, as its own opcodes would have: items above a
** mark go into the list, dict or set below it (but not the makings of the value
** the cut interrupted), a state dict goes into the object below it.  Only so
** that what was decoded before the fault stays browsable (SPEC 6); the error
** stays the one that stopped the VM, and no hook reads (it would read past the
** fault: fold_states only asks it whether it would have). */
static void unwind(Vm *vm) {
  Err fault = vm->m->err;
  const PickleHooks *hooks = vm->hooks;
  vm->hooks = NULL;
  vm->op = OP_BUILD;
  mark_if_filling(vm);   /* the last value pushed: its items may have been next */
  for (int ok = 1; ok;) {
    size_t sp;
    do {
      sp = vm->sp;
      fold_states(vm, hooks);
      ok = close_loose_items(vm);
    } while (ok && vm->sp != sp);
    if (!ok || vm->nmarks == 0) break;
    size_t at = vm->marks[--vm->nmarks];
    if (at > vm->sp || at == 0) break;
    Value *below = vm->stack[at - 1];
    int is_dict = below != NULL && below->kind == VAL_DICT;
    int is_seq = below != NULL && (below->kind == VAL_LIST || below->kind == VAL_SET);
    if ((is_dict || is_seq) && !vm->binary) {
      /* protocol 0 has no APPENDS/SETITEMS: this mark began an item of below */
      vm->sp = at;
      below->flags |= VF_PARTIAL;
      continue;
    }
    if (!is_dict && !is_seq) {
      /* a tuple, call or instance was being made of what is above the mark, so
      ** the value below it is the makings of something unfinished too */
      vm->sp = at - 1 >= fence(vm) ? at - 1 : at;
      mark_if_filling(vm);   /* what was dropped may have been going into it */
      continue;
    }
    below->flags |= VF_PARTIAL;   /* an empty one is not known to be empty */
    if (is_seq) close_tuple_like_first(vm, at);
    size_t n = completed_items(vm->stack + at, vm->sp - at, is_dict, vm->proto);
    if (n > 0 && is_dict)
      ok = set_items(vm, below, vm->stack + at, n) == MFS_OK;
    else if (n > 0)
      ok = add_items(vm, below, vm->stack + at, n, below->kind == VAL_SET) == MFS_OK;
    vm->sp = at;
  }
  fold_states(vm, hooks);
  vm->hooks = hooks;
  vm->m->err = fault;
}

/* The other reading of a frame an opcode ran past: the C unpickler reading a
** file may resume inside that opcode's argument (fickling's frame-boundary
** case runs os.system so).  A pickle is tried from every byte of it, briefly;
** the globals any such reading meets are the file's too. */
#define SALVAGE_OFFSETS 1024
#define SALVAGE_OPCODES 4096

static void salvage(Vm *vm) {
  uint64_t from = vm->straddle, to = vm->straddle_to;   /* from is 1 + the opcode */
  if (to > from + SALVAGE_OFFSETS) to = from + SALVAGE_OFFSETS;
  for (uint64_t at = from; at < to; at++) {
    Model *scratch = model_new_within(vm->m->path, vm->m);
    Reader r2;
    if (scratch == NULL) return;
    if (reader_init(&r2, vm->r->src, at, &scratch->err) == MFS_OK) {
      Value *res;
      run(scratch, &r2, NULL, vm->depth + 1, &res, NULL, SALVAGE_OPCODES);
      reader_done(&r2);
      const Value *g = scratch->globals;
      for (size_t i = 0; g != NULL && i < g->u.seq.n; i++)
        model_note_global(vm->m, g->u.seq.items[i]->u.global.module,
                          g->u.seq.items[i]->u.global.name);
    }
    model_free(scratch);
  }
}

/* A frame an opcode ran past: both readings judged (salvage), and the file is
** not read to its end by the reading that refuses it. */
static MfsStatus frame_disagrees(Vm *vm) {
  salvage(vm);
  vm->op_off = vm->straddle_frame;
  vm->op = OP_FRAME;
  return vm_fail(vm, MFS_ECORRUPT, "the opcode at offset %llu runs past the frame's end "
                 "(pickle's Python unpickler refuses the file, the C one reads on)",
                 (unsigned long long)(vm->straddle - 1));
}

/* Opcodes between two checkpoints (a look at the Model's stop flag, and its
** pause: the mount may park a long decode there while others go first): ~1 ms
** of the cheapest. */
#define STOP_CHECK_MASK 0xffffu

static int stopped(const Model *m) {
  if (m->pause.fn != NULL) m->pause.fn(m->pause.ctx);
  return m->stop != NULL && atomic_load_explicit(m->stop, memory_order_relaxed) != 0;
}

MfsStatus pickle_run(Model *m, Reader *r, const PickleHooks *hooks, int depth,
                     Value **result, int *protocol) {
  return run(m, r, hooks, depth, result, protocol,
             limit_lowered("MODELFS_TEST_MAX_OPCODES", MFS_MAX_OPCODES));
}

static MfsStatus run(Model *m, Reader *r, const PickleHooks *hooks, int depth,
                     Value **result, int *protocol, uint64_t max_ops) {
  *result = NULL;
  if (protocol) *protocol = 0;
  if (depth > MFS_MAX_NESTED_PICKLES)
    return err_set(&m->err, MFS_ELIMIT, reader_pos(r), "offset %llu: pickles nested deeper than %d",
                   (unsigned long long)reader_pos(r), MFS_MAX_NESTED_PICKLES);
  Vm vm;
  memset(&vm, 0, sizeof vm);
  vm.m = m;
  vm.vs = &m->vs;
  vm.r = r;
  vm.hooks = hooks;
  vm.depth = depth;
  vm.op = -1;
  vm.outer_err = r->err;
  err_clear(&vm.rerr);
  r->err = &vm.rerr;
  if (r->stop == NULL) r->stop = m->stop;   /* a long skip looks at it too */
  if (r->pause.fn == NULL) r->pause = m->pause;   /* and steps aside there */
  recog_init(&vm.rc, m);
  MfsStatus st = MFS_OK;
  int stop = 0;
  for (uint64_t n = 0; st == MFS_OK && !stop; n++) {
    if ((n & STOP_CHECK_MASK) == 0 && stopped(m)) {
      vm.op_off = reader_pos(r);
      vm.op = -1;
      st = vm_fail(&vm, MFS_ELIMIT, "stopped: the result is not wanted any more (unmount)");
      break;
    }
    if (n >= max_ops) {
      vm.op_off = reader_pos(r);
      vm.op = -1;
      st = vm_fail(&vm, MFS_ELIMIT, "more than %llu opcodes", (unsigned long long)max_ops);
      break;
    }
    st = step(&vm, &stop);
  }
  r->err = vm.outer_err;
  if (protocol) *protocol = vm.proto;
  if (st == MFS_OK && vm.straddle) {
    *result = vm.result;   /* whole as this reading sees it */
    st = frame_disagrees(&vm);
  } else if (st == MFS_OK) {
    *result = vm.result;
  } else {
    if (m->err.code == MFS_OK) err_set(&m->err, st, vm.op_off, "offset %llu: decode failed",
                                       (unsigned long long)vm.op_off);
    unwind(&vm);
    if (vm.sp > 0 && holds_items(vm.stack[0])) {
      vm.stack[0]->flags |= VF_PARTIAL;
      *result = vm.stack[0];
    }
  }
  recog_done(&vm.rc);
  u64map_free(&vm.memo);
  free(vm.stack);
  free(vm.marks);
  free(vm.scratch);
  return st;
}
