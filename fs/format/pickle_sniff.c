/*
** pickle_sniff.c -- does a byte stream start a pickle?  CPython's unpickler starts
** on any opcode (no PROTO header needed), so the answer cannot come from the first
** byte: the first bytes are walked the way the unpickler would walk them, with its
** stack, MARK and memo rules but no values, and the stream is a pickle when the
** unpickler would reach STOP, or would import something before it fails.
**
** Why: "hi\n" starts with BINGET and "Notes" with NONE, so a text file opens with
** opcodes more often than not; CPython stops on such a file at once (memo miss,
** OBJ without MARK) without importing anything, and so may we.  A stream that gets
** as far as an import is a pickle whatever follows: loading it already runs code.
**
** It must never allocate, never read past the bytes it is given, and never call
** a stream that reaches an import "not a pickle".
*/
#include <string.h>
#include "modelfs/pickle.h"

/* How an opcode's argument is laid out. */
typedef enum Arg {
  A_NONE, A_U1, A_U2, A_U4, A_U8, A_F8,      /* fixed widths */
  A_LEN1, A_LEN4, A_LEN8,                    /* length prefix, then that many bytes */
  A_DEC, A_FLOAT, A_QUOTED, A_TEXT, A_ASCII, /* one line */
  A_NAMES                                    /* two lines: module, name */
} Arg;

/* What it does to the stack. */
typedef enum Eff {
  E_BAD,       /* not an opcode, or one CPython refuses without help (EXT, buffers) */
  E_PUSH, E_POP1, E_POP2, E_POP3, E_TUPLE1, E_DUP, E_POP,
  E_MARK, E_TOMARK, E_TOMARK_PAIRS, E_OBJ, E_POP_MARK, E_INTO, E_INTO_PAIRS,
  E_PUT, E_MEMOIZE, E_GET, E_STOP, E_PROTO, E_FRAME, E_IMPORT, E_STACK_GLOBAL, E_INST
} Eff;

typedef struct Op { unsigned char arg, eff; } Op;

static Op op_info(int c) {
  switch (c) {
  case '(': return (Op){A_NONE, E_MARK};
  case '.': return (Op){A_NONE, E_STOP};
  case '0': return (Op){A_NONE, E_POP};
  case '1': return (Op){A_NONE, E_POP_MARK};
  case '2': return (Op){A_NONE, E_DUP};
  case 'B': return (Op){A_LEN4, E_PUSH};
  case 'C': return (Op){A_LEN1, E_PUSH};
  case 'F': return (Op){A_FLOAT, E_PUSH};
  case 'G': return (Op){A_F8, E_PUSH};
  case 'I': return (Op){A_DEC, E_PUSH};
  case 'J': return (Op){A_U4, E_PUSH};
  case 'K': return (Op){A_U1, E_PUSH};
  case 'L': return (Op){A_DEC, E_PUSH};
  case 'M': return (Op){A_U2, E_PUSH};
  case 'N': return (Op){A_NONE, E_PUSH};
  case 'P': return (Op){A_ASCII, E_PUSH};
  case 'Q': return (Op){A_NONE, E_TUPLE1};     /* BINPERSID: pid -> object */
  case 'R': return (Op){A_NONE, E_POP2};
  case 'S': return (Op){A_QUOTED, E_PUSH};
  case 'T': return (Op){A_LEN4, E_PUSH};
  case 'U': return (Op){A_LEN1, E_PUSH};
  case 'V': return (Op){A_TEXT, E_PUSH};
  case 'X': return (Op){A_LEN4, E_PUSH};
  case ']': return (Op){A_NONE, E_PUSH};
  case 'a': return (Op){A_NONE, E_POP2};
  case 'b': return (Op){A_NONE, E_POP2};
  case 'c': return (Op){A_NAMES, E_IMPORT};
  case 'd': return (Op){A_NONE, E_TOMARK_PAIRS};
  case 'e': return (Op){A_NONE, E_INTO};
  case 'g': return (Op){A_DEC, E_GET};
  case 'h': return (Op){A_U1, E_GET};
  case 'i': return (Op){A_NAMES, E_INST};
  case 'j': return (Op){A_U4, E_GET};
  case 'l': return (Op){A_NONE, E_TOMARK};
  case 'o': return (Op){A_NONE, E_OBJ};
  case 'p': return (Op){A_DEC, E_PUT};
  case 'q': return (Op){A_U1, E_PUT};
  case 'r': return (Op){A_U4, E_PUT};
  case 's': return (Op){A_NONE, E_POP3};
  case 't': return (Op){A_NONE, E_TOMARK};
  case 'u': return (Op){A_NONE, E_INTO_PAIRS};
  case '}': return (Op){A_NONE, E_PUSH};
  case ')': return (Op){A_NONE, E_PUSH};
  case 0x80: return (Op){A_U1, E_PROTO};
  case 0x81: return (Op){A_NONE, E_POP2};      /* NEWOBJ */
  case 0x85: return (Op){A_NONE, E_TUPLE1};
  case 0x86: return (Op){A_NONE, E_POP2};
  case 0x87: return (Op){A_NONE, E_POP3};
  case 0x88: case 0x89: return (Op){A_NONE, E_PUSH};
  case 0x8a: return (Op){A_LEN1, E_PUSH};      /* LONG1 */
  case 0x8b: return (Op){A_LEN4, E_PUSH};      /* LONG4 */
  case 0x8c: return (Op){A_LEN1, E_PUSH};
  case 0x8d: case 0x8e: case 0x96: return (Op){A_LEN8, E_PUSH};
  case 0x8f: return (Op){A_NONE, E_PUSH};      /* EMPTY_SET */
  case 0x90: return (Op){A_NONE, E_INTO};      /* ADDITEMS */
  case 0x91: return (Op){A_NONE, E_TOMARK};    /* FROZENSET */
  case 0x92: return (Op){A_NONE, E_POP3};      /* NEWOBJ_EX */
  case 0x93: return (Op){A_NONE, E_STACK_GLOBAL};
  case 0x94: return (Op){A_NONE, E_MEMOIZE};
  case 0x95: return (Op){A_U8, E_FRAME};
  case 0x98: return (Op){A_NONE, E_TUPLE1};    /* READONLY_BUFFER */
  default: return (Op){A_NONE, E_BAD};         /* EXT1/2/4: empty registry; NEXT_BUFFER */
  }
}

/* The unpickler's state, without values: items above the innermost MARK, the
** depths saved by the MARKs, and which memo slots were filled. */
#define SNIFF_MARKS 64
#define SNIFF_MEMO 1024

typedef struct Walk {
  const uint8_t *p;
  size_t n, i;
  int eof;                 /* the bytes end where the stream ends */
  uint64_t depth;
  uint64_t marks[SNIFF_MARKS];
  int nmarks;
  int marks_lost;          /* more MARKs than we track: stop judging structure */
  uint8_t memo[SNIFF_MEMO / 8];
  uint64_t memo_len;
  int memo_big;            /* a slot >= SNIFF_MEMO was filled: any big GET is fine */
} Walk;

enum { W_OK, W_BAD, W_CUT };

static int name_byte(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.';
}

/* One line of kind arg starting at w->i: W_OK and *end past the newline. */
static int line(const Walk *w, size_t from, Arg arg, size_t *end, uint64_t *num) {
  size_t k = from;
  uint64_t v = 0;
  int digits = 0;
  for (; k < w->n && w->p[k] != '\n'; k++) {
    int c = w->p[k];
    size_t at = k - from;
    int ok = 1;
    if (arg == A_DEC) {
      ok = (c >= '0' && c <= '9') || (at == 0 && (c == '-' || c == '+')) || c == 'L';
      if (c >= '0' && c <= '9' && v < UINT64_MAX / 16) v = v * 10 + (uint64_t)(c - '0'), digits++;
    } else if (arg == A_FLOAT) {
      ok = (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' ||
           c == 'i' || c == 'n' || c == 'f' || c == 'a';
    } else if (arg == A_QUOTED) {
      ok = at > 0 || c == '\'' || c == '"';
    } else if (arg == A_ASCII) {
      ok = c >= 0x20 && c < 0x7f;
    } else if (arg == A_NAMES) {
      ok = name_byte(c);
    }
    if (!ok) return W_BAD;
  }
  if (k == w->n) return W_CUT;
  if (k == from && arg != A_TEXT) return W_BAD;
  if (arg == A_DEC && digits == 0) return W_BAD;
  if (arg == A_QUOTED && (k - from < 2 || w->p[k - 1] != w->p[from])) return W_BAD;
  *end = k + 1;
  if (num) *num = v;
  return W_OK;
}

static uint64_t le(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

/* Step over the argument of an opcode at w->i (already past the opcode byte);
** *num gets an integer argument (memo index, protocol). */
static int take_arg(Walk *w, Arg arg, uint64_t *num, uint64_t total_left) {
  static const size_t fixed[] = {0, 1, 2, 4, 8, 8};
  size_t rest = w->n - w->i, end;
  if (arg <= A_F8) {
    if (rest < fixed[arg]) return W_CUT;
    *num = arg == A_F8 ? 0 : le(w->p + w->i, (int)fixed[arg]);
    w->i += fixed[arg];
    return W_OK;
  }
  if (arg <= A_LEN8) {
    int k = arg == A_LEN1 ? 1 : arg == A_LEN4 ? 4 : 8;
    if (rest < (size_t)k) return W_CUT;
    uint64_t len = le(w->p + w->i, k);
    if (arg == A_LEN4 && len > 0x7fffffffu && w->p[w->i - 1] == 'T') return W_BAD;
    if (len > total_left - (uint64_t)k) return W_BAD;   /* longer than the stream */
    if (len > rest - (size_t)k) return W_CUT;
    w->i += (size_t)k + (size_t)len;
    return W_OK;
  }
  int r = line(w, w->i, arg, &end, num);
  if (r == W_OK && arg == A_NAMES) r = line(w, end, arg, &end, NULL);
  if (r == W_OK) w->i = end;
  return r;
}

static int memo_has(const Walk *w, uint64_t k) {
  if (k >= SNIFF_MEMO) return w->memo_big;
  return (w->memo[k / 8] >> (k % 8)) & 1;
}

static void memo_put(Walk *w, uint64_t k) {
  if (k >= SNIFF_MEMO) {
    w->memo_big = 1;
  } else if (!memo_has(w, k)) {
    w->memo[k / 8] |= (uint8_t)(1u << (k % 8));
    w->memo_len++;
  }
}

/* Pop to the innermost MARK: the items above it; -1 when there is no MARK. */
static int64_t to_mark(Walk *w) {
  if (w->marks_lost) return 0;
  if (w->nmarks == 0) return -1;
  int64_t above = (int64_t)w->depth;
  w->depth = w->marks[--w->nmarks];
  return above;
}

/* Apply the stack effect; W_BAD when CPython would raise here. */
static int effect(Walk *w, Eff eff, uint64_t num) {
  int64_t k;
  uint64_t need = eff == E_POP2 ? 2 : eff == E_POP3 ? 3 : eff == E_STACK_GLOBAL ? 2 : 1;
  switch (eff) {
  case E_PUSH: case E_IMPORT: w->depth++; return W_OK;
  case E_POP1: case E_POP2: case E_POP3: case E_STACK_GLOBAL: case E_TUPLE1: case E_DUP:
    if (w->depth < need && !w->marks_lost) return W_BAD;
    if (w->depth >= need) w->depth -= need;
    w->depth++;
    if (eff == E_DUP) w->depth++;
    return W_OK;
  case E_POP:
    if (w->depth > 0) w->depth--;
    else if (to_mark(w) < 0) return W_BAD;
    return W_OK;
  case E_MARK:
    if (w->nmarks == SNIFF_MARKS) w->marks_lost = 1;
    else w->marks[w->nmarks++] = w->depth;
    w->depth = 0;
    return W_OK;
  case E_TOMARK: case E_TOMARK_PAIRS: case E_OBJ: case E_INST: case E_POP_MARK:
    k = to_mark(w);
    if (k < 0 || (eff == E_OBJ && k == 0 && !w->marks_lost)) return W_BAD;
    if (eff == E_TOMARK_PAIRS && k % 2 != 0) return W_BAD;
    if (eff != E_POP_MARK) w->depth++;
    return W_OK;
  case E_INTO: case E_INTO_PAIRS:
    k = to_mark(w);
    if (k < 0 || (w->depth == 0 && !w->marks_lost)) return W_BAD;
    if (eff == E_INTO_PAIRS && k % 2 != 0) return W_BAD;
    return W_OK;
  case E_PUT:
    if (w->depth == 0 && !w->marks_lost) return W_BAD;
    memo_put(w, num);
    return W_OK;
  case E_MEMOIZE:
    if (w->depth == 0 && !w->marks_lost) return W_BAD;
    memo_put(w, w->memo_len);
    return W_OK;
  case E_GET:
    if (!memo_has(w, num)) return W_BAD;
    w->depth++;
    return W_OK;
  case E_STOP: return w->depth > 0 || w->marks_lost ? W_OK : W_BAD;
  case E_PROTO: return num <= 5 ? W_OK : W_BAD;
  case E_FRAME: return W_OK;
  default: return W_BAD;
  }
}

/*
** bytes: the first n bytes of a stream of total bytes (UINT64_MAX: unknown).
** Verdict: a pickle when the walk reaches STOP, or reaches an import (GLOBAL,
** STACK_GLOBAL, INST) before anything CPython refuses; or when the bytes run out
** before the stream does after at least two opcodes (a long protocol-0 pickle).
*/
int pickle_sniff_stream(const uint8_t *p, size_t n, uint64_t total) {
  Walk w;
  memset(&w, 0, sizeof w);
  w.p = p;
  w.n = n;
  w.eof = total != UINT64_MAX && total <= n;
  int ops = 0, imported = 0;
  while (w.i < w.n) {
    int c = p[w.i++];
    Op op = op_info(c);
    if (op.eff == E_BAD) return imported;
    uint64_t num = 0;
    uint64_t left = total == UINT64_MAX ? UINT64_MAX : total - w.i;
    int r = take_arg(&w, (Arg)op.arg, &num, left);
    if (r == W_CUT) return imported || (!w.eof && ops >= 1);
    if (r == W_BAD || effect(&w, (Eff)op.eff, num) != W_OK) return imported;
    ops++;
    if (op.eff == E_IMPORT || op.eff == E_STACK_GLOBAL || op.eff == E_INST) imported = 1;
    if (op.eff == E_STOP) return 1;
  }
  return imported || (!w.eof && ops >= 2);
}

int pickle_first_opcode(const uint8_t *head, size_t n) {
  return n > 0 && op_info(head[0]).eff != E_BAD;
}

int pickle_sniff(const uint8_t *head, size_t n) {
  return pickle_sniff_stream(head, n, UINT64_MAX);
}
