#!/usr/bin/python3
"""bench-models.py DIR -- the model files scripts/bench measures, written once.

Everything is made with the system scikit-learn / joblib (/usr/bin/python3) and
is deterministic (fixed seeds).  DIR/.stamp records GENERATION: the files are
rewritten only when it changes, so repeated `make bench` runs skip the ~40 s of
fitting and compressing.

  forest/     100-tree RandomForestClassifier fitted on 20000x20:
              rf.joblib (uncompressed), rf.z.joblib (zlib, compress=3),
              rf.pkl (pickle protocol 5), rf.p2.pkl (pickle protocol 2)
  vocab.pkl   a CountVectorizer with a 300,000-word vocabulary_ (protocol 5):
              an opcode-dense stream of small strings and ints
  big/        a 128 MiB float64 array: a.none.joblib, a.zlib.joblib, a.lz4.joblib
  many/       10,000 small fitted models, m00000.joblib .. m09999.joblib
              (LogisticRegression and depth-3 DecisionTree, alternating)
"""
import os
import pickle
import sys

import joblib
import numpy as np

GENERATION = "3"
MIB = 1 << 20


def forest(d):
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier
    X, y = make_classification(n_samples=20000, n_features=20, random_state=0)
    rf = RandomForestClassifier(n_estimators=100, random_state=0, n_jobs=2).fit(X, y)
    os.makedirs(d, exist_ok=True)
    joblib.dump(rf, os.path.join(d, "rf.joblib"))
    joblib.dump(rf, os.path.join(d, "rf.z.joblib"), compress=3)
    for proto, name in ((5, "rf.pkl"), (2, "rf.p2.pkl")):
        with open(os.path.join(d, name), "wb") as f:
            pickle.dump(rf, f, protocol=proto)


def vocab(path):
    from sklearn.feature_extraction.text import CountVectorizer
    cv = CountVectorizer().fit(["alpha beta gamma"])
    rng = np.random.default_rng(1)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words = set()
    while len(words) < 300000:
        n = int(rng.integers(3, 12))
        words.add("".join(rng.choice(letters, n)))
    cv.vocabulary_ = {w: i for i, w in enumerate(sorted(words))}
    with open(path, "wb") as f:
        pickle.dump(cv, f, protocol=5)


def big(d):
    os.makedirs(d, exist_ok=True)
    arr = np.random.default_rng(0).standard_normal(128 * MIB // 8)
    arr[::3] = np.round(arr[::3], 2)          # some redundancy, like real weights
    for name, comp in (("none", 0), ("zlib", 3), ("lz4", ("lz4", 3))):
        joblib.dump(arr, os.path.join(d, "a.%s.joblib" % name), compress=comp)


def many(d, n=10000):
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier
    from sklearn.datasets import load_iris
    X, y = load_iris(return_X_y=True)
    lr = LogisticRegression(max_iter=500).fit(X, y)
    dt = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)
    os.makedirs(d, exist_ok=True)
    coef = lr.coef_.copy()
    for i in range(n):
        if i % 2 == 0:
            lr.coef_ = coef + i * 1e-6           # distinct files, same shape
            model = lr
        else:
            model = dt
        joblib.dump(model, os.path.join(d, "m%05d.joblib" % i))


def main():
    out = sys.argv[1]
    stamp = os.path.join(out, ".stamp")
    if os.path.exists(stamp) and open(stamp).read() == GENERATION:
        return
    os.makedirs(out, exist_ok=True)
    print("bench: writing models to %s (once)" % out, file=sys.stderr)
    forest(os.path.join(out, "forest"))
    vocab(os.path.join(out, "vocab.pkl"))
    big(os.path.join(out, "big"))
    many(os.path.join(out, "many"))
    with open(stamp, "w") as f:
        f.write(GENERATION)


if __name__ == "__main__":
    main()
