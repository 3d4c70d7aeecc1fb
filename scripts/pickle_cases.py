#!/usr/bin/python3
"""Pickles and what Python says they contain, for tests/unit/test_pickle.c and
tests/unit/test_numpy.c.

Prints one case per line: NAME <TAB> HEX(pickle bytes) <TAB> CANON <TAB> EXTRA.
CANON is a canonical text of the object graph computed here, by Python, from the
original object; the C tests compute the same text from the decoded value graph
(tests/unit/canon.h) and compare.  EXTRA is the source offset of the array data
for large arrays (whose bytes must stay in the source), else "-".

Usage: pickle_cases.py basic|numpy|numpy2|sklearn
"""
import collections
import copyreg
import datetime
import decimal
import io
import pickle
import pickletools
import struct
import sys

import numpy as np


def hx(b):
    return b.hex()


def glob(x):
    mod = getattr(x, "__module__", None)
    name = getattr(x, "__qualname__", None) or x.__name__
    if mod is None:  # ufuncs: the pickler scans sys.modules; not used here
        raise TypeError(x)
    return "g" + mod + "." + name


def dtype_canon(dt):
    s = "D" + dt.str
    if dt.names is not None:
        parts = []
        for n in dt.names:
            f = dt.fields[n]
            p = n + ":" + dtype_canon(f[0]) + "@" + str(f[1])
            if len(f) > 2 and f[2] is not None:
                p += ":" + str(f[2])
            parts.append(p)
        s += "{" + ",".join(parts) + "}"
    if dt.subdtype is not None:
        s += "sub(" + dtype_canon(dt.subdtype[0]) + "," + ",".join(map(str, dt.subdtype[1])) + ")"
    if dt.isalignedstruct:
        s += "!A"
    return s


class Canon:
    """Two passes over the same reduced tree: count references, then print."""

    SHARED = (list, dict, set, frozenset, bytearray, tuple, collections.OrderedDict)

    def __init__(self):
        self.reduced = {}
        self.keep = []
        self.refs = collections.Counter()
        self.labels = {}

    def reduce(self, x):
        if id(x) not in self.reduced:
            rv = list(x.__reduce_ex__(2))
            for i in (3, 4):
                if len(rv) > i and rv[i] is not None:
                    rv[i] = list(rv[i])
            rv = tuple(rv)
            self.keep.append((x, rv))
            self.reduced[id(x)] = rv
        return self.reduced[id(x)]

    def children(self, x):
        t = type(x)
        if t in (list, tuple, set, frozenset):
            return list(x)
        if t in (dict, collections.OrderedDict):
            return [v for kv in x.items() for v in kv]
        if isinstance(x, np.ndarray):
            return list(x.ravel(order="C")) if x.dtype.hasobject else []
        if self.is_leaf(x):
            return []
        rv = self.reduce(x)
        func, args = rv[0], rv[1]
        if func is copyreg.__newobj__:
            args = args[1:]
        out = list(args)
        if len(rv) > 2 and rv[2] is not None:
            out.append(rv[2])
        if len(rv) > 3 and rv[3] is not None:
            out.extend(rv[3])
        if len(rv) > 4 and rv[4] is not None:
            out.extend(v for kv in rv[4] for v in kv)
        return out

    def is_leaf(self, x):
        return (x is None or isinstance(x, (bool, int, float, complex, str, bytes, type,
                                            np.generic, np.dtype, datetime.date,
                                            datetime.time, datetime.timedelta,
                                            datetime.tzinfo, decimal.Decimal))
                or callable(x) and hasattr(x, "__qualname__") and not hasattr(x, "__reduce_ex__x"))

    def count(self, x):
        stack = [x]
        while stack:
            y = stack.pop()
            if self.shared_kind(y):
                self.refs[id(y)] += 1
                if self.refs[id(y)] > 1:
                    continue
            stack.extend(self.children(y))

    def shared_kind(self, x):
        if type(x) is tuple and len(x) == 0:
            return False
        return type(x) in self.SHARED

    def text(self, x):
        if self.shared_kind(x) and self.refs[id(x)] > 1:
            if id(x) in self.labels:
                return "*" + str(self.labels[id(x)])
            self.labels[id(x)] = len(self.labels) + 1
            return "&" + str(self.labels[id(x)]) + self.body(x)
        return self.body(x)

    def seq(self, xs):
        return ",".join(self.text(y) for y in xs)

    def body(self, x):
        t = type(x)
        if x is None:
            return "N"
        if t is bool:
            return "T" if x else "F"
        if t is int:
            return "i" + str(x)
        if t is float:
            return "f" + struct.pack(">d", x).hex()
        if t is complex:
            return "c" + struct.pack(">d", x.real).hex() + struct.pack(">d", x.imag).hex()
        if t is str:
            return "s" + x.encode("utf-8", "surrogatepass").hex()
        if t is bytes:
            return "b" + x.hex()
        if t is bytearray:
            return "y" + bytes(x).hex()
        if t is list:
            return "[" + self.seq(x) + "]"
        if t is tuple:
            return "(" + self.seq(x) + ")"
        if t is set:
            return "{" + self.seq(x) + "}"
        if t is frozenset:
            return "z{" + self.seq(x) + "}"
        if t is dict:
            return "d{" + ",".join(self.text(k) + ":" + self.text(v) for k, v in x.items()) + "}"
        if t is collections.OrderedDict:
            return "o{" + ",".join(self.text(k) + ":" + self.text(v) for k, v in x.items()) + "}"
        if isinstance(x, (datetime.date, datetime.time, datetime.timedelta, datetime.tzinfo,
                          decimal.Decimal)):
            return "t" + str(x).encode().hex()
        if isinstance(x, np.dtype):
            return dtype_canon(x)
        if isinstance(x, np.generic):
            return "S" + dtype_canon(x.dtype) + ":" + x.tobytes().hex()
        if isinstance(x, np.ndarray):
            cls = "" if type(x) is np.ndarray else glob(type(x)) + ";"
            shape = ",".join(map(str, x.shape))
            if x.dtype.hasobject:
                return "A<" + cls + dtype_canon(x.dtype) + ";" + shape + ";[" + self.seq(
                    x.ravel(order="C")) + "]>"
            fortran = x.flags.f_contiguous and not x.flags.c_contiguous
            data = x.tobytes(order="F" if fortran else "C")
            return "A<" + cls + dtype_canon(x.dtype) + ";" + shape + ";" + (
                "F" if fortran else "C") + ";" + data.hex() + ">"
        if isinstance(x, type) or (callable(x) and not hasattr(x, "__dict__") or
                                   type(x).__name__ in ("function", "builtin_function_or_method")):
            return glob(x)
        rv = self.reduce(x)
        func, args = rv[0], rv[1]
        state = rv[2] if len(rv) > 2 else None
        items = list(rv[3]) if len(rv) > 3 and rv[3] is not None else None
        ditems = list(rv[4]) if len(rv) > 4 and rv[4] is not None else None
        if func is copyreg.__newobj__:
            func, args = args[0], args[1:]
        out = "O<" + self.text(func) + "|" + self.text(tuple(args)) + "|"
        out += "-" if state is None else self.text(state)
        out += "|" + ("-" if not items else "[" + self.seq(items) + "]")
        out += "|" + ("-" if not ditems else "d{" + ",".join(
            self.text(k) + ":" + self.text(v) for k, v in ditems) + "}")
        return out + ">"


def canon(x):
    c = Canon()
    c.count(x)
    return c.text(x)


def data_offset(data, nbytes):
    """Offset of the payload of the first bytes opcode carrying nbytes bytes."""
    for op, arg, pos in pickletools.genops(data):
        if op.name in ("BINBYTES", "BINBYTES8", "BYTEARRAY8") and len(arg) == nbytes:
            return pos + 1 + (4 if op.name == "BINBYTES" else 8)
    return -1


def emit(name, obj, protos, extra_bytes=0):
    for p in protos:
        data = pickle.dumps(obj, protocol=p)
        extra = "-"
        if extra_bytes and p >= 3:
            extra = str(data_offset(data, extra_bytes))
        print("%s/p%d\t%s\t%s\t%s" % (name, p, hx(data), canon(obj), extra))


ALL = range(0, 6)


def basic():
    ints = [0, 1, -1, 255, 256, 65535, 65536, -129, -256, 2**31 - 1, 2**31, -2**31, -2**31 - 1,
            2**63 - 1, 2**63, -2**63, -2**63 - 1, 2**64, 2**70, -2**70, 10**100, -(10**100), 127,
            -128, 2**127 + 12345]
    emit("ints", ints, ALL)
    emit("floats", [0.0, -0.0, 1.5, 1e-05, 1e300, 0.1, float("inf"), float("-inf"),
                    float("nan")], ALL)
    emit("bools", [True, False, None], ALL)
    emit("strs", ["abc", "", "a\\b\nc\xe9\u4e2d\r\x1a\x00", "\U0001f600", "a\\u0041",
                  "\\\\u0041", "tab\there", "'\"", "\x7f\x80\xff"], ALL)
    emit("surrogate", ["x\ud800y"], ALL)
    emit("bytes", [b"", b"ab\x00\xff", bytes(range(256))], ALL)
    emit("bytearray", bytearray(b"ab\x00"), ALL)
    emit("containers", [[], [1, [2, [3]]], (), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4), {},
                        {"a": 1, "b": []}, {1: "x", (1, 2): None}], ALL)
    emit("sets", [{1, 2}, frozenset({3, 4}), set(), frozenset()], ALL)
    x = []
    emit("shared_list", [x, x, (x,)], ALL)
    s = "shared"
    emit("shared_str", [s, s, (1, 2)], ALL)
    r = []
    r.append(r)
    emit("recursive_list", r, ALL)
    d = {}
    d["self"] = d
    emit("recursive_dict", d, ALL)
    for n in range(1, 6):
        lst = []
        t = tuple([lst] + list(range(n - 1)))
        lst.append(t)
        emit("recursive_tuple%d" % n, t, ALL)
    emit("complex", [1 + 2j, -0.5j], ALL)
    emit("big_list", list(range(1005)), ALL)
    emit("big_dict", {str(i): i for i in range(1005)}, ALL)
    emit("big_set", set(range(1005)), ALL)
    emit("ordereddict", collections.OrderedDict([("b", 1), ("a", [2])]), ALL)
    emit("defaultdict", collections.defaultdict(list, {"k": [1]}), ALL)
    tz = datetime.timezone(datetime.timedelta(hours=5, minutes=30))
    emit("datetimes", [
        datetime.date(2024, 1, 2), datetime.datetime(2024, 1, 2, 3, 4, 5, 678901),
        datetime.datetime(2024, 1, 2, 3, 4, 5), datetime.datetime(1, 1, 1),
        datetime.datetime(2024, 1, 2, tzinfo=datetime.timezone.utc),
        datetime.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=tz),
        datetime.datetime(2024, 11, 3, 1, 30, fold=1),
        datetime.time(3, 4, 5, 6), datetime.time(23, 59, fold=1), datetime.time(1, 2, tzinfo=tz),
        datetime.timedelta(1, 2, 3), datetime.timedelta(-1, 5, 3), datetime.timedelta(0),
        datetime.timedelta(days=-3), datetime.timedelta(microseconds=-1),
        datetime.timezone.utc, datetime.timezone(datetime.timedelta(hours=-5, minutes=-30)),
        datetime.timezone(datetime.timedelta(hours=1), "CET"),
        datetime.timezone(datetime.timedelta(hours=-5, seconds=3, microseconds=7)),
        datetime.datetime(2020, 1, 2, tzinfo=datetime.timezone(
            datetime.timedelta(hours=-5, seconds=3))),
    ], ALL)
    emit("decimal", [decimal.Decimal("1.25"), decimal.Decimal("-0E+3"),
                     decimal.Decimal("NaN")], ALL)
    emit("large_bytes", ["x", b"A" * 70000, "y"], ALL)
    emit("large_str", "\xe9" * 40000, ALL)
    emit("globals", [len, collections.OrderedDict, int, range(0, 10, 3), slice(1, None, 2)], ALL)


class Plain:
    pass


def sklearn():
    from sklearn.tree import DecisionTreeClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 0.5]])
    y = np.array([0, 1, 0, 1])
    tree = DecisionTreeClassifier(random_state=0).fit(X, y)
    emit("tree", tree, ALL)
    pipe = Pipeline([("s", StandardScaler()), ("lr", LogisticRegression())]).fit(X, y)
    emit("pipeline", pipe, ALL)


def numpy_cases():
    a = np.arange(6, dtype="<i8").reshape(2, 3)
    emit("f8", np.array([1.0, 2.0]), ALL)
    emit("i8_2d", a, ALL)
    emit("fortran", np.asfortranarray(a.astype("<i2")), ALL)
    emit("transposed", a.T, ALL)
    emit("noncontig", a[:, ::2], ALL)
    emit("bigendian", np.array([1, 2, 3], dtype=">i4"), ALL)
    emit("bool", np.array([True, False]), ALL)
    emit("complex", np.array([1 + 2j], dtype="<c16"), ALL)
    emit("unicode", np.array(["ab", "cde"], dtype="<U5"), ALL)
    emit("bytes_S", np.array([b"ab", b"c"], dtype="S3"), ALL)
    emit("datetime64", np.array(["2020-01-01T00:00:00.5"], dtype="M8[ns]"), ALL)
    emit("timedelta64", np.array([5], dtype="m8[s]"), ALL)
    emit("datetime_multi", np.array([1], dtype="M8[10us]"), ALL)
    node = np.dtype([("left_child", "<i8"), ("right_child", "<i8"), ("feature", "<i8"),
                     ("threshold", "<f8"), ("impurity", "<f8"), ("n_node_samples", "<i8"),
                     ("weighted_n_node_samples", "<f8")])
    emit("tree_nodes", np.zeros(3, dtype=node), ALL)
    aligned = np.dtype({"names": ["a", "b"], "formats": ["i1", ">f8"], "titles": ["T", None]},
                       align=True)
    emit("aligned_struct", np.zeros(2, dtype=aligned), ALL)
    emit("subarray", np.zeros(2, dtype=[("v", "<f8", (2, 3)), ("w", "u1")]), ALL)
    emit("padded", np.zeros(1, dtype={"names": ["x"], "formats": ["<i4"], "offsets": [4],
                                       "itemsize": 12}), ALL)
    emit("object", np.array([1, "a", None], dtype=object), ALL)
    emit("object_2d", np.array([[1, [2]], ["x", None]], dtype=object), ALL)
    emit("zero_d", np.array(3.5), ALL)
    emit("empty", np.zeros((0, 3)), ALL)
    emit("matrix", np.matrix([[1, 2], [3, 4]]), ALL)
    emit("big", np.arange(10000, dtype="<f8"), ALL, extra_bytes=80000)
    emit("big_fortran", np.asfortranarray(np.arange(20000, dtype="<f8").reshape(100, 200)), ALL,
         extra_bytes=160000)
    emit("scalars", [np.float64(1.5), np.int64(7), np.bool_(True), np.str_("ab"),
                     np.datetime64("2020-01-01"), np.float32(-0.25), np.uint8(200),
                     np.complex128(1 - 1j)], ALL)
    emit("dtypes", [np.dtype("f8"), np.dtype(">i4"), np.dtype("U7"), np.dtype("M8[ms]"),
                    np.dtype("O"), node, aligned], ALL)
    emit("shared_dtype", [np.zeros(2), np.ones(3)], ALL)
    emit("random_state", np.random.RandomState(0), [2, 4])
    emit("in_dict", {"w": np.ones((2, 2), dtype="<f4"), "n": np.int32(5)}, ALL)


class KOrder:
    """What numpy >= 2.3 writes for an array C-contiguous after an axis permutation."""

    def __init__(self, base, axes):
        self.base, self.axes = base, axes

    def __reduce__(self):
        return (np.core.numeric._frombuffer,
                (bytearray(self.base.tobytes()), self.base.dtype, self.base.shape, "K", self.axes))


def numpy2_rename(data):
    """numpy 2 module names: numpy._core.* (the FRAME hint length is left as is)."""
    for old, new in ((b"numpy.core.multiarray", b"numpy._core.multiarray"),
                     (b"numpy.core.numeric", b"numpy._core.numeric")):
        data = data.replace(bytes([0x8c, len(old)]) + old, bytes([0x8c, len(new)]) + new)
        data = data.replace(b"c" + old + b"\n", b"c" + new + b"\n")
    return data


def numpy2_cases():
    b = np.arange(24, dtype="<i4").reshape(2, 3, 4)
    for axes in ((1, 0, 2), (2, 1, 0), (0, 1, 2), (2, 0, 1)):
        data = pickle.dumps(KOrder(b, axes), protocol=5)
        print("korder%s\t%s\t%s\t-" % ("".join(map(str, axes)), hx(data),
                                        canon(b.transpose(axes))))
    objs = {"f8": np.array([1.0, 2.0]), "fortran": np.asfortranarray(np.ones((2, 3))),
            "scalars": [np.float64(2.5), np.int32(-3)], "object": np.array([1, None], dtype=object)}
    for name, obj in objs.items():
        for p in (0, 2, 4, 5):
            data = numpy2_rename(pickle.dumps(obj, protocol=p))
            assert b"numpy.core" not in data, (name, p)
            print("np2_%s/p%d\t%s\t%s\t-" % (name, p, hx(data), canon(obj)))


if __name__ == "__main__":
    {"basic": basic, "numpy": numpy_cases, "sklearn": sklearn, "numpy2": numpy2_cases}[sys.argv[1]]()
