"""reference.py -- the tree modelfs must show for a pickle, computed by Python itself.

This is SPEC.md sections 2-3 written in Python, as a test oracle.  It loads a
(trusted, test-generated) pickle with pickle.load, then walks the loaded objects the
way the pickler saw them: obj.__reduce_ex__(4) gives (callable, args, state,
listitems, dictitems) for every object that is not a plain value; numpy arrays give
the bytes numpy.save writes; sharing is object identity, and the second and later
places of a shared value are relative links to the first place in a depth-first walk.

The result, Expected.entries, maps each relative path inside the model directory to
    ('file', bytes) | ('dir',) | ('link', target)
and Expected keeps what the tests need to judge the entries that are not fixed bytes
(arrays for the .txt views, JSON values for .json containers).

Choices where SPEC is silent are named constants below, so a change of mind is one
line.  The globals a pickle references (types.txt) are computed statically from the
opcodes (pickle_globals), never by loading.
"""
import _compat_pickle
import copyreg
import datetime
import io
import json
import math
import os
import pickle
import pickletools
import types

import numpy as np

RESERVED = ("meta.json", "types.txt", "untrusted.txt", "object.json", "compat.json",
            "summary.txt")

# The protocol whose reduce form is canonical.  SPEC 3.2: every protocol renders
# the same tree, so protocol 0's copyreg._reconstructor form must look like this.
CANONICAL_PROTOCOL = 4

# SPEC 3 (revised): numpy scalars of kinds b/i/u/f/U count as plain scalars for
# the .json rule (a vocabulary of numpy.int64, a list of numpy.float64).
JSON_ACCEPTS_NUMPY_SCALARS = True
JSON_NUMPY_KINDS = "biuU"

# Leaves that print as text and are never links, like scalars (SPEC: "Scalars and
# empty containers are never linked"): globals, dtypes and datetimes are shown as
# one line of text; linking them would only hide that text.
TEXT_KINDS = ("scalar", "global", "dtype", "datetime")

# Every text file ends with "\n" (the datetime row of the table omits it; every
# other text row has it).
NEWLINE = "\n"

DATETIME_TYPES = (datetime.datetime, datetime.date, datetime.time, datetime.timedelta)
PLAIN_JSON_TYPES = (type(None), bool, int, float, str)


# ---- what kind of value is this --------------------------------------------------

def is_plain_array(obj):
    """An ndarray that pickles through numpy's own reducer (_reconstruct or, at
    protocol 5, _frombuffer): a subclass with its own __reduce__ (MaskedArray) is an
    object built by its reconstructor, not an array."""
    cls = type(obj)
    return (isinstance(obj, np.ndarray) and cls.__reduce__ is np.ndarray.__reduce__
            and cls.__reduce_ex__ is np.ndarray.__reduce_ex__)


def is_global(obj):
    """Values pickle writes by name (save_global): classes and functions."""
    return isinstance(obj, (type, types.FunctionType, types.BuiltinFunctionType))


def kind_of(obj):
    t = type(obj)
    if t in (type(None), bool, int, float, complex, str):
        return "scalar"
    if isinstance(obj, np.generic) and not isinstance(obj, np.ndarray):
        return "scalar"
    if t in (bytes, bytearray):
        return "bytes"
    if is_global(obj):
        return "global"
    if isinstance(obj, np.dtype):
        return "dtype"
    if t in DATETIME_TYPES:
        return "datetime"
    if is_plain_array(obj):
        return "objarray" if obj.dtype.hasobject else "array"
    if t in (list, tuple, set, frozenset, dict) or isinstance(obj, dict) and \
            t.__module__ == "collections" and t.__name__ == "OrderedDict":
        return "container"
    return "object"


def scalar_text(obj):
    """Python's str() of the value; numpy scalars print as the Python value."""
    if isinstance(obj, np.generic):
        obj = obj.item()
    return str(obj)


def global_name(obj):
    """module.qualname exactly as the pickler writes it (protocol 4 STACK_GLOBAL)."""
    strings = []
    for op, arg, _ in pickletools.genops(pickle.dumps(obj, protocol=4)):
        if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8"):
            strings.append(arg)
        elif op.name == "STACK_GLOBAL":
            return strings[-2] + "." + strings[-1]
    raise ValueError("%r does not pickle as a global" % (obj,))


def class_name(obj):
    """meta.json "class" of a non-object root (builtins.dict, numpy.ndarray, ...);
    a bare function or class is named by itself (modelfs never resolves a name)."""
    if is_global(obj):
        return global_name(obj)
    return global_name(type(obj))


# ---- containers ---------------------------------------------------------------------

def container_items(obj):
    """(key, value) pairs in rendering order: index for sequences, key for dicts."""
    if isinstance(obj, dict):
        return list(obj.items())
    if isinstance(obj, np.ndarray):
        return list(enumerate(object_array_as_list(obj)))
    if steps_named(obj):
        return [(step[0], step) for step in obj]
    return list(enumerate(obj))


def steps_named(obj):
    """SPEC 3.2: a list/tuple of (name, estimator[, columns]) tuples with distinct
    str names, at least one estimator an object, is laid out by step name."""
    if type(obj) not in (list, tuple) or not 0 < len(obj) <= 1024:
        return False
    names = set()
    for step in obj:
        if type(step) is not tuple or len(step) not in (2, 3) or type(step[0]) is not str \
                or not step[0] or step[0] in names:
            return False
        names.add(step[0])
    return any(kind_of(step[1]) == "object" for step in obj)


def object_array_as_list(a):
    """An object ndarray as nested lists, one level per axis (SPEC 3)."""
    if a.ndim == 0:
        return [a[()]]
    if a.ndim == 1:
        return [a[i] for i in range(a.shape[0])]
    return [object_array_as_list(a[i]) for i in range(a.shape[0])]


def is_json_leaf(v):
    if type(v) in PLAIN_JSON_TYPES:
        return True
    return JSON_ACCEPTS_NUMPY_SCALARS and isinstance(v, np.generic) and \
        (v.dtype.kind in JSON_NUMPY_KINDS or
         (v.dtype.kind == "f" and v.dtype.itemsize in (2, 4, 8)))


def is_json_container(obj):
    """All elements (and keys) plain scalars, or empty: the container is one .json."""
    if isinstance(obj, np.ndarray):
        items = object_array_as_list(obj)
        return all(is_json_leaf(v) for v in items)
    if isinstance(obj, dict):
        return all(is_json_leaf(k) and is_json_leaf(v) for k, v in obj.items())
    return all(is_json_leaf(v) for v in obj)


def json_leaf(v):
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v


def json_text(v):
    return json.dumps(json_leaf(v), ensure_ascii=False)


def json_value(obj):
    """The JSON document a .json container holds (as Python values)."""
    if isinstance(obj, np.ndarray):
        obj = object_array_as_list(obj)
    if isinstance(obj, dict):
        return {str(json_leaf(k)) if not isinstance(k, str) else k: json_leaf(v)
                for k, v in obj.items()}
    if isinstance(obj, (set, frozenset)):
        return [json_leaf(v) for v in sorted(obj, key=lambda v: json_text(v).encode())]
    return [json_leaf(v) for v in obj]


# ---- names --------------------------------------------------------------------------

def escape(name):
    name = name.replace("%", "%25").replace("/", "%2F").replace("\0", "%00")
    return {"": "%", ".": "%2E", "..": "%2E%2E"}.get(name, name)


def cut_name(name, limit=240):
    """A name over `limit` UTF-8 bytes is cut there (NAME_MAX is 255), never
    inside a character or a %XX escape."""
    b = name.encode("utf-8", "surrogatepass")
    if len(b) <= limit:
        return name
    cut = limit
    while cut > 0 and b[cut] & 0xC0 == 0x80:
        cut -= 1
    if cut >= 1 and b[cut - 1:cut] == b"%":
        cut -= 1
    elif cut >= 2 and b[cut - 2:cut - 1] == b"%":
        cut -= 2
    return b[:cut].decode("utf-8", "surrogatepass")


def key_name(key):
    """Attribute names and string keys as they are; integers in decimal; other
    keys as Python's repr; all escaped, and cut to fit NAME_MAX."""
    if isinstance(key, str):      # str, numpy.str_ (Python-2 str keys load as str)
        return cut_name(escape(str(key)))
    if type(key) is int:
        return str(key)
    return cut_name(escape(repr(key)))


def suffixes_of(kind, obj):
    """The entry names one value takes: N.npy + N.txt, N.json, N.bin or N."""
    if kind == "array":
        return (".npy", ".txt")
    if kind in ("container", "objarray") and is_json_container(obj):
        return (".json",)
    if kind == "bytes":
        return (".bin",)
    return ("",)


def claim(taken, base, suffixes):
    """First of base, base~2, base~3 ... whose entries are all free; marks them."""
    n = 1
    while True:
        cand = base if n == 1 else "%s~%d" % (base, n)
        names = [cand + s for s in suffixes]
        if not any(x in taken for x in names):
            taken.update(names)
            return cand
        n += 1


# ---- numpy ----------------------------------------------------------------------------

def npy_bytes(a):
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()


# ---- the walk -----------------------------------------------------------------------

class Object:
    """An object as the pickler saw it: from obj.__reduce_ex__(CANONICAL_PROTOCOL)."""

    def __init__(self, obj, built=None):
        rv = obj.__reduce_ex__(CANONICAL_PROTOCOL)
        if isinstance(rv, str):
            raise ValueError("%r reduces to a global name" % (obj,))
        rv = tuple(rv) + (None,) * (6 - len(rv))
        func, args, state, listitems, dictitems, setter = rv
        if setter is not None:
            raise NotImplementedError("state_setter reduce (SPEC says nothing)")
        if func is copyreg.__newobj__:
            func, args = args[0], tuple(args[1:])
        elif func is copyreg.__newobj_ex__:
            raise NotImplementedError("NEWOBJ_EX kwargs (SPEC says nothing)")
        # The state the stream BUILT, when known: __reduce_ex__ of a loaded object
        # may differ from what was stored (MaskedArray turns a stored fill_value
        # None into a default array), and the tree shows what was stored.
        if built is not None and id(obj) in built:
            state = built[id(obj)][1]
        # SPEC 3.2: Cython's module.__pyx_unpickle_Name(cls, checksum, state) is an
        # object of class cls with that state (an empty state is none).
        if getattr(func, "__name__", "").startswith("__pyx_unpickle_") and len(args) == 3:
            func, state, args = args[0], (state if state is not None else args[2]), ()
            if state == ():
                state = None
        # SPEC 3.2: a MaskedArray is an object with data, mask (and fill_value when
        # the file stores one), whatever reconstructor pickled it.
        if type(obj) is np.ma.MaskedArray and not obj.dtype.names:
            stored = state if isinstance(state, tuple) and len(state) == 7 else None
            fortran = bool(obj.flags.fnc)
            order = np.asfortranarray if fortran else np.ascontiguousarray
            data = np.ndarray.view(obj, np.ndarray)
            if stored is not None and isinstance(stored[2], np.dtype) and stored[2] != data.dtype:
                data = data.astype(stored[2])
            func, args = np.ma.MaskedArray, ()
            state = {"data": order(data), "mask": order(np.ma.getmaskarray(obj))}
            fill = stored[6] if stored is not None else obj._fill_value
            if fill is not None:
                state["fill_value"] = fill
        self.view = None
        fmt = sparse_format(obj)
        if fmt is not None and isinstance(state, dict):
            # SPEC 3.2: format, shape, the public arrays in one order, nothing private;
            # plus matrix.mtx, what scipy.io.mmwrite writes (always "general").
            func, args = type(obj), ()
            shape = state.get("_shape", state.get("shape"))
            canon = {"format": fmt, "shape": shape}
            for k in SPARSE_KEPT:
                if k in state:
                    canon[k] = state[k]
            state = canon
            self.view = sparse_mtx(obj)
            if fmt == "dok":    # a dict subclass: its items, in stored order
                dictitems = dict(dict.items(obj)) or None
        self.callable = func
        self.args = tuple(args)
        self.state = state
        self.items = list(listitems) if listitems is not None else None
        self.dictitems = dict(dictitems) if dictitems is not None else None

    def state_dict(self):
        """The state keys to merge into the directory, or None for __state__."""
        s = self.state
        if type(s) is dict:
            return s
        if type(s) is tuple and len(s) == 2 and (s[0] is None or type(s[0]) is dict) \
                and type(s[1]) is dict:
            merged = dict(s[0] or {})
            merged.update(s[1])
            return merged
        return None

    def children(self):
        """(name, value) in SPEC order: __class__, __callable__, __args__, state keys
        (or __state__), __items__, __dictitems__.  __class__ is text, returned as
        a Text value."""
        out = []
        if is_global(self.callable):
            out.append(("__class__", Text(global_name(self.callable))))
        else:
            out.append(("__class__", Text("<dynamic>")))
            out.append(("__callable__", self.callable))
        if self.args:
            out.append(("__args__", self.args))
        sd = self.state_dict()
        if sd is not None:
            out.extend(sd.items())
        elif self.state is not None:
            out.append(("__state__", self.state))
        if self.items is not None:
            out.append(("__items__", self.items))
        if self.dictitems is not None:
            out.append(("__dictitems__", self.dictitems))
        if self.view is not None:
            out.append(self.view)
        return out

    def class_name(self):
        return global_name(self.callable) if is_global(self.callable) else "<dynamic>"


class Text(str):
    """A line of text the renderer writes itself (__class__), not a user value."""


class Raw(bytes):
    """A file the renderer writes whole (a view such as matrix.mtx), not a user value."""


SPARSE_FORMATS = ("csr", "csc", "coo", "bsr", "dia", "lil", "dok")
SPARSE_KEPT = ("dtype", "blocksize", "data", "indices", "indptr", "row", "col", "offsets", "rows")


def sparse_format(obj):
    try:
        import scipy.sparse as sp
    except ImportError:
        return None
    if not sp.issparse(obj) or not type(obj).__module__.startswith("scipy.sparse"):
        return None
    name = type(obj).__name__
    if name[:3] in SPARSE_FORMATS and name[3:] in ("_matrix", "_array"):
        return name[:3]
    return None


def sparse_mtx(obj):
    """("matrix.mtx", Raw(bytes)) of what scipy.io.mmwrite writes with every entry
    ("general"), or None where mmwrite refuses the dtype."""
    import scipy.io
    buf = io.BytesIO()
    try:
        scipy.io.mmwrite(buf, obj, symmetry="general")
    except (TypeError, ValueError):
        return None
    return ("matrix.mtx", Raw(buf.getvalue()))


class Expected:
    """The expected tree of one model: entries plus what the tests judge by meaning."""

    def __init__(self):
        self.entries = {}        # path -> ('file', bytes) | ('dir',) | ('link', target)
        self.order = {"": []}    # dir path -> child names in listing order
        self.arrays = {}         # path of a .npy (first place) -> ndarray
        self.json = {}           # path of a .json -> JSON value (Python)
        self.text = {}           # path of a text file -> the value it shows
        self.narrays = 0
        self.array_bytes = 0
        self.root_class = None
        self.sklearn_version = None
        self.built = {}          # id(obj) -> (obj, BUILD state) from the stream
        self._first = {}         # id(obj) -> base path of its first place
        self._keep = []          # keeps every walked temporary alive (ids stay unique)

    # A value under name in dir (taken: names already used in dir).
    def place(self, dirpath, taken, name, obj, depth=0):
        if depth > 900:
            raise RecursionError("graph too deep for the reference")
        self._keep.append(obj)
        kind = "text" if isinstance(obj, Text) else "raw" if isinstance(obj, Raw) else kind_of(obj)
        sfx = suffixes_of(kind, obj)
        base = claim(taken, name, sfx)
        path = base if not dirpath else dirpath + "/" + base
        for s in sfx:
            self.order[dirpath].append(base + s)
        linkable = kind not in TEXT_KINDS and kind not in ("text", "raw") and \
            not self.is_empty(kind, obj)
        if linkable and id(obj) in self._first:
            first = self._first[id(obj)]
            for s in sfx:
                target = os.path.relpath(first + s if first else ".", dirpath or ".")
                self.entries[path + s] = ("link", target)
            return
        if linkable:
            self._first[id(obj)] = path
        self.render(path, kind, sfx, obj, depth)

    @staticmethod
    def is_empty(kind, obj):
        if kind in ("container", "objarray"):
            return len(obj) == 0 if kind == "container" else obj.size == 0
        return False

    def render(self, path, kind, sfx, obj, depth):
        if kind == "text":
            self.file(path, str(obj) + NEWLINE, obj)
        elif kind == "raw":
            self.entries[path] = ("file", bytes(obj))
        elif kind == "scalar" or kind == "datetime":
            self.file(path, scalar_text(obj) + NEWLINE, obj)
        elif kind == "global":
            self.file(path, global_name(obj) + NEWLINE, obj)
        elif kind == "dtype":
            self.file(path, str(obj) + NEWLINE, obj)
        elif kind == "bytes":
            self.entries[path + ".bin"] = ("file", bytes(obj))
        elif kind == "array":
            obj = stored_array(obj, self.built)
            self._keep.append(obj)
            self.entries[path + ".npy"] = ("file", npy_bytes(obj))
            self.entries[path + ".txt"] = ("file", None)     # judged by meaning
            self.arrays[path + ".npy"] = obj
            self.narrays += 1
            self.array_bytes += obj.nbytes
        elif sfx == (".json",):
            value = json_value(obj)
            self.entries[path + ".json"] = ("file", None)    # judged by meaning
            self.json[path + ".json"] = value
        elif kind in ("container", "objarray"):
            self.directory(path, container_items(obj), depth)
        else:
            o = Object(obj, self.built)
            self._keep.append(o)
            self.directory(path, o.children(), depth)

    def file(self, path, text, value):
        self.entries[path] = ("file", text.encode("utf-8", "surrogatepass"))
        self.text[path] = value

    def directory(self, path, children, depth, taken=None):
        if path:
            self.entries[path] = ("dir",)
            self.order[path] = []
        taken = set() if taken is None else taken
        for key, value in children:
            self._keep.append(value)
            self.place(path, taken, key_name(key), value, depth + 1)


def expected_tree(root, built=None):
    """The Expected tree of a loaded root object.  built: the BUILD states the
    stream applied (StreamUnpickler.built); without it, states come from
    __reduce_ex__ of the loaded objects."""
    ex = Expected()
    ex.built = built if built is not None else {}
    taken = set(RESERVED)
    ex.order[""] = list(RESERVED)
    for r in RESERVED:
        ex.entries[r] = ("file", None)                     # judged by the tests
    kind = kind_of(root)
    ex._keep.append(root)
    if kind == "object":
        o = Object(root, built)
        ex._keep.append(o)
        ex._first[id(root)] = ""
        ex.root_class = o.class_name()
        sd = o.state_dict()
        if sd is not None and "_sklearn_version" in sd:
            ex.sklearn_version = sd["_sklearn_version"]
        ex.directory("", o.children(), 0, taken)
    elif kind in ("container", "objarray") and not is_json_container(root):
        ex._first[id(root)] = ""
        ex.root_class = class_name(root)
        ex.directory("", container_items(root), 0, taken)
    else:
        ex.root_class = class_name(root)
        ex.place("", taken, "value", root)
    return ex


def load(path):
    with open(path, "rb") as f:
        return pickle.load(f)


class StreamUnpickler(pickle._Unpickler):
    """pickle.load (the pure-Python unpickler, same semantics) that also keeps the
    state every BUILD opcode applied, by object identity."""

    def __init__(self, f):
        super().__init__(f)
        self.built = {}

    def load_build(self):
        inst, state = self.stack[-2], self.stack[-1]
        # A copy: __setstate__ may consume its argument (BaseEstimator pops
        # _sklearn_version).  Holding inst keeps its id unique.
        self.built[id(inst)] = (inst, shallow_copy_state(state))
        super().load_build()

    dispatch = dict(pickle._Unpickler.dispatch)
    dispatch[pickle.BUILD[0]] = load_build


def shallow_copy_state(state):
    if type(state) is dict:
        return dict(state)
    if type(state) is tuple:
        return tuple(dict(x) if type(x) is dict else x for x in state)
    return state


def load_with_states(path):
    """(root, built) of a pickle file."""
    with open(path, "rb") as f:
        u = StreamUnpickler(f)
        return u.load(), u.built


def expected_file(path):
    """The Expected tree of a (trusted) pickle file."""
    root, built = load_with_states(path)
    return expected_tree(root, built)


def stored_array(a, built):
    """The array with the dtype its pickle stored.  numpy's ndarray.__setstate__
    byte-swaps a non-native array to native order on load (protocols 0-4; the
    protocol-5 _frombuffer path keeps it); SPEC keeps the byte order as stored."""
    state = built.get(id(a), (None, None))[1]
    if isinstance(state, tuple) and len(state) in (4, 5):
        dtype = state[-3]
        if isinstance(dtype, np.dtype) and dtype != a.dtype:
            return a.astype(dtype)
    return a


# ---- the globals a pickle names (types.txt) -----------------------------------------

_MARK = object()
_STRING_OPS = ("STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE",
               "SHORT_BINUNICODE", "BINUNICODE8")


def map_py2(module, name, proto):
    """What Python 3's unpickler does to names in protocol < 3 streams."""
    if proto < 3:
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
    return module + "." + name


def pickle_globals(data):
    """Every global the stream names, in order met, without executing anything.

    STACK_GLOBAL takes its operands from the stack, which may hold strings fetched
    from the memo, so the stack and memo are simulated (strings by value, every
    other object as a placeholder) using pickletools' stack effects."""
    proto, memo, stack, out = 0, {}, [], []

    def pop_mark():
        while stack:
            if stack.pop() is _MARK:
                return

    for op, arg, _ in pickletools.genops(data):
        name = op.name
        if name == "PROTO":
            proto = arg
        elif name in ("GLOBAL", "INST"):
            module, qual = arg.split(" ", 1)
            out.append(map_py2(module, qual, proto))
        elif name == "STACK_GLOBAL":
            qual, module = stack.pop(), stack.pop()
            out.append(map_py2(module, qual, proto))
            stack.append(None)
            continue
        if name in ("PUT", "BINPUT", "LONG_BINPUT"):
            memo[arg] = stack[-1]
        elif name == "MEMOIZE":
            memo[len(memo)] = stack[-1]
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            stack.append(memo[arg])
        elif name == "MARK":
            stack.append(_MARK)
        elif name == "POP":
            stack.pop()
        elif name in _STRING_OPS:
            stack.append(arg)
        elif name == "STOP":
            break
        else:
            before = op.stack_before
            if pickletools.markobject in before:
                pop_mark()
                for _ in range(before.index(pickletools.markobject)):
                    stack.pop()
            else:
                for _ in before:
                    stack.pop()
            stack.extend([None] * len(op.stack_after))
    return out


def types_txt(data):
    return "".join(g + "\n" for g in sorted(set(pickle_globals(data)),
                                            key=lambda s: s.encode()))


def pickle_protocol(data):
    for op, arg, _ in pickletools.genops(data):
        return arg if op.name == "PROTO" else 0
    return 0


class RecordingUnpickler(pickle.Unpickler):
    """pickle.load that records each global it resolves (a cross-check of
    pickle_globals on trusted fixtures)."""

    def __init__(self, f, proto):
        super().__init__(f)
        self.proto_seen = proto
        self.seen = []

    def find_class(self, module, name):
        self.seen.append(map_py2(module, name, self.proto_seen))
        return super().find_class(module, name)
