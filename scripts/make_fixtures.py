#!/usr/bin/python3
"""make_fixtures.py OUT -- write deterministic scikit-learn model pickles for the tests.

Run with the system python (the one that has scikit-learn 1.2).  Every object is
fitted with fixed seeds on small data, then pickled at protocols 0, 2, 4 and 5 as
OUT/NAME.pK.pkl.  "numpy-2 style" variants (NAME_np2.pK.pkl) are the same streams
with numpy.core.* globals renamed numpy._core.*, as numpy >= 2 writes them; Python
here cannot load those, so the manifest names the original each one mirrors.

OUT/manifest.json: {"files": [{"file", "name", "protocol", "reference", "variant"}]}
where "reference" is the file whose pickle.load gives the expected tree.

This script must never write anything outside OUT, and must stay fast (< ~60 s).
"""
import collections
import datetime
import io
import json
import math
import os
import pickle
import pickletools
import sys
import warnings

import numpy as np

PROTOCOLS = (0, 2, 4, 5)


# ---- data ---------------------------------------------------------------------------

def classification(n=60, features=4, classes=3, seed=0):
    from sklearn.datasets import make_classification
    return make_classification(n_samples=n, n_features=features, n_informative=3,
                               n_redundant=0, n_classes=classes, random_state=seed)


def regression(n=50, features=3, seed=0):
    from sklearn.datasets import make_regression
    return make_regression(n_samples=n, n_features=features, noise=0.5, random_state=seed)


# ---- models -------------------------------------------------------------------------

def m_logreg():
    from sklearn.linear_model import LogisticRegression
    X, y = classification()
    return LogisticRegression(max_iter=200).fit(X, y)


def m_pipeline_df():
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    X, y = classification()
    df = pd.DataFrame(X, columns=["sepal_len", "sepal_wid", "petal_len", "petal_wid"])
    return Pipeline([("scale", StandardScaler()),
                     ("clf", LogisticRegression(max_iter=200))]).fit(df, y)


def m_forest():
    from sklearn.ensemble import RandomForestClassifier
    X, y = classification()
    return RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(X, y)


def m_hgb():
    from sklearn.ensemble import HistGradientBoostingClassifier
    X, y = classification(classes=2)
    return HistGradientBoostingClassifier(max_iter=3, max_leaf_nodes=4,
                                          random_state=0).fit(X, y)


def m_gbr():
    from sklearn.ensemble import GradientBoostingRegressor
    X, y = regression()
    return GradientBoostingRegressor(n_estimators=3, max_depth=2, subsample=0.8,
                                     random_state=0).fit(X, y)


def m_svc():
    from sklearn.svm import SVC
    X, y = classification()
    return SVC(probability=True, random_state=0).fit(X, y)


def m_kmeans():
    from sklearn.cluster import KMeans
    X, _ = classification()
    return KMeans(n_clusters=3, n_init=2, random_state=0).fit(X)


def m_text_nb():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.naive_bayes import MultinomialNB
    from sklearn.pipeline import Pipeline
    docs = ["the cat sat on the mat", "the dog ate my homework", "a cat and a dog",
            "birds fly over the mat", "my dog likes the cat", "homework is due today",
            "the bird sat on a dog", "cats and dogs and birds"]
    y = [0, 1, 0, 1, 0, 1, 1, 0]
    vec = TfidfVectorizer(stop_words=["on", "is", "over"], max_df=0.5, min_df=1)
    return Pipeline([("tfidf", vec), ("nb", MultinomialNB())]).fit(docs, y)


def m_mlp():
    from sklearn.neural_network import MLPClassifier
    X, y = classification()
    return MLPClassifier(hidden_layer_sizes=(5,), max_iter=15, random_state=0).fit(X, y)


def m_pca():
    from sklearn.decomposition import PCA
    X, _ = classification()
    return PCA(n_components=2, random_state=0).fit(X)


def m_coltrans_ridge():
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder
    df = pd.DataFrame({"color": ["red", "green", "blue", "green", "red", "blue"],
                       "x": [1.0, np.nan, 3.0, 4.0, 5.0, 6.0],
                       "y": [0.5, 1.5, np.nan, 2.5, 3.5, 4.5]})
    target = [1.0, 2.0, 3.0, 4.0, 5.0, 6.5]
    ct = ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), ["color"]),
                            ("num", SimpleImputer(), ["x", "y"])])
    return Pipeline([("prep", ct), ("ridge", Ridge(alpha=0.5))]).fit(df, target)


def m_gridsearch():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    X, y = classification()
    return GridSearchCV(LogisticRegression(max_iter=200), {"C": [0.1, 1.0]}, cv=2).fit(X, y)


def m_package():
    """A dict "model package" as people save them: model plus facts about it."""
    weird = {"a/b": 1, "%": 2, "": 3, ".": 4, "..": 5, 7: 6, (1, 2): 7, "nul\0x": 8,
             1: "one", "1": "string one", "arr": np.arange(3)}
    return {
        "model": m_logreg(),
        "trained_at": datetime.datetime(2026, 11, 22, 10, 30, 0),
        "trained_on": datetime.date(2026, 11, 21),
        "took": datetime.timedelta(seconds=93, microseconds=500),
        "tags": {"prod", "v2", "iris"},
        "frozen": frozenset({3, 1, 2}),
        "features": ["sepal_len", "sepal_wid", "petal_len", "petal_wid"],
        "scores": {"acc": 0.9333333333333333, "f1": 0.9, "nan": float("nan"),
                   "inf": float("inf")},
        "meta.json": "a key colliding with a reserved name",
        "weird_keys": weird,
        "ordered": collections.OrderedDict([("b", 2), ("a", [1, np.zeros(2)])]),
        "scalars": {"none": None, "true": True, "int": 42, "big": 2 ** 100, "neg": -7,
                    "float": 0.0001, "small": 1e-05, "negzero": -0.0, "complex": 1 + 2j,
                    "str": "lbfgs", "unicode": "caf\u00e9 \u4e2d", "bytes": b"\x00\xffab",
                    "bytearray": bytearray(b"xyz"), "np_f64": np.float64(0.5),
                    "np_f32": np.float32(0.25), "np_i64": np.int64(-3),
                    "np_bool": np.bool_(True), "type": np.float64, "func": math.sqrt,
                    "dtype": np.dtype([("a", "<f8"), ("b", "<i4")]), "dtype2": np.dtype("<U5")},
        "tuple": (1, "two", 3.0),
        "mixed_list": [1, "a", np.arange(2.0), {"k": "v"}],
        "empty": {"list": [], "dict": {}, "tuple": (), "set": set()},
    }


def m_arrays():
    """One array of every dtype family numpy.save can write."""
    rec = np.dtype([("id", "<i4"), ("score", "<f8"), ("flag", "u1")])
    f64 = [0.5, -0.0, float("nan"), float("inf"), -float("inf"), 5e-324, 1e-05, 0.1, 1e300,
           2.2250738585072014e-308, 123456789.125]
    return {
        "f64": np.array(f64),
        "f32": np.array([0.1, -2.5, 1e-45, 3.4e38, float("nan")], dtype=np.float32),
        "f16": np.array([0.1, 6e-08, 65504.0, -1.5, float("inf")], dtype=np.float16),
        "i8": np.array([-128, 0, 127], dtype=np.int8),
        "i16": np.array([-32768, 32767], dtype=np.int16),
        "i32": np.array([-2 ** 31, 2 ** 31 - 1], dtype=np.int32),
        "i64": np.array([-2 ** 63, 0, 2 ** 63 - 1], dtype=np.int64),
        "u8": np.array([0, 255], dtype=np.uint8),
        "u16": np.array([0, 65535], dtype=np.uint16),
        "u32": np.array([0, 2 ** 32 - 1], dtype=np.uint32),
        "u64": np.array([0, 2 ** 64 - 1], dtype=np.uint64),
        "bool": np.array([True, False, True]),
        "c64": np.array([1 + 2j, -3.5 - 0.25j], dtype=np.complex64),
        "c128": np.array([1 + 2j, -3.5 - 0.25j, 0j, 1e-300 + 1e300j]),
        "f_order": np.asfortranarray(np.arange(12, dtype=np.float64).reshape(3, 4)),
        "f_order_i": np.asfortranarray(np.arange(6, dtype=np.int16).reshape(2, 3)),
        "big_i4": np.arange(5, dtype=">i4"),
        "big_f8": np.array([1.5, -2.25, float("nan")], dtype=">f8"),
        "zero_d": np.array(3.25),
        "empty": np.zeros((0,), dtype=np.float64),
        "empty2d": np.zeros((0, 3), dtype=np.int64),
        "u_str": np.array(["apple", "kiwi", "b c", "\u00e9t\u00e9"]),
        "s_str": np.array([b"ab", b"xyz", b""]),
        "records": np.array([(1, 0.5, 1), (2, -1.25, 0), (3, 1e-300, 255)], dtype=rec),
        "dt64": np.array(["2020-01-01", "2021-06-15"], dtype="M8[D]"),
        "td64": np.array([1, 60, -5], dtype="m8[s]"),
        "cube": np.arange(24, dtype=np.int32).reshape(2, 3, 4),
        "matrix2d": np.array([[1.5, 2.0], [-0.0, 1e-05]]),
        "obj": np.array(["a", 1, None, 2.5], dtype=object),
        "obj2d": np.array([["a", "b"], ["c", "d"]], dtype=object),
    }


def m_numpy_containers():
    """Containers of numpy scalars as real libraries leave them: lightgbm's
    _class_map (a plain dict of numpy ints), lists of numpy.float64 scores, a
    vocabulary str -> numpy.int64, numpy str/bool/float32 elements."""
    classes = np.array([3, 7, 11])
    return {
        "_class_map": {c: i for i, c in enumerate(classes)},
        "_classes": classes,
        "scores": [np.float64(x) for x in (0.5, 0.25, float("nan"), 1e-05)],
        "vocab": {w: np.int64(i) for i, w in enumerate(["zebra", "apple", "caf\u00e9"])},
        "labels": [np.str_("yes"), np.str_("no")],
        "flags": (np.bool_(True), np.bool_(False)),
        "f32": [np.float32(0.1), np.float32(2.5)],
        "u8_set": {np.uint8(2), np.uint8(1)},
        "np_str_keys": {np.str_("a"): 1, np.str_("b/c"): 2},
        "complex_stays_a_dir": [np.complex128(1 + 2j)],
    }


def m_sparse():
    """Every scipy sparse format, several dtypes, a symmetric and an empty matrix."""
    import scipy.sparse as sp
    a = np.array([[1.5, 0, 0, 2], [0, 0, 3.25, 0], [0.1, 0, 0, 1e-300], [0, -4, 0, float("nan")]])
    out = {fmt: sp.csr_matrix(a).asformat(fmt) for fmt in ("csr", "csc", "coo", "bsr", "dia", "lil", "dok")}
    out["bsr_blocks"] = sp.bsr_matrix(np.kron(np.eye(2), [[1, 2], [0, 3]]).astype(np.int32), blocksize=(2, 2))
    out["csr_f32"] = sp.csr_matrix(a.astype(np.float32))
    out["coo_u8"] = sp.coo_matrix(np.array([[0, 7], [255, 0]], dtype=np.uint8))
    out["csc_c128"] = sp.csc_matrix(np.array([[1 + 2j, 0], [0, -1j]]))
    out["symmetric"] = sp.csr_matrix(np.array([[2.0, 1.0], [1.0, 3.0]]))
    out["empty"] = sp.csr_matrix((3, 5), dtype=np.float64)
    out["dia_offsets"] = sp.dia_matrix((np.arange(1, 9, dtype=np.int64).reshape(2, 4), [0, -1]), shape=(4, 4))
    out["bool"] = sp.csr_matrix(np.eye(2, dtype=bool))
    out["csr_array"] = sp.csr_array(a)
    return out


def m_bare_array():
    return np.arange(12.0).reshape(3, 4)


def m_shared_array():
    a = np.linspace(0.0, 1.0, 5)
    return {"first": a, "nested": {"second": a, "note": "same array"}, "list": [a, 1]}


def m_cycle():
    loop = ["head", 1]
    loop.append(loop)
    node = {"name": "node"}
    node["self"] = node
    return {"loop": loop, "node": node}


MODELS = {
    "logreg": m_logreg, "pipeline_df": m_pipeline_df, "forest": m_forest, "hgb": m_hgb,
    "gbr": m_gbr, "svc": m_svc, "kmeans": m_kmeans, "text_nb": m_text_nb, "mlp": m_mlp,
    "pca": m_pca, "coltrans_ridge": m_coltrans_ridge, "gridsearch": m_gridsearch,
    "package": m_package, "arrays": m_arrays, "numpy_containers": m_numpy_containers,
    "sparse": m_sparse, "bare_array": m_bare_array,
    "shared_array": m_shared_array, "cycle": m_cycle,
}

# Models also written with numpy-2 module names, at these protocols.
NUMPY2 = {"logreg": (2, 4, 5), "arrays": (2, 4, 5), "forest": (2, 5)}


# ---- numpy-2 names ------------------------------------------------------------------

def numpy2_name(module):
    if module == "numpy.core" or module.startswith("numpy.core."):
        return "numpy._core" + module[len("numpy.core"):]
    return module


def str_op(value):
    """The shortest protocol-4 opcode pushing str value."""
    raw = value.encode("utf-8", "surrogatepass")
    if len(raw) < 256:
        return b"\x8c" + bytes([len(raw)]) + raw
    return b"X" + len(raw).to_bytes(4, "little") + raw


def numpy2_stream(data):
    """Re-emit a pickle with numpy.core.* globals renamed numpy._core.*.

    GLOBAL lines are rewritten in place; at protocol >= 4 the module strings that
    STACK_GLOBAL consumes are re-encoded, and FRAME opcodes are dropped because the
    frame lengths no longer hold (frames are optional)."""
    ops = list(pickletools.genops(data))
    out = io.BytesIO()
    for i, (op, arg, pos) in enumerate(ops):
        end = ops[i + 1][2] if i + 1 < len(ops) else len(data)
        raw = data[pos:end]
        if op.name == "FRAME":
            continue
        if op.name == "GLOBAL":
            module, name = arg.split(" ", 1)
            raw = b"c" + numpy2_name(module).encode() + b"\n" + name.encode() + b"\n"
        elif op.name in ("SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8") and \
                numpy2_name(arg) != arg:
            raw = str_op(numpy2_name(arg))
        out.write(raw)
    return out.getvalue()


# ---- main ---------------------------------------------------------------------------

def write(out, fname, data):
    with open(os.path.join(out, fname), "wb") as f:
        f.write(data)


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: make_fixtures.py OUT\n")
        return 2
    out = argv[1]
    os.makedirs(out, exist_ok=True)
    warnings.simplefilter("ignore")          # ConvergenceWarning on tiny fits
    files = []
    for name, make in MODELS.items():
        obj = make()
        for proto in PROTOCOLS:
            fname = "%s.p%d.pkl" % (name, proto)
            data = pickle.dumps(obj, protocol=proto)
            write(out, fname, data)
            files.append({"file": fname, "name": name, "protocol": proto,
                          "reference": fname, "variant": None})
            if proto in NUMPY2.get(name, ()):
                v = "%s_np2.p%d.pkl" % (name, proto)
                write(out, v, numpy2_stream(data))
                files.append({"file": v, "name": name + "_np2", "protocol": proto,
                              "reference": fname, "variant": "numpy2"})
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump({"files": files, "protocols": list(PROTOCOLS)}, f, indent=2, sort_keys=True)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
