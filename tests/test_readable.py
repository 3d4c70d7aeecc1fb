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
import subprocess
import warnings

import numpy as np
import pytest

from conftest import ROOT, TESTDATA, cat, cat_many, cli, tree_entries

FORMAT_DEPENDENT = {"meta.json", "types.txt", "untrusted.txt", "compat.json"}


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
