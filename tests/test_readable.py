"""test_readable.py -- issue 14: real models give readable trees.

Vocabularies and score lists of numpy scalars are one NAME.json (SPEC 3), Python-2
string keys are names without quotes (SPEC 3 "Names"), well-known types have one
canonical form whatever stored them (SPEC 3.2), and pickle, joblib and skops of one
model render one tree (SPEC 3.3).  Every model here is made by the real library
(scikit-learn, numpy, scipy, pandas, joblib) with /usr/bin/python3; the truth is
what Python holds.
"""
import io
import json
import os
import pickle
import re
import subprocess
import warnings

import numpy as np
import pytest

from conftest import ROOT, TESTDATA, cat, cat_many, cli, diff_names, mounted, tree_entries

FORMAT_DEPENDENT = {"meta.json", "types.txt", "untrusted.txt", "compat.json", "summary.txt"}


def write_models(tmp, code):
    """Run CODE with the system python in TMP (it writes the model files)."""
    warnings_off = "import warnings; warnings.simplefilter('ignore')\n"
    subprocess.run(["/usr/bin/python3", "-c", warnings_off + code], cwd=tmp, check=True,
                   timeout=300)


def quoted(names):
    return [n for n in names if any(p[:1] in "'\"" or p[-1:] in "'\"" or p.startswith("b'")
                                    for p in n.split("/"))]


def npy_of(model, path):
    return np.load(io.BytesIO(cat(model, path)), allow_pickle=False)


# ---- 1. containers of numpy scalars are NAME.json ------------------------------------

@pytest.fixture(scope="module")
def vocab_models(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("vocab")
    write_models(tmp, """
import pickle, joblib, numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer, CountVectorizer
from sklearn.neural_network import MLPClassifier
docs = ["the cat sat on the mat", "the dog ate my homework", "a cat and a dog",
        "birds fly over the mat", "caf\\u00e9 au lait", "homework is due today"]
tfidf = TfidfVectorizer().fit(docs)
cv = CountVectorizer(ngram_range=(1, 2)).fit(docs)
rng = np.random.RandomState(0)
X = rng.rand(40, 3); y = (X[:, 0] > 0.5).astype(int)
mlp = MLPClassifier(hidden_layer_sizes=(4,), max_iter=30, random_state=0).fit(X, y)
class LGBMLike:       # lightgbm's sklearn wrapper keeps a plain dict of numpy ints
    pass
lg = LGBMLike()
lg._classes = np.array([2, 5, 9]); lg._n_classes = 3
lg._class_map = {c: i for i, c in enumerate(lg._classes)}
lg.best_score_ = {"valid_0": {"multi_logloss": np.float64(0.25)}}
lg.scores = [np.float64(v) for v in rng.rand(5)]
for name, obj in [("tfidf", tfidf), ("cv", cv), ("mlp", mlp)]:
    with open(name + ".pkl", "wb") as f: pickle.dump(obj, f, protocol=4)
    joblib.dump(obj, name + ".joblib")
    with open(name + ".p2.pkl", "wb") as f: pickle.dump(obj, f, protocol=2)
import copyreg
with open("lgbm.pkl", "wb") as f: pickle.dump(lg.__dict__, f, protocol=4)
""")
    return str(tmp)


def test_vectorizer_vocabulary_is_one_json(vocab_models):
    from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: F401 (unpickling)
    for name in ("tfidf", "cv"):
        for ext in (".pkl", ".p2.pkl", ".joblib"):
            model = os.path.join(vocab_models, name + ext)
            ent = tree_entries(model)
            assert ent["vocabulary_.json"][0] == "f", (model, sorted(ent)[:20])
            assert not any(p.startswith("vocabulary_/") for p in ent), model
            with open(os.path.join(vocab_models, name + ".pkl"), "rb") as f:
                want = pickle.load(f).vocabulary_
            got = json.loads(cat(model, "vocabulary_.json"))
            assert got == {k: int(v) for k, v in want.items()}, model


def test_mlp_loss_curve_is_one_json(vocab_models):
    for ext in (".pkl", ".p2.pkl", ".joblib"):
        model = os.path.join(vocab_models, "mlp" + ext)
        ent = tree_entries(model)
        assert ent["loss_curve_.json"][0] == "f"
        assert not any(p.startswith("loss_curve_/") for p in ent)
        with open(os.path.join(vocab_models, "mlp.pkl"), "rb") as f:
            want = pickle.load(f).loss_curve_
        assert json.loads(cat(model, "loss_curve_.json")) == [float(v) for v in want]


def test_class_map_of_numpy_ints_is_one_json(vocab_models):
    model = os.path.join(vocab_models, "lgbm.pkl")
    with open(model, "rb") as f:
        want = pickle.load(f)
    got = json.loads(cat(model, "_class_map.json"))
    assert got == {str(int(k)): int(v) for k, v in want["_class_map"].items()}
    assert json.loads(cat(model, "scores.json")) == [float(v) for v in want["scores"]]
    assert json.loads(cat(model, "best_score_/valid_0.json")) == {"multi_logloss": 0.25}


def test_json_files_are_utf8_not_escapes(vocab_models, tmp_path):
    """SPEC 4: every JSON file is UTF-8 with non-ASCII characters as themselves, so
    `grep café vocabulary_.json` finds the word; control characters and lone
    surrogates stay escapes (JSON text must stay valid UTF-8)."""
    model = os.path.join(vocab_models, "tfidf.pkl")
    for entry in ("vocabulary_.json", "object.json"):
        text = cat(model, entry)
        assert "café".encode() in text and b"\\u00e9" not in text, entry
    odd = {"zürich": ["日本", "\U0001F600", "tab\tnl\n\x01", "\ud800", "\x7f\x85"]}
    path = tmp_path / "odd.pkl"
    path.write_bytes(pickle.dumps(odd, protocol=4))
    text = cat(str(path), "zürich.json")
    assert json.loads(text) == odd["zürich"]
    assert "日本".encode() in text and "\U0001F600".encode() in text
    assert b"\\t" in text and b"\\u0001" in text and b"\\ud800" in text
    text = cat(str(path), "object.json")
    assert json.loads(text) == odd and "zürich".encode() in text


@pytest.mark.parametrize("fname", ["jhklarcher__detector_fake_news__API__model.pkl.z",
                                   "nick-st-coder__churn-customer__model__model.skops"])
def test_real_lightgbm_class_map_is_one_json(fname):
    """Real LGBMClassifiers (joblib zlib, skops): _class_map, lightgbm's dict of numpy
    ints keyed by the classes, is one _class_map.json: {class: its index}.  These files
    are untrusted (never loaded): the truth is their own _classes array."""
    path = os.path.join(TESTDATA, "realworld", fname)
    ent = tree_entries(path)
    assert ent["_class_map.json"][0] == "f" and not [p for p in ent if p.startswith("_class_map/")]
    if "_classes.npy" in ent:
        classes = npy_of(path, "_classes.npy").tolist()
    else:
        classes = json.loads(cat(path, "_classes.json"))
    assert json.loads(cat(path, "_class_map.json")) == {str(c): i for i, c in enumerate(classes)}

# ---- 4. a bare function as root; an array whose companion is missing -----------------

@pytest.mark.parametrize("proto", [0, 2, 4])
def test_bare_function_root_names_itself(tmp_path, proto):
    import math
    for obj, name in ((math.sqrt, "math.sqrt"), (len, "builtins.len"),
                      (np.float64, "numpy.float64")):
        path = tmp_path / ("f%d.pkl" % proto)
        path.write_bytes(pickle.dumps(obj, protocol=proto))
        meta = json.loads(cat(str(path), "meta.json"))
        assert meta["class"] == name, meta
        assert cat(str(path), "value") == (name + "\n").encode()


def test_missing_companion_array_has_no_size(tmp_path):
    """stat of coef_.npy says 0 (not the 128-byte header) and open fails with EIO."""
    import errno
    import shutil
    from conftest import mounted
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(os.path.join(TESTDATA, "realworld", "christine2623__Mao__model.pkl"),
                src / "model.pkl")
    with mounted(str(src)) as mnt:
        d = os.path.join(mnt, "model.pkl")
        assert json.load(open(os.path.join(d, "meta.json")))["joblib_missing_files"] >= 1
        for entry in ("coef_.npy", "coef_.txt"):
            assert os.stat(os.path.join(d, entry)).st_size == 0, entry
            with pytest.raises(OSError) as e:
                with open(os.path.join(d, entry), "rb") as f:
                    f.read()
            assert e.value.errno == errno.EIO, entry


def test_tree_without_stored_depth_has_its_depth(tmp_path):
    """Trees of old scikit-learn store no max_depth (a real pre-0.10 ExtraTreesClassifier
    showed `depth up to -1`): summary.txt gives the depth the node array has, which is
    what the real tree reports."""
    write_models(tmp_path, """
import pickle, numpy as np
from sklearn.ensemble import ExtraTreesClassifier
from sklearn.tree._tree import Tree
rng = np.random.RandomState(0)
X = rng.rand(80, 4); y = (X[:, 0] + X[:, 1] > 1).astype(int)
forest = ExtraTreesClassifier(n_estimators=3, random_state=0).fit(X, y)
class Old(pickle.Pickler):
    def reducer_override(self, obj):
        if type(obj) is Tree:
            cls, args, state = obj.__reduce__()
            state = {k: v for k, v in state.items() if k != "max_depth"}
            return cls, args, state
        return NotImplemented
with open("old.pkl", "wb") as f:
    Old(f, protocol=2).dump(forest)
with open("depths.txt", "w") as f:
    f.write(" ".join(str(e.tree_.max_depth) for e in forest.estimators_))
""")
    path = str(tmp_path / "old.pkl")
    depths = [int(d) for d in (tmp_path / "depths.txt").read_text().split()]
    assert "estimators_/0/tree_/max_depth" not in tree_entries(path)
    summary = cat(path, "summary.txt").decode()
    assert "depth up to %d\n" % max(depths) in summary, summary

def test_summary_array_paths_are_tree_paths(tmp_path):
    """The arrays summary.txt lists for a container root are named by their paths in the
    tree (steps by name, __args__, escaped names), so `cat PATH.npy` works (a real
    dict of a Pipeline and a tree listed `pipe/steps/0/1/...` and `model/tree_/0/1`)."""
    write_models(tmp_path, """
import pickle, numpy as np
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier
rng = np.random.RandomState(0)
X = rng.rand(30, 3); y = (X[:, 0] > 0.5).astype(int)
obj = {"pipe": Pipeline([("scale", StandardScaler().fit(X))]),
       "model": DecisionTreeClassifier(max_depth=2).fit(X, y), "a/b": np.arange(3)}
with open("d.pkl", "wb") as f: pickle.dump(obj, f, protocol=4)
""")
    path = str(tmp_path / "d.pkl")
    ent = tree_entries(path)
    summary = cat(path, "summary.txt").decode()
    listed = [line.split()[0] for line in summary.split("\narrays")[1].splitlines()[1:] if line]
    assert "pipe/steps/scale/1/mean_" in listed and "a%2Fb" in listed, summary
    assert [p for p in listed if p + ".npy" not in ent] == [], summary

# ---- 2. Python-2 string keys are names as their latin-1 text --------------------------

PY2_PICKLER = '''
import pickle, struct
class Py2Pickler(pickle._Pickler):
    """Protocol 2 as Python 2 wrote it: every latin-1 str and every bytes object is a
    Python-2 str (SHORT_BINSTRING / BINSTRING), module names Python-2 style."""
    dispatch = pickle._Pickler.dispatch.copy()
    def _py2(self, raw, obj):
        if len(raw) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(raw)) + raw)
        self.memoize(obj)
    def save_str(self, obj):
        try:
            raw = obj.encode("latin-1")
        except UnicodeEncodeError:
            return pickle._Pickler.save_str(self, obj)
        self._py2(raw, obj)
    def save_bytes(self, obj):
        self._py2(obj, obj)
    dispatch[str] = save_str
    dispatch[bytes] = save_bytes
def py2_dumps(obj):
    import io
    f = io.BytesIO()
    Py2Pickler(f, protocol=2, fix_imports=True).dump(obj)
    return f.getvalue()
'''


@pytest.fixture(scope="module")
def py2_models(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("py2")
    write_models(tmp, PY2_PICKLER + """
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.feature_extraction.text import CountVectorizer
rng = np.random.RandomState(0)
X = rng.rand(30, 3); y = (X[:, 0] > 0.5).astype(int)
models = {
    "logreg": LogisticRegression().fit(X, y),
    "vectorizer": CountVectorizer().fit(["le caf\\u00e9 noir", "un th\\u00e9 vert", "caf\\u00e9 au lait"]),
    "package": {"caf\\u00e9": 1, "a/b": np.arange(3.0), "it's": "x", "na\\u00efve": {"k": [1, 2]},
                "coef": np.arange(4.0).reshape(2, 2), "\\u4e2d": "unicode key stays unicode"},
}
for name, obj in models.items():
    data = py2_dumps(obj)
    assert b"X" not in data[:3]
    with open(name + ".py2.pkl", "wb") as f: f.write(data)
    with open(name + ".p2.pkl", "wb") as f: pickle.dump(obj, f, protocol=2)
""")
    return str(tmp)


def _comparable(model):
    ent = tree_entries(model)
    files = [p for p, e in ent.items() if e[0] == "f" and p not in FORMAT_DEPENDENT]
    body = cat_many(model, files, [ent[p][1] for p in files])
    return ent, {p: (ent[p][0], body.get(p), ent[p][2]) for p in ent if p not in FORMAT_DEPENDENT}


@pytest.mark.parametrize("name", ["logreg", "vectorizer", "package"])
def test_py2_keys_are_unquoted_names(py2_models, name):
    py2 = os.path.join(py2_models, name + ".py2.pkl")
    py3 = os.path.join(py2_models, name + ".p2.pkl")
    with open(py2, "rb") as f:
        data = f.read()
    assert b"U\x01C" in data or b"U\x04caf\xe9" in data or b"U\x0bvocabulary_" in data
    ent2, a = _comparable(py2)
    assert not quoted(ent2), quoted(ent2)
    _, b = _comparable(py3)
    assert sorted(a) == sorted(b)
    for p in a:
        if p == "object.json":
            continue
        assert a[p] == b[p], p
    # object.json is the same document, and its array paths name entries of the tree
    doc = json.loads(cat(py2, "object.json"))
    assert doc == json.loads(cat(py3, "object.json"))
    found = []

    def walk(v):
        if isinstance(v, dict):
            if "__ndarray__" in v:
                found.append(v["__ndarray__"])
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
    walk(doc)
    assert found or name == "vectorizer"
    for p in found:
        assert ent2[p][0] == "f", p
        want = pickle.loads(data, encoding="latin1")
        got = npy_of(py2, p)
        assert got.dtype.kind in "fiub", p
    if name == "package":
        assert ent2["café"][0] == "f" and ent2["a%2Fb.npy"][0] == "f"
        assert ent2["it's"][0] == "f"
        assert np.array_equal(npy_of(py2, "coef.npy"), want["coef"])



@pytest.mark.parametrize("name", ["logreg", "vectorizer", "package"])
def test_py2_summary_and_diff_are_python3s(py2_models, name):
    """Python 3 loads a Python-2 str as a str: summary.txt, meta.json's sklearn_version
    and `modelfs diff` of a Python-2 writer's file are those of the same object pickled by
    Python 3 (before: no hyperparameters, `sklearn unknown`, `penalty: l2 -> 'l2'`)."""
    py2 = os.path.join(py2_models, name + ".py2.pkl")
    py3 = os.path.join(py2_models, name + ".p2.pkl")
    assert cat(py2, "summary.txt") == cat(py3, "summary.txt")
    want = json.loads(cat(py3, "meta.json"))["sklearn_version"]
    assert json.loads(cat(py2, "meta.json"))["sklearn_version"] == want
    assert want is not None or name == "package"
    p = cli("diff", "--json", py2, py3)
    changes = json.loads(p.stdout)["changes"]
    assert [c for c in changes if c["kind"] != "fact"] == [], changes

REALWORLD_PY2 = ["sskiswani__HearMe__svm.pkl",
                 "joblib__joblib__joblib__test__data__joblib_0.10.0_pickle_py27_np17.pkl.xz",
                 "joblib__joblib__joblib__test__data__joblib_0.8.4_compressed_pickle_py27_np17.gz"]


@pytest.mark.parametrize("fname", REALWORLD_PY2)
def test_real_py2_files_have_no_quoted_names(fname):
    path = os.path.join(TESTDATA, "realworld", fname)
    ent = tree_entries(path)
    assert not quoted(ent), quoted(ent)
    doc = json.loads(cat(path, "object.json"))
    if isinstance(doc, dict) and "__class__" in doc:
        for key in doc:
            if key not in ("__class__", "__args__"):
                assert any(p == key or p.startswith(key + ".") for p in ent), key
    if isinstance(doc, dict) and doc.get("__class__", "").startswith("sklearn."):
        # summary.txt reads the Python-2 keys too: C, dual, ... under hyperparameters
        summary = cat(path, "summary.txt").decode()
        params = summary.split("\nhyperparameters")[1].split("\n\n")[0].splitlines()[1:]
        assert "C" in [line[4:].split()[0] for line in params], summary


# ---- 3. well-known types have one canonical form (SPEC 3.2), in every format ---------

def assert_same_tree(models):
    """SPEC 3.3: the trees differ only in meta.json, types.txt, untrusted.txt, compat.json."""
    base = None
    for m in models:
        ent, comp = _comparable(m)
        comp.pop("object.json", None)
        if base is None:
            base, base_m = comp, m
            continue
        assert sorted(comp) == sorted(base), (m, sorted(set(comp) ^ set(base))[:20])
        for p in comp:
            assert comp[p] == base[p], (m, base_m, p)


@pytest.fixture(scope="module")
def masked_models(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("masked")
    write_models(tmp, """
import pickle, joblib, numpy as np
obj = {
    "plain": np.ma.masked_array([1.0, 2.0, 3.0], mask=[False, True, False]),
    "filled": np.ma.masked_array(np.arange(6, dtype=np.int32).reshape(2, 3), mask=[[1, 0, 0], [0, 0, 1]],
                                 fill_value=-1),
    "fortran": np.ma.masked_array(np.asfortranarray(np.arange(6.0).reshape(2, 3)), mask=np.eye(2, 3)),
    "objects": np.ma.masked_array(np.array([0.1, "a", None], dtype=object), mask=[0, 1, 0]),
}
for dt in ("f4", "c16", "c8", "u1", "i4", "b1", "U5", "S4", "M8[ns]", "m8[s]"):
    obj["k_" + dt.strip("<>[]").replace("[", "_")] = np.ma.masked_array(np.zeros(2, dtype=dt), mask=[0, 1])
obj["custom_f4"] = np.ma.masked_array(np.zeros(2, dtype="f4"), mask=[0, 1], fill_value=1e19)
for p in (0, 2, 4, 5):
    with open("m.p%d.pkl" % p, "wb") as f: pickle.dump(obj, f, protocol=p)
joblib.dump(obj, "m.joblib"); joblib.dump(obj, "m.z.joblib", compress=3)
# loaded and saved again: the load turned each unset fill_value into numpy.ma's default
again = pickle.loads(pickle.dumps(obj, protocol=4))
assert again["plain"]._fill_value is not None
with open("m.again.pkl", "wb") as f: pickle.dump(again, f, protocol=4)
joblib.dump(again, "m.again.joblib")
""")
    return str(tmp)


def test_masked_arrays_are_data_mask_fill_value(masked_models):
    models = [os.path.join(masked_models, f) for f in
              ("m.p0.pkl", "m.p2.pkl", "m.p4.pkl", "m.p5.pkl", "m.joblib", "m.z.joblib",
               "m.again.pkl", "m.again.joblib")]
    with open(models[2], "rb") as f:
        want = pickle.load(f)
    for m in models:
        ent = tree_entries(m)
        assert not any("__args__" in p or "__state__" in p for p in ent), m
        for name, arr in want.items():
            assert cat(m, name + "/__class__") == b"numpy.ma.core.MaskedArray\n"
            mask = npy_of(m, name + "/mask.npy")
            assert mask.dtype == np.bool_ and np.array_equal(mask, np.ma.getmaskarray(arr))
            if arr.dtype.hasobject:
                assert json.loads(cat(m, name + "/data.json")) == [0.1, "a", None]
            else:
                data = npy_of(m, name + "/data.npy")
                assert data.dtype == arr.dtype and np.array_equal(data, arr.data), (m, name)
        assert npy_of(m, "filled/fill_value.npy") == -1   # stored as a 0-d array
        # never set: the file stores None, or numpy.ma's default after a load
        assert not [p for p in ent if "/fill_value" in p and not p.startswith(("filled/", "custom"))], m
        assert npy_of(m, "custom_f4/fill_value.npy") == np.float32(1e19)
    assert_same_tree(models)


def test_cython_reconstructor_is_the_class(tmp_path):
    from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: F401
    write_models(tmp_path, """
import pickle, joblib, numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
rng = np.random.RandomState(0)
X = rng.rand(60, 3); y = rng.randint(0, 3, 60)
m = HistGradientBoostingClassifier(max_iter=3).fit(X, y)
for p in (2, 4, 5):
    with open("h.p%d.pkl" % p, "wb") as f: pickle.dump(m, f, protocol=p)
joblib.dump(m, "h.joblib")
""")
    models = [str(tmp_path / f) for f in ("h.p2.pkl", "h.p4.pkl", "h.p5.pkl", "h.joblib")]
    for m in models:
        types = cat(m, "types.txt").decode()
        assert "__pyx_unpickle_" in types            # still named: the file references it
        ent = tree_entries(m)
        assert cat(m, "_loss/closs/__class__").startswith(b"sklearn._loss._loss.Cy")
        assert not [p for p in ent if p.startswith("_loss/closs/") and p != "_loss/closs/__class__"]
    assert_same_tree(models)


@pytest.fixture(scope="module")
def sparse_models(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sparse")
    write_models(tmp, """
import pickle, joblib, numpy as np, scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
rng = np.random.RandomState(0)
a = rng.rand(6, 5); a[a < 0.6] = 0
obj = {fmt: sp.csr_matrix(a).asformat(fmt) for fmt in ("csr", "csc", "coo", "bsr", "dia", "lil", "dok")}
obj.update({"arr_" + fmt: sp.csr_array(a).asformat(fmt) for fmt in ("csr", "coo", "dia", "dok")})
obj["int"] = sp.coo_matrix((a * 100).astype(np.int64))
obj["sym"] = sp.csr_matrix(a @ a.T)
obj["tfidf"] = TfidfVectorizer().fit(["aa bb cc", "bb cc dd", "cc dd ee"])
for p in (2, 4, 5):
    with open("s.p%d.pkl" % p, "wb") as f: pickle.dump(obj, f, protocol=p)
joblib.dump(obj, "s.joblib"); joblib.dump(obj, "s.lz4.joblib", compress="lz4")
""")
    return str(tmp)


def test_sparse_formats_matrix_market(sparse_models):
    import scipy.io
    models = [os.path.join(sparse_models, f) for f in
              ("s.p2.pkl", "s.p4.pkl", "s.p5.pkl", "s.joblib", "s.lz4.joblib")]
    with open(models[1], "rb") as f:
        want = pickle.load(f)
    want["idf"] = want.pop("tfidf")._tfidf._idf_diag
    for m in models:
        ent = tree_entries(m)
        private = ("maxprint", "_shape.json", "has_canonical_format", "_has_sorted_indices")
        assert not [p for p in ent if p.split("/")[-1] in private], m
        for name, mat in want.items():
            d = "tfidf/_tfidf/_idf_diag" if name == "idf" else name
            assert cat(m, d + "/format") == (mat.format + "\n").encode()
            assert json.loads(cat(m, d + "/shape.json")) == list(mat.shape)
            text = cat(m, d + "/matrix.mtx")
            got = scipy.io.mmread(io.BytesIO(text))
            # mmwrite's '%.15e' keeps 16 digits: mmread gives the matrix to that precision
            assert got.shape == mat.shape, (m, name)
            assert np.allclose(got.toarray(), mat.toarray(), rtol=1e-15, atol=0), (m, name)
            general = io.BytesIO()
            scipy.io.mmwrite(general, mat, symmetry="general")
            assert text == general.getvalue(), (m, name)
            buf = io.BytesIO()
            scipy.io.mmwrite(buf, mat)
            # mmwrite writes a symmetric matrix's lower triangle only; others byte for byte
            if name != "sym" and name != "idf":
                assert text == buf.getvalue(), (m, name)
            for arr in ("data", "indices", "indptr", "row", "col", "offsets"):
                if hasattr(mat, arr) and d + "/" + arr + ".npy" in ent:
                    assert np.array_equal(npy_of(m, d + "/" + arr + ".npy"), getattr(mat, arr))
    assert_same_tree(models)


def test_sparse_skops_twin_same_tree():
    """skops stores an .npz (no maxprint): the same tree as its pickle twin."""
    sk = os.path.join(TESTDATA, "skops", "sparse_csr_matrix.skops")
    pk = os.path.join(TESTDATA, "skops", "sparse_csr_matrix.p5.pkl")
    assert_same_tree([sk, pk])
    assert "matrix.mtx" in tree_entries(sk)


def test_pipeline_steps_by_name(tmp_path):
    """Inserting a step changes only that step's entries (SPEC 3.2)."""
    write_models(tmp_path, """
import pickle, joblib, numpy as np
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler, FunctionTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.ensemble import VotingClassifier
rng = np.random.RandomState(0)
X = rng.rand(40, 3); y = (X[:, 0] > 0.5).astype(int)
scale = StandardScaler().fit(X); clf = LogisticRegression().fit(scale.transform(X), y)
v1 = Pipeline([("scale", scale), ("clf", clf)])
v2 = Pipeline([("scale", scale), ("extra", FunctionTransformer()), ("clf", clf)])
vote = VotingClassifier([("lr", LogisticRegression()), ("lr2", LogisticRegression(C=2))]).fit(X, y)
for name, obj in (("v1", v1), ("v2", v2), ("vote", vote)):
    with open(name + ".pkl", "wb") as f: pickle.dump(obj, f, protocol=4)
    joblib.dump(obj, name + ".joblib")
""")
    _, a = _comparable(str(tmp_path / "v1.pkl"))
    e2, b = _comparable(str(tmp_path / "v2.pkl"))
    a.pop("object.json"), b.pop("object.json")
    assert a["steps/clf/1/coef_.npy"] == b["steps/clf/1/coef_.npy"]
    changed = sorted(p for p in set(a) | set(b) if a.get(p) != b.get(p))
    assert changed and all(p.startswith("steps/extra") for p in changed), changed
    ent = tree_entries(str(tmp_path / "vote.joblib"))
    for p in ("estimators/lr/1/C", "estimators/lr2/1/C", "estimators_/0/coef_.npy"):
        assert p in ent, p
    assert cat(str(tmp_path / "vote.joblib"), "estimators/lr2/1/C") == b"2\n"
    # compat.json names the same places as the tree
    compat = json.loads(cat(str(tmp_path / "v2.pkl"), "compat.json"))
    paths = [e["path"] for e in compat.get("estimators", [])]
    assert "steps/clf/1" in paths and all(p == "." or p in e2 for p in paths), paths
    assert_same_tree([str(tmp_path / "v2.pkl"), str(tmp_path / "v2.joblib")])


# ---- Done when (issue 14): twins through a real mount, every .npy what Python holds ---

# SPEC 3.3 and issue 14: `diff -r` of one model's pickle, joblib and skops trees shows
# only these; summary.txt names the format and the verdict (issue 15's reading).
CONTAINER_FACTS = {"meta.json", "types.txt", "untrusted.txt", "compat.json", "summary.txt"}
SKOPS_DATA = os.path.join(TESTDATA, "skops")
# skops 0.11 writes a datetime.date as null: genuinely different state (SPEC 3.3's
# exception), shown in tests/test_skops.py::test_known_differences
SKOPS_DIFFERS = {"method_and_reduce": {"date", "object.json"}}


@pytest.fixture(scope="module")
def twins(tmp_path_factory, vocab_models, py2_models, masked_models, sparse_models):
    """One source folder with every model of the Done-when list, stored every way: the
    models written here, and the real skops files (tests/data/skops, written by skops
    0.11) beside their pickle twin and that pickle re-dumped with protocol 2 and joblib."""
    tmp = tmp_path_factory.mktemp("twins")
    import shutil
    groups = {}
    for src, names in ((vocab_models, ("tfidf", "cv", "mlp", "lgbm")),
                       (masked_models, ("m",)), (sparse_models, ("s",))):
        for f in sorted(os.listdir(src)):
            stem = f.split(".")[0]
            if stem in names and not f.endswith(".py"):
                shutil.copy(os.path.join(src, f), tmp / f)
                groups.setdefault(stem, []).append(f)
    for f in sorted(os.listdir(py2_models)):
        shutil.copy(os.path.join(py2_models, f), tmp / ("py2_" + f))
        groups.setdefault("py2_" + f.split(".")[0], []).append("py2_" + f)
    for f in sorted(os.listdir(SKOPS_DATA)):
        if f.endswith(".skops") and os.path.exists(os.path.join(SKOPS_DATA, f[:-6] + ".p5.pkl")):
            for ext in (".skops", ".p5.pkl"):
                shutil.copy(os.path.join(SKOPS_DATA, f[:-6] + ext), tmp / ("sk_" + f[:-6] + ext))
    write_models(tmp, """
import glob, pickle, joblib, numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
rng = np.random.RandomState(0)
X = rng.rand(60, 3); y = rng.randint(0, 3, 60)
h = HistGradientBoostingClassifier(max_iter=3).fit(X, y)
for p in (2, 5):
    with open("hgb.p%d.pkl" % p, "wb") as f: pickle.dump(h, f, protocol=p)
joblib.dump(h, "hgb.joblib")
for name in sorted(glob.glob("sk_*.p5.pkl")):
    try:
        obj = pickle.load(open(name, "rb"))
    except AttributeError:     # names a function of the script that wrote it
        continue
    with open(name.replace(".p5.", ".p2."), "wb") as f: pickle.dump(obj, f, protocol=2)
    joblib.dump(obj, name.replace(".p5.pkl", ".joblib"), compress=3)
lg = pickle.load(open("lgbm.pkl", "rb"))
joblib.dump(lg, "lgbm.joblib")
with open("lgbm.p2.pkl", "wb") as f: pickle.dump(lg, f, protocol=2)
""")
    for f in sorted(os.listdir(tmp)):
        if f.startswith(("sk_", "hgb", "lgbm.")) and f != "lgbm.pkl":
            stem = f.split(".")[0]
            groups.setdefault(stem, []).append(f)
    with mounted(str(tmp)) as mnt:
        yield str(tmp), mnt, {k: sorted(v) for k, v in groups.items()}


TWIN_GROUPS = ["tfidf", "cv", "mlp", "lgbm", "m", "s", "hgb", "py2_logreg", "py2_vectorizer",
               "py2_package"] + sorted("sk_" + f[:-6] for f in os.listdir(SKOPS_DATA)
                                      if f.endswith(".skops") and
                                      os.path.exists(os.path.join(SKOPS_DATA, f[:-6] + ".p5.pkl")))


@pytest.mark.parametrize("group", TWIN_GROUPS)
def test_twins_differ_only_in_container_facts(twins, group):
    """`diff -r` through a real mount of every pair of one model's files (pickle of each
    protocol, joblib, skops, a Python-2 writer) shows only the container's facts."""
    src, mnt, groups = twins
    files = groups[group]
    assert len(files) >= 2, files
    allowed = CONTAINER_FACTS | SKOPS_DIFFERS.get(group[3:], set())
    first = os.path.join(mnt, files[0])
    assert os.path.isdir(first)
    for other in files[1:]:
        differ = diff_names(first, os.path.join(mnt, other))
        if "object.json" in differ - allowed and ".joblib" in files[0] + other:
            # joblib pickles an array reached twice twice (a new wrapper each time), and
            # what holds one: the pickle's {"__ref__"} is a copy there (SPEC 3.3's
            # exception); diff -r (which follows the links) saw the same content
            docs = [json.load(open(os.path.join(mnt, f, "object.json"))) for f in (files[0], other)]
            assert _same_but_refs(*docs), (files[0], other)
            differ.discard("object.json")
        assert differ <= allowed, (files[0], other, sorted(differ - allowed)[:10])


def _same_but_refs(a, b):
    """Two object.json documents are equal where neither holds a {"__ref__"}."""
    if any(isinstance(v, dict) and set(v) == {"__ref__"} for v in (a, b)):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same_but_refs(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_but_refs(x, y) for x, y in zip(a, b))
    return a == b

def unescape(name):
    """A tree name back to the key it shows (SPEC 3 "Names")."""
    special = {"%": "", "%2E": ".", "%2E%2E": ".."}
    if name in special:
        return special[name]
    return name.replace("%2F", "/").replace("%00", "\0").replace("%25", "%")


def _state_of(obj):
    """(constructor arguments, state dict) as a pickle stores them."""
    import copyreg
    red = obj.__reduce_ex__(2)
    args = red[1][1:] if red[0] is copyreg.__newobj__ else red[1]
    state = red[2] if len(red) > 2 else None
    if isinstance(state, tuple) and len(state) == 2 and isinstance(state[0], (dict, type(None))):
        state = {**(state[0] or {}), **(state[1] or {})}          # (dict, slots)
    return args, state


def truth_at(obj, parts):
    """What Python holds at a tree path: attributes, keys, indexes, steps by name and
    SPEC 3.2's canonical forms (masked arrays, sparse matrices)."""
    import scipy.sparse as sp
    for raw in parts:
        part = unescape(raw)
        if isinstance(obj, np.ma.MaskedArray):
            obj = {"data": obj.data, "mask": np.ma.getmaskarray(obj),
                   "fill_value": np.asarray(obj.fill_value)}[part]
        elif sp.issparse(obj):
            obj = getattr(obj, part)
        elif isinstance(obj, dict):
            keys = [k for k in obj if str(k) == part or (isinstance(k, bytes) and
                                                      k.decode("latin-1") == part)]
            obj = obj[keys[0]]
        elif isinstance(obj, np.ndarray) and obj.dtype.hasobject:
            obj = obj[int(part)]
        elif isinstance(obj, (list, tuple)) and part.isdigit():
            obj = obj[int(part)]
        elif isinstance(obj, (list, tuple)):                     # a step by its name
            obj = next(s for s in obj if isinstance(s, tuple) and s[0] == part)
        else:
            args, state = _state_of(obj)
            if part == "__args__":
                obj = args
            elif part == "__state__":
                obj = state
            else:
                obj = state[part]
    return obj


def _load(path):
    import joblib
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if path.endswith(".joblib"):
            return joblib.load(path)
        with open(path, "rb") as f:
            return pickle.load(f, encoding="latin1")


def test_every_npy_is_what_python_holds(twins):
    """numpy.load of every .npy of every model (not a link: links point at one) equals
    the array Python holds at that path, dtype and order included: the bytes are what
    numpy.save writes for it.  A skops file is compared with its pickle twin's object."""
    src, mnt, groups = twins
    checked = 0
    for group, files in sorted(groups.items()):
        for f in files:
            load_from = f[:-len(".skops")] + ".p5.pkl" if f.endswith(".skops") else f
            try:
                obj = _load(os.path.join(src, load_from))
            except AttributeError:      # a twin naming __main__ objects of its writer
                continue
            top = os.path.join(mnt, f)
            for d, _, names in os.walk(top):
                for n in names:
                    path = os.path.join(d, n)
                    if not n.endswith(".npy") or os.path.islink(path):
                        continue
                    rel = os.path.relpath(path, top)[:-len(".npy")]
                    want = truth_at(obj, rel.split("/") if rel != "value" else [])
                    got = np.load(path, allow_pickle=False)
                    want = np.asarray(want)
                    assert got.dtype == want.dtype and got.shape == want.shape, (f, rel)
                    assert np.array_equal(got, want, equal_nan=want.dtype.kind in "fc"), (f, rel)
                    buf = io.BytesIO()
                    with warnings.catch_warnings():       # tree node dtypes carry metadata
                        warnings.simplefilter("ignore")
                        np.save(buf, want)
                    assert open(path, "rb").read() == buf.getvalue(), (f, rel)
                    checked += 1
    assert checked > 1000, checked

# ---- real files: model directories, no quoted names, no one-file-per-number vocabularies

def _realworld_models():
    out = {}
    for base in (os.path.join(TESTDATA, "realworld"),
                 os.path.join(ROOT, "..", "shared", "fixtures", "realworld", "files")):
        if not os.path.isdir(base):
            continue
        for f in sorted(os.listdir(base)):
            if f.endswith(".tsv") or f.endswith(".npy") or f.endswith(".npy.z"):
                continue                          # joblib < 0.10 companions, not models
            out.setdefault(f, os.path.join(base, f))
    return [out[k] for k in sorted(out)]


REALWORLD = _realworld_models()


def test_realworld_fixtures_present():
    names = [os.path.basename(p) for p in REALWORLD]
    for must in ("0xN7y__HttpLogScanner__vectorizer.joblib", "stuppie__data_drops__classifier.pkl",
                 "sskiswani__HearMe__svm.pkl"):
        assert must in names


@pytest.mark.parametrize("path", REALWORLD, ids=os.path.basename)
def test_realworld_tree_is_readable(path):
    p = cli("tree", path)
    assert b"meta.json" in p.stdout, (path, p.stderr[-300:])
    ent = {}
    for line in p.stdout.split(b"\n"):
        if line:
            kind, _, rest = line.decode("utf-8", "surrogateescape").partition(" ")
            ent[rest.strip().split(" ", 1)[1].split(" -> ")[0]] = kind
    assert not quoted(ent), quoted(ent)[:5]
    # a vocabulary (many keys, each one plain number) is one .json, never a directory
    files_in = {}
    for e, kind in ent.items():
        d, _, leaf = e.rpartition("/")
        files_in.setdefault(d, [0, 0])
        files_in[d][0] += 1
        if kind == "f" and "." not in leaf:
            files_in[d][1] += 1
    dirs = [d for d, (n, scalars) in files_in.items() if d and n >= 50 and scalars == n]
    assert not dirs, dirs[:3]


COMPANION = re.compile(r".*_\d+\.npy(\.z)?$")     # joblib < 0.10 arrays beside their pickle


def _plain_scalar_dir(d, dirs, files):
    """A directory that is not an object and holds only plain scalar files: a container
    of plain values that should have been one NAME.json (SPEC 3)."""
    names = dirs + files
    plain = [n for n in files if "." not in n and not os.path.islink(os.path.join(d, n))]
    return "__class__" not in files and len(names) >= 2 and len(plain) == len(names)


SHARED_REALWORLD = os.path.join(ROOT, "..", "shared", "fixtures", "realworld", "files")


# The shared samples are checked too where ../shared sits beside this checkout; a fresh
# clone without it has their copies in tests/data (the "tests" case), never a skip.
@pytest.mark.parametrize("base", ["tests"] + (["shared"] if os.path.isdir(SHARED_REALWORLD) else []))
def test_realworld_model_directories_through_a_mount(base):
    """Every real file (the .gz, .gzip and other compressed ones too) is a model
    directory in a real mount; no name in its tree is quoted and no container of plain
    values is a folder of one-line files."""
    src = os.path.join(TESTDATA, "realworld") if base == "tests" else SHARED_REALWORLD
    files = sorted(f for f in os.listdir(src) if not f.endswith(".tsv"))
    models = [f for f in files if not COMPANION.match(f)]
    assert len(models) >= (25 if base == "tests" else 85), len(models)
    with mounted(src) as mnt:
        for f in files:
            path = os.path.join(mnt, f)
            if COMPANION.match(f):
                assert os.path.isfile(path), f          # numeric .npy: shown as itself
                continue
            assert os.path.isdir(path), f
            meta = json.load(open(os.path.join(path, "meta.json")))
            assert meta["status"] == "ok" or "truncated" in meta["error"], (f, meta.get("error"))
            bad = []
            for d, dirs, names in os.walk(path):
                rel = os.path.relpath(d, path)
                bad += [os.path.join(rel, n) for n in quoted(dirs + names)]
                if rel != "." and _plain_scalar_dir(d, dirs, names):
                    bad.append(rel + "/")
            assert not bad, (f, bad[:5])
