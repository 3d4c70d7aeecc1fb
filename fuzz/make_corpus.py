#!/usr/bin/python3
"""Seed corpora for the modelfs fuzz targets, from real fixtures.

usage: make_corpus.py OUTDIR

Writes OUTDIR/{pickle,render,joblib,skops}/ with small inputs: pickles of small
scikit-learn models at every protocol (written here with the real sklearn), the
small files of ../shared/fixtures and of tests/data (realworld pickles/joblib in any
compression, compat fixtures, skops archives incl. tests/data/skops/crafted), joblib
dumps decompressed, schema.json texts in the fuzz_skops split form, and every
crasher of tests/data/crashers/TARGET/.  Never runs anything from a fixture:
fixtures are read as bytes only.
"""
import hashlib
import io
import os
import sys
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, "..", "shared", "fixtures")
TESTDATA = os.path.join(ROOT, "tests", "data")
MAX_SEED = 256 * 1024
# fuzz_joblib mode bytes (see fuzz_joblib.c)
RAW, ZLIB, LZ4 = 0, 1, 6


def put(outdir, target, data):
    if len(data) > MAX_SEED:
        return
    d = os.path.join(outdir, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
        f.write(data)


def generated_models():
    """Small fitted estimators; pickles of them at every protocol, and joblib dumps."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier
    from sklearn.preprocessing import StandardScaler
    from sklearn.pipeline import make_pipeline
    X = np.arange(40, dtype=float).reshape(10, 4)
    y = np.array([0, 1] * 5)
    models = [LogisticRegression().fit(X, y), DecisionTreeClassifier(max_depth=2).fit(X, y),
              make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y),
              {"a": [1, 2.5, None, "s", b"b"], "arr": np.arange(6).reshape(2, 3),
               "obj": np.array(["x", 1], dtype=object), "rec": np.zeros(2, dtype=[("a", "<f8"), ("b", "u1")])}]
    return models


def main():
    out = sys.argv[1]
    import pickle
    import joblib
    for obj in generated_models():
        for proto in range(0, 6):
            p = pickle.dumps(obj, protocol=proto)
            put(out, "pickle", p)
            put(out, "render", p)
        bio = io.BytesIO()
        joblib.dump(obj, bio)
        raw = bio.getvalue()
        put(out, "joblib", bytes([RAW]) + raw)
        put(out, "joblib", bytes([ZLIB]) + raw)
        put(out, "joblib", bytes([LZ4]) + raw)
        put(out, "pickle", raw)
    # a gadget, so the verdict paths are covered
    put(out, "pickle", b"\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03.")
    for rw in (os.path.join(SHARED, "realworld", "files"), os.path.join(TESTDATA, "realworld"),
               os.path.join(TESTDATA, "compat")):
        realworld(out, rw)
    for sk in (os.path.join(SHARED, "skops"), os.path.join(TESTDATA, "skops")):
        skops(out, sk)
    torch_seeds(out)
    crashers = os.path.join(ROOT, "tests", "data", "crashers")
    for target in ("pickle", "render", "joblib", "skops"):
        d = os.path.join(crashers, target)
        if os.path.isdir(d):
            for name in sorted(os.listdir(d)):
                with open(os.path.join(d, name), "rb") as f:
                    put(out, target, f.read())


def torch_seeds(out):
    """PyTorch checkpoints (zip and legacy) and safetensors files, for the render target
    (it decodes whatever format the bytes are)."""
    d = os.path.join(TESTDATA, "torch")
    for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        with open(os.path.join(d, name), "rb") as f:
            put(out, "render", f.read(MAX_SEED + 1))
    import collections
    import torch
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    import safetensors_write
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    sd = collections.OrderedDict([("w", base), ("wt", base.t()), ("tied", base),
                                  ("bf", base.to(torch.bfloat16)), ("i", torch.arange(3))])
    for legacy in (False, True):
        bio = io.BytesIO()
        torch.save({"model": sd, "epoch": 1}, bio, _use_new_zipfile_serialization=not legacy)
        put(out, "render", bio.getvalue())
    path = os.path.join(out, "seed.safetensors")
    safetensors_write.write(path, collections.OrderedDict((k, v.contiguous()) for k, v in sd.items()
                                                          if k != "tied"), {"format": "pt"})
    with open(path, "rb") as f:
        put(out, "render", f.read())
    os.unlink(path)


def realworld(out, rw):
    """Pickles, joblib dumps (any compressor) and zips: each to the targets that take it."""
    if not os.path.isdir(rw):
        return
    for name in sorted(os.listdir(rw)):
        if name.endswith((".npy", ".tsv", ".md")):
            continue
        with open(os.path.join(rw, name), "rb") as f:
            data = f.read(MAX_SEED + 1)
        if data[:2] == b"PK":
            put(out, "skops", b"\x00" + data)
        elif data[:1] == b"\x80" or data[:1] in b"(]}c":
            put(out, "pickle", data)
            put(out, "render", data)
            put(out, "joblib", bytes([RAW]) + data)
        else:
            put(out, "joblib", bytes([RAW]) + data)


def skops(out, sk):
    """Skops archives whole and split (schema.json NUL first .npy), and their pickles."""
    for base, _, files in os.walk(sk) if os.path.isdir(sk) else []:
        for name in sorted(files):
            path = os.path.join(base, name)
            with open(path, "rb") as f:
                data = f.read(MAX_SEED + 1)
            if name.endswith(".skops"):
                put(out, "skops", b"\x00" + data)
                try:
                    with zipfile.ZipFile(io.BytesIO(data)) as z:
                        schema = z.read("schema.json")
                        npys = [n for n in z.namelist() if n.endswith(".npy")]
                        npy = z.read(npys[0]) if npys else b""
                    put(out, "skops", b"\x01" + schema + b"\x00" + npy)
                except Exception:
                    pass
            elif name.endswith(".pkl"):
                put(out, "pickle", data)
                put(out, "render", data)


if __name__ == "__main__":
    main()
