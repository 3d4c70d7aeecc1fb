"""Write the model files tests/test_compat.py checks `modelfs check` on.

Usage: make_compat_fixtures.py OUTDIR

Each file shows one compatibility rule with the real scikit-learn 1.2.1 /
numpy 1.24 / cloudpickle of this machine; where a rule concerns another version
(sklearn 1.3 tree nodes, numpy 2 module names) the 1.2.1 pickle is rewritten the
way that version writes it.  OUTDIR/expected.json records, per file, what Python
itself does when it loads the file here (the truth the test compares with).
"""
import copyreg
import io
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import sklearn
import sklearn.base
from sklearn.datasets import load_iris
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.tree import DecisionTreeClassifier
from sklearn.tree._tree import Tree


def iris_tree():
    X, y = load_iris(return_X_y=True)
    return DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, y)


def tree_13_style(clf):
    """Pickle clf as sklearn 1.3 writes it: nodes gain missing_go_to_left (itemsize 64)."""
    def reduce_tree(t):
        cls, args, state = t.__reduce__()
        old = state["nodes"]
        names = list(old.dtype.names) + ["missing_go_to_left"]
        formats = [old.dtype.fields[n][0] for n in old.dtype.names] + [np.uint8]
        offsets = [old.dtype.fields[n][1] for n in old.dtype.names] + [56]
        new = np.zeros(old.shape, dtype=np.dtype({"names": names, "formats": formats,
                                                   "offsets": offsets, "itemsize": 64}))
        for n in old.dtype.names:
            new[n] = old[n]
        state = dict(state, nodes=new)
        return cls, args, state

    buf = io.BytesIO()
    p = pickle.Pickler(buf, protocol=4)
    p.dispatch_table = copyreg.dispatch_table.copy()
    p.dispatch_table[Tree] = reduce_tree
    saved = sklearn.base.__version__
    sklearn.base.__version__ = "1.3.2"       # what BaseEstimator.__getstate__ records
    try:
        p.dump(clf)
    finally:
        sklearn.base.__version__ = saved
    return buf.getvalue()


def numpy2_names(obj):
    """Protocol 2 writes GLOBAL 'module\\nname\\n' lines: rename them as numpy 2 does."""
    data = pickle.dumps(obj, protocol=2)
    assert b"cnumpy.core.multiarray\n" in data
    return data.replace(b"cnumpy.core.multiarray\n", b"cnumpy._core.multiarray\n")


MAIN_SCRIPT = r"""
import pickle, sys
class Thresholder:
    def __init__(self, t):
        self.t = t
with open(sys.argv[1], "wb") as f:
    pickle.dump(Thresholder(0.5), f, protocol=4)
"""


def load_outcome(path):
    """What a fresh Python does on pickle.load(path): 'loads', 'warns' or 'fails: Error'."""
    code = ("import pickle, sys, warnings\n"
            "warnings.simplefilter('always')\n"
            "with warnings.catch_warnings(record=True) as w:\n"
            "    try:\n"
            "        pickle.load(open(sys.argv[1], 'rb'))\n"
            "    except Exception as e:\n"
            "        print('fails: ' + type(e).__name__); sys.exit()\n"
            "print('warns' if any('version' in str(x.message) for x in w) else 'loads')\n")
    r = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True, timeout=120)
    return r.stdout.strip()


def main(out):
    os.makedirs(out, exist_ok=True)
    clf = iris_tree()
    files = {}

    def write(name, data):
        path = os.path.join(out, name)
        with open(path, "wb") as f:
            f.write(data)
        files[name] = path

    write("tree_p4.pkl", pickle.dumps(clf, protocol=4))
    write("tree13_p4.pkl", tree_13_style(clf))
    X = np.arange(12, dtype=np.float64).reshape(4, 3)
    write("scaler_np2_p2.pkl", numpy2_names(StandardScaler().fit(X)))
    write("scaler_p5.pkl", pickle.dumps(StandardScaler().fit(X), protocol=5))
    import cloudpickle
    y = 3
    write("lambda_cloudpickle_p5.pkl",
          cloudpickle.dumps(FunctionTransformer(func=lambda v: v + y), protocol=5))
    main_path = os.path.join(out, "main_class.pkl")
    subprocess.run([sys.executable, "-c", MAIN_SCRIPT, main_path], check=True, timeout=120)
    files["main_class.pkl"] = main_path
    data = pickle.dumps(clf, protocol=4)
    write("truncated.pkl", data[: len(data) // 2])
    write("sidecar.pkl", pickle.dumps(StandardScaler().fit(X), protocol=4))
    with open(files["sidecar.pkl"] + ".meta", "w") as f:
        json.dump({"sklearn_version": "1.3.0", "python_version": "3.11.2", "numpy_version": "1.24.2"}, f)

    expected = {"sklearn": sklearn.__version__, "numpy": np.__version__,
                "python": "%d.%d" % sys.version_info[:2], "files": {}}
    for name, path in files.items():
        expected["files"][name] = load_outcome(path)
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=2, sort_keys=True)


if __name__ == "__main__":
    main(sys.argv[1])
