#!/usr/bin/python3
"""make_compressed_fixtures.py OUT -- one fitted forest dumped by joblib with every
compressor at low and high levels, and what Python holds for each file.

Run with the system python (joblib 1.2, scikit-learn 1.2).  Two forests: "small"
decompresses to between 32 KiB and 4 MiB (source_decompress.c inflates such a zlib or
gzip stream whole with libdeflate), "big" to more than 4 MiB (zlib streams it).  For
each OUT/NAME.joblib, joblib.load(NAME) gives the truth: OUT/truth/NAME/... holds
numpy.save of every array the loaded forest holds, under the entry name the tree
gives it (classes_.npy, estimators_/I/classes_.npy, estimators_/I/tree_/nodes.npy,
values.npy, and __args__/1.npy: the n_classes array Tree's reduce passes).  Then
OUT/manifest.json: {"files": [{"file", "forest", "compression", "plain"}], "broken":
[...]}, where "plain" is the uncompressed dump of the same forest.

"broken": each small compressed file cut short or with bytes flipped, as
OUT/broken/NAME.HOW.joblib, with what joblib.load makes of it: {"file", "of",
"compression", "python": "ok" or the exception}; when "ok", its arrays are truth
too (a codec without a checksum, lz4 as joblib writes it, can load flipped bytes).

This script must never write outside OUT.
"""
import json
import os
import sys
import warnings

import joblib
import numpy as np

COMPRESS = [
    ("c0", 0, "none"),
    ("zlib1", ("zlib", 1), "zlib"), ("zlib9", ("zlib", 9), "zlib"),
    ("gzip1", ("gzip", 1), "gzip"), ("gzip9", ("gzip", 9), "gzip"),
    ("bz21", ("bz2", 1), "bz2"), ("bz29", ("bz2", 9), "bz2"),
    ("lzma1", ("lzma", 1), "lzma"), ("lzma9", ("lzma", 9), "lzma"),
    ("xz1", ("xz", 1), "xz"), ("xz9", ("xz", 9), "xz"),
    ("lz41", ("lz4", 1), "lz4"), ("lz49", ("lz4", 9), "lz4"),
]
# The forest past the in-memory store: zlib's streaming path, for the two codecs
# whose short streams go to libdeflate.
BIG_COMPRESS = [c for c in COMPRESS if c[0] in ("c0", "zlib1", "gzip9")]


def forest(trees):
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier
    X, y = make_classification(n_samples=3000, n_features=10, n_informative=6,
                               n_classes=3, random_state=0)
    return RandomForestClassifier(n_estimators=trees, random_state=0).fit(X, y)


def truth_arrays(m):
    """Entry name -> array, for every array of a loaded forest."""
    res = {"classes_.npy": m.classes_}
    for i, est in enumerate(m.estimators_):
        state = est.tree_.__getstate__()
        res["estimators_/%d/classes_.npy" % i] = est.classes_
        res["estimators_/%d/tree_/nodes.npy" % i] = state["nodes"]
        res["estimators_/%d/tree_/values.npy" % i] = state["values"]
        res["estimators_/%d/tree_/__args__/1.npy" % i] = est.tree_.n_classes
    return res


def save_truth(out, name, model):
    for entry, arr in truth_arrays(model).items():
        t = os.path.join(out, "truth", name, entry)
        os.makedirs(os.path.dirname(t), exist_ok=True)
        np.save(t, np.asarray(arr), allow_pickle=False)


def broken_variants(data):
    """Cut and flipped copies of a compressed file: how -> bytes."""
    n = len(data)
    flip = lambda at, k: data[:at] + bytes(b ^ 0xA5 for b in data[at:at + k]) + data[at + k:]
    return {
        "cut-tenth": data[: n // 10], "cut-half": data[: n // 2],
        "cut-last-byte": data[:-1], "cut-last-8": data[:-8],
        "flip-middle": flip(n // 2, 64), "flip-three-quarters": flip(3 * n // 4, 1),
        "flip-last-4": flip(n - 4, 4),
    }


def dump_broken(out, files, broken):
    os.makedirs(os.path.join(out, "broken"), exist_ok=True)
    for f in files:
        if f["compression"] == "none" or f["forest"] != "small":
            continue
        with open(os.path.join(out, f["file"]), "rb") as fh:
            data = fh.read()
        for how, bad in broken_variants(data).items():
            name = os.path.join("broken", "%s.%s.joblib" % (f["file"], how))
            with open(os.path.join(out, name), "wb") as fh:
                fh.write(bad)
            try:
                m = joblib.load(os.path.join(out, name))
                truth_arrays(m)
                save_truth(out, name, m)
                python = "ok"
            except Exception as e:   # what the loader says is the truth here
                python = "%s: %s" % (type(e).__name__, e)
            broken.append({"file": name, "of": f["file"], "compression": f["compression"],
                           "python": python})


def dump(out, stem, model, variants, files):
    for tag, comp, kind in variants:
        name = "%s.%s.joblib" % (stem, tag)
        path = os.path.join(out, name)
        joblib.dump(model, path, compress=comp)
        save_truth(out, name, joblib.load(path))
        files.append({"file": name, "forest": stem, "compression": kind,
                      "plain": "%s.c0.joblib" % stem})


def main():
    out = sys.argv[1]
    warnings.simplefilter("ignore")
    files = []
    dump(out, "small", forest(8), COMPRESS, files)
    dump(out, "big", forest(100), BIG_COMPRESS, files)
    broken = []
    dump_broken(out, files, broken)
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump({"files": files, "broken": broken}, f, indent=1)


if __name__ == "__main__":
    main()
