#!/usr/bin/python3
"""make_joblib_fixtures.py OUT -- files written by the real joblib, and the truth for them.

Run with the system python (joblib 1.2.0, numpy 1.24, scikit-learn 1.2).  Writes
OUT/NAME.joblib for every compressor and level joblib.dump accepts, protocols 2 and
5, and two fitted scikit-learn models, then OUT/manifest.json:

  {"files": [{"file": NAME.joblib, "compress": repr, "compression": meta name,
              "arrays": {ENTRY.npy: TRUTH.npy, ...},   # numpy.save of joblib.load's array
              "json": {ENTRY.json: value, ...},          # object arrays rendered as JSON
              "globals": [...]}]}                        # names types.txt must hold

TRUTH.npy is what numpy.save writes for the array joblib.load returns.  joblib.load
byteswaps non-native arrays to native order; modelfs serves them as stored, so for
those the test compares values and dtype kind/size (manifest key "swapped").

This script must never write outside OUT and must stay fast (a few seconds).
"""
import json
import os
import sys
import warnings

import joblib
import numpy as np

COMPRESS = [
    ("c0", 0, "none"), ("z1", 1, "zlib"), ("z3", 3, "zlib"), ("z9", 9, "zlib"),
    ("gzip3", ("gzip", 3), "gzip"), ("bz23", ("bz2", 3), "bz2"), ("xz3", ("xz", 3), "xz"),
    ("lzma3", ("lzma", 3), "lzma"), ("lz43", ("lz4", 3), "lz4"),
]


def arrays():
    """Every array layout joblib writes differently, in one dict (order kept)."""
    return {
        "f8": np.arange(12.0).reshape(3, 4) * 1.5,
        "fortran_i2": np.asfortranarray(np.arange(6, dtype=np.int16).reshape(2, 3)),
        "fortran_f4": np.asfortranarray(np.linspace(0, 1, 24, dtype=np.float32).reshape(2, 3, 4)),
        "big_f8": (np.arange(5) / 3).astype(">f8"),
        "big_i4": (np.arange(7) - 3).astype(">i4"),
        "zero_d": np.array(2.5),
        "empty": np.zeros((0, 3)),
        "u5": np.array(["ab", "cdefg", ""], dtype="<U5"),
        "bools": np.array([True, False, True]),
        "c16": np.array([1 + 2j, -0.5j]),
        "rec": np.array([(1, 2.0), (3, 4.5)], dtype=[("a", "<i8"), ("b", "<f4")]),
        "obj": np.array(["x", 1, None], dtype=object),
        "after_obj": np.arange(4, dtype=np.uint8),
        "matrix": np.matrix([[1.0, 2.0], [3.0, 4.0]]),
        "big": np.arange(300000, dtype=np.float64),   # > 1 MiB: restart points in use
        "tail": np.arange(3, dtype=np.int64),
    }


def save_truth(out, name, arr):
    path = os.path.join(out, "truth", name)
    np.save(path, np.asarray(arr), allow_pickle=False)
    return os.path.join("truth", name + ".npy")


def array_entries(out, stem, loaded, keys):
    """Truth .npy for each non-object array of a loaded dict, by entry name."""
    res, swapped = {}, []
    for k in keys:
        a = loaded[k]
        if a.dtype.hasobject:
            continue
        res[k + ".npy"] = save_truth(out, "%s__%s" % (stem, k), a)
        if k.startswith("big_"):
            swapped.append(k + ".npy")
    return res, swapped


def dump_arrays(out, files):
    data = arrays()
    variants = [(tag, comp, kind, None) for tag, comp, kind in COMPRESS]
    variants += [("p2", 0, "none", 2), ("p5", 0, "none", 5), ("z3p2", 3, "zlib", 2)]
    for tag, comp, kind, proto in variants:
        name = "arrays.%s.joblib" % tag
        path = os.path.join(out, name)
        if proto is None:
            joblib.dump(data, path, compress=comp)
        else:
            joblib.dump(data, path, compress=comp, protocol=proto)
        loaded = joblib.load(path)
        entries, swapped = array_entries(out, "arrays.%s" % tag, loaded, data.keys())
        files.append({
            "file": name, "compress": repr(comp), "compression": kind,
            "protocol": proto, "arrays": entries, "swapped": swapped,
            "json": {"obj.json": ["x", 1, None]},
            "globals": ["joblib.numpy_pickle.NumpyArrayWrapper", "numpy.ndarray",
                        "%s.matrix" % np.matrix.__module__],
        })


def fitted_forest():
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier
    X, y = make_classification(n_samples=80, n_features=5, random_state=0)
    return RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(X, y)


def fitted_pipeline():
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    df = pd.DataFrame({"color": ["red", "green", "blue", "red", "green", "blue"] * 5,
                       "x": np.linspace(0, 1, 30)})
    y = np.array([0, 1] * 15)
    pre = ColumnTransformer([("cat", OneHotEncoder(), ["color"]), ("num", StandardScaler(), ["x"])])
    return Pipeline([("pre", pre), ("clf", LogisticRegression())]).fit(df, y)


def dump_models(out, files):
    rf = fitted_forest()
    pipe = fitted_pipeline()
    for tag, comp, kind in (("c0", 0, "none"), ("z3", 3, "zlib"), ("lz43", ("lz4", 3), "lz4")):
        name = "forest.%s.joblib" % tag
        path = os.path.join(out, name)
        joblib.dump(rf, path, compress=comp)
        m = joblib.load(path)
        t0 = m.estimators_[0].tree_.__getstate__()
        t2 = m.estimators_[2].tree_.__getstate__()
        stem = "forest.%s" % tag
        files.append({
            "file": name, "compress": repr(comp), "compression": kind, "protocol": None,
            "arrays": {
                "classes_.npy": save_truth(out, stem + "__classes", m.classes_),
                "estimators_/0/tree_/nodes.npy": save_truth(out, stem + "__t0nodes", t0["nodes"]),
                "estimators_/2/tree_/values.npy": save_truth(out, stem + "__t2values", t2["values"]),
            },
            "swapped": [], "json": {},
            "globals": ["joblib.numpy_pickle.NumpyArrayWrapper",
                        "sklearn.ensemble._forest.RandomForestClassifier",
                        "sklearn.tree._classes.DecisionTreeClassifier", "sklearn.tree._tree.Tree"],
        })
        name = "pipeline.%s.joblib" % tag
        path = os.path.join(out, name)
        joblib.dump(pipe, path, compress=comp)
        p = joblib.load(path)
        stem = "pipeline.%s" % tag
        files.append({
            "file": name, "compress": repr(comp), "compression": kind, "protocol": None,
            "arrays": {
                # steps by name (SPEC 3.2): steps/NAME/1 is the step's estimator
                "steps/%s/1/coef_.npy" % p.steps[1][0]:
                    save_truth(out, stem + "__coef", p.steps[1][1].coef_),
                "steps/%s/1/transformers_/%s/1/mean_.npy" % (p.steps[0][0], p.steps[0][1].transformers_[1][0]):
                    save_truth(out, stem + "__mean", p.steps[0][1].transformers_[1][1].mean_),
            },
            "swapped": [],
            "json": {"steps/%s/1/feature_names_in_.json" % p.steps[0][0]:
                     list(p.steps[0][1].feature_names_in_)},
            "globals": ["joblib.numpy_pickle.NumpyArrayWrapper", "sklearn.pipeline.Pipeline",
                        "sklearn.compose._column_transformer.ColumnTransformer",
                        "sklearn.preprocessing._encoders.OneHotEncoder"],
        })


def main():
    out = sys.argv[1]
    os.makedirs(os.path.join(out, "truth"), exist_ok=True)
    warnings.simplefilter("ignore")
    files = []
    dump_arrays(out, files)
    dump_models(out, files)
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump({"files": files}, f, indent=1)


if __name__ == "__main__":
    main()
