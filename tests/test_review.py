"""Issue 15: reviewing a retrained model -- summary.txt / `modelfs summary`,
`modelfs diff`, and `git diff` of committed models through the textconv driver.

The models are real scikit-learn models (scripts/make_review_fixtures.py), and the
truth is what Python computes from the loaded estimators: get_params() and the
defaults of the class's signature, get_feature_names_out(), numpy deltas.
"""
import inspect
import json
import os
import pickle
import re
import shutil
import subprocess
import warnings

import numpy as np
import pytest

from conftest import MODELFS, cli, mounted, run_script

warnings.filterwarnings("ignore")
ARROW = "\u2192"


@pytest.fixture(scope="module")
def rv(tmp_path_factory):
    out = tmp_path_factory.mktemp("review")
    run_script("make_review_fixtures.py", out)
    return str(out)


def path(rv, name):
    return os.path.join(rv, name)


def load(rv, name):
    with open(path(rv, name), "rb") as f:
        return pickle.load(f)


def summary(rv, name):
    p = cli("summary", path(rv, name), check=True)
    return p.stdout.decode()


def section(text, title):
    """The indented lines under a section whose heading starts with title."""
    lines, inside = [], False
    for line in text.splitlines():
        if line.startswith(title):
            inside = True
            continue
        if inside:
            if not line.startswith("  "):
                break
            lines.append(line)
    assert inside, "no section %r in:\n%s" % (title, text)
    return lines


def diff(rv, a, b, *opts):
    p = cli("diff", *opts, path(rv, a), path(rv, b))
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def diff_json(rv, a, b):
    rc, out, err = diff(rv, a, b, "--json")
    assert rc in (0, 1), err
    doc = json.loads(out)
    return rc, {c.get("path", c.get("what")): c for c in doc["changes"]}, doc


# ---- summary.txt -------------------------------------------------------------------

MODELS = ["forest5.pkl", "forest8.pkl", "forest_frame.pkl", "pipe_v1.pkl", "pipe_v2.pkl", "text_v1.pkl",
          "text_v2.pkl", "grid_v1.pkl", "grid_v2.pkl", "logreg_C1.pkl", "logreg_C0.01.pkl"]


def test_summary_txt_in_every_model_directory_equals_the_command(rv):
    with mounted(rv) as m:
        for name in MODELS:
            assert "summary.txt" in os.listdir(os.path.join(m, name))
            with open(os.path.join(m, name, "summary.txt")) as f:
                assert f.read() == summary(rv, name), name
        # a model directory of the mount as the operand: its summary.txt
        p = cli("summary", os.path.join(m, "pipe_v2.pkl"), check=True)
        assert p.stdout.decode() == summary(rv, "pipe_v2.pkl")


def plain(v):
    return v is None or isinstance(v, (bool, int, float, str))


@pytest.mark.parametrize("name", ["logreg_C0.01.pkl", "forest8.pkl", "grid_v2.pkl", "pipe_v2.pkl"])
def test_summary_hyperparameters_are_get_params_marked_against_defaults(rv, name):
    est = load(rv, name)
    text = summary(rv, name)
    lines = section(text, "hyperparameters")
    got = {}
    for line in lines:
        m = re.match(r"^  ([* ]) (\S+)\s+(.*?)(   \(default (.*)\))?$", line)
        assert m, line
        got[m.group(2)] = (m.group(1) == "*", m.group(3))
    sig = inspect.signature(type(est).__init__).parameters
    params = est.get_params(deep=False)
    assert set(got) == set(params), (sorted(got), sorted(params))
    for k, v in params.items():
        if isinstance(v, dict) and all(plain(x) or isinstance(x, list) and all(map(plain, x))
                                       for x in v.values()):
            assert got[k] == (False, repr(v)), (k, got[k])   # a parameter grid, whole
        if not plain(v):
            continue
        default = sig[k].default
        differs = not (v == default or (v != v and default != default))
        assert got[k] == (differs, repr(v)), (k, got[k], v, default)


def test_summary_pipeline_one_line_per_step(rv):
    pipe = load(rv, "pipe_v2.pkl")
    steps = section(summary(rv, "pipe_v2.pkl"), "steps")
    assert [s.split()[0] for s in steps] == [n for n, _ in pipe.steps]
    prep = pipe.named_steps["prep"]
    parts = []
    for name, tr, cols in prep.transformers:
        params = {k: v for k, v in tr.get_params(deep=False).items()
                  if v != inspect.signature(type(tr).__init__).parameters[k].default}
        call = type(tr).__name__ + ("(%s)" % ", ".join("%s=%r" % kv for kv in params.items())
                                    if params else "")
        parts.append("%s %s[%s]" % (name, call, ", ".join(cols)))
    assert steps[0] == "  prep  ColumnTransformer %s %s" % (ARROW, ", ".join(parts))
    assert steps[1] == "  clf   LogisticRegression(C=%r)" % pipe.named_steps["clf"].C


@pytest.mark.parametrize("name", ["pipe_v1.pkl", "pipe_v2.pkl", "text_v1.pkl", "text_v2.pkl"])
def test_summary_largest_coefficients_by_derived_feature_name(rv, name):
    pipe = load(rv, name)
    names = list(pipe[:-1].get_feature_names_out())
    coef = pipe[-1].coef_.ravel()
    order = sorted(range(len(coef)), key=lambda i: (-abs(coef[i]), i))[:10]
    text = summary(rv, name)
    lines = section(text, "largest %s coef_" % pipe.steps[-1][0])
    got = [line.split() for line in lines]
    assert [g[0] for g in got] == [names[i] for i in order]
    assert [float(g[1]) for g in got] == [float(coef[i]) for i in order]


@pytest.mark.parametrize("name", ["forest8.pkl", "forest_frame.pkl"])
def test_summary_importances_are_computed_from_the_trees_as_sklearn_does(rv, name):
    forest = load(rv, name)
    imp = forest.feature_importances_   # a property: never stored in the file
    names = list(getattr(forest, "feature_names_in_", ["x%d" % i for i in range(len(imp))]))
    order = sorted(range(len(imp)), key=lambda i: (-abs(imp[i]), i))[:10]
    got = [line.split() for line in section(summary(rv, name), "largest feature_importances_")]
    assert [g[0] for g in got] == [names[i] for i in order]
    assert [float(g[1]) for g in got] == pytest.approx([imp[i] for i in order], rel=1e-12, abs=1e-15)


def test_summary_coefficients_without_names_use_sklearn_column_names(rv):
    est = load(rv, "logreg_C1.pkl")
    coef = est.coef_
    best = [max(range(coef.shape[0]), key=lambda r: (abs(coef[r, j]), -r)) for j in range(coef.shape[1])]
    order = sorted(range(coef.shape[1]), key=lambda j: (-abs(coef[best[j], j]), j))
    got = [line.split() for line in section(summary(rv, "logreg_C1.pkl"), "largest coef_")]
    assert [g[0] for g in got] == ["x%d" % j for j in order]
    assert [float(g[1]) for g in got] == [float(coef[best[j], j]) for j in order]
    assert [g[3] for g in got] == ["%d)" % best[j] for j in order]


def test_summary_fitted_facts_of_a_forest(rv):
    forest = load(rv, "forest8.pkl")
    text = summary(rv, "forest8.pkl")
    nodes = [t.tree_.node_count for t in forest.estimators_]
    depth = max(t.tree_.max_depth for t in forest.estimators_)
    assert ("ensemble  8 DecisionTreeClassifier: %d nodes in all (%d-%d a tree), depth up to %d"
            % (sum(nodes), min(nodes), max(nodes), depth)) in text.splitlines()
    fitted = dict(re.match(r"  (\S+)\s+(.*)$", line).groups() for line in section(text, "fitted"))
    assert fitted["n_features_in_"] == str(forest.n_features_in_)
    assert fitted["classes_"] == "[%s]" % " ".join(str(c) for c in forest.classes_)
    assert fitted["estimators_"] == "list of 8 DecisionTreeClassifier"


def test_summary_header(rv):
    est = load(rv, "logreg_C1.pkl")
    lines = summary(rv, "logreg_C1.pkl").splitlines()
    assert lines[0] == "class     %s.%s" % (type(est).__module__, type(est).__qualname__)
    import sklearn   # the fixture was written by this sklearn (setstate drops _sklearn_version)
    assert lines[1].startswith("versions  sklearn %s, numpy " % sklearn.__version__)
    assert lines[2] == "verdict   safe"


def test_summary_of_a_non_estimator_lists_arrays_by_name(tmp_path):
    state = {"layer1.weight": np.arange(12, dtype=np.float32).reshape(3, 4),
             "layer1.bias": np.zeros(3, dtype=np.float32), "step": 7}
    p = tmp_path / "state.pkl"
    p.write_bytes(pickle.dumps(state, protocol=4))
    text = cli("summary", p, check=True).stdout.decode()
    assert "arrays    2, 15 elements (parameters), 60 bytes" in text
    assert re.search(r"^  layer1\.weight\s+float32 \(3, 4\)$", text, re.M)
    assert re.search(r"^  layer1\.bias\s+float32 \(3,\)$", text, re.M)


# ---- modelfs diff ------------------------------------------------------------------------

def test_diff_of_a_model_with_itself_is_empty(rv):
    rc, out, err = diff(rv, "pipe_v1.pkl", "pipe_v1.pkl")
    assert (rc, out) == (0, ""), err


def test_diff_of_two_formats_states_only_container_facts(rv, tmp_path):
    import joblib
    est = load(rv, "logreg_C1.pkl")
    joblib.dump(est, tmp_path / "logreg.joblib.z", compress=("zlib", 3))
    p = cli("diff", "--json", path(rv, "logreg_C1.pkl"), tmp_path / "logreg.joblib.z")
    doc = json.loads(p.stdout)
    assert p.returncode == 1
    assert {c["kind"] for c in doc["changes"]} == {"fact"}
    facts = {c["what"]: (c["a"], c["b"]) for c in doc["changes"]}
    assert facts["format"] == ("pickle", "joblib")
    assert facts["compression"] == ("none", "zlib")


def test_diff_forests_5_vs_8_trees(rv):
    f5, f8 = load(rv, "forest5.pkl"), load(rv, "forest8.pkl")
    rc, out, err = diff(rv, "forest5.pkl", "forest8.pkl")
    assert rc == 1, err
    lines = out.splitlines()
    assert lines[2:5] == ["n_estimators: 5 %s 8" % ARROW, "estimators_: 5 entries %s 8 entries" % ARROW,
                          lines[4]]
    added = [line for line in lines if line.startswith("+ ")]
    want = ["+ estimators_/%d: DecisionTreeClassifier (tree of %d nodes, depth %d)"
            % (i, t.tree_.node_count, t.tree_.max_depth) for i, t in enumerate(f8.estimators_)
            if i >= len(f5.estimators_)]
    assert added == want
    # the first five trees are the same trees (same seeds): nothing else differs
    assert len(lines) == 2 + 2 + len(want)


def array_change(a, b):
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    changed = ~((a == b) | (np.isnan(a) & np.isnan(b)))
    d = np.abs(b - a)[changed]
    with np.errstate(divide="ignore"):
        r = np.where(a[changed] != 0, d / np.abs(np.where(a[changed] != 0, a[changed], 1)), np.inf)
    return int(changed.sum()), (float(d.max()) if d.size else None), (float(r.max()) if r.size else None)


def check_array(change, a, b):
    n, mabs, mrel = array_change(a, b)
    assert change["kind"] == "array"
    assert change["count"] == np.asarray(a).size
    assert change["changed"] == n
    if n:
        assert change["max_abs"] == pytest.approx(mabs, rel=1e-12)
        want = "inf" if np.isinf(mrel) else pytest.approx(mrel, rel=1e-12)
        assert change["max_rel"] == want


def test_diff_retrained_pipeline_against_numpy(rv):
    p1, p2 = load(rv, "pipe_v1.pkl"), load(rv, "pipe_v2.pkl")
    rc, ch, doc = diff_json(rv, "pipe_v1.pkl", "pipe_v2.pkl")
    assert rc == 1 and not doc["same"]
    c1, c2 = p1.named_steps["clf"], p2.named_steps["clf"]
    # hyperparameters from get_params(): exactly those that changed are reported
    for k, v in c1.get_params(deep=False).items():
        w = c2.get_params(deep=False)[k]
        key = "steps/clf/1/" + k
        if plain(v) and v != w:
            assert (ch[key]["a"], ch[key]["b"]) == (repr(v), repr(w))
        else:
            assert key not in ch
    for attr in ("coef_", "intercept_"):
        check_array(ch["steps/clf/1/" + attr], getattr(c1, attr), getattr(c2, attr))
    s1 = p1.named_steps["prep"].named_transformers_["num"]
    s2 = p2.named_steps["prep"].named_transformers_["num"]
    for attr in ("mean_", "var_", "scale_"):
        check_array(ch["steps/prep/1/transformers_/num/1/" + attr], getattr(s1, attr), getattr(s2, attr))
    assert ch["steps/prep/1/transformers_/num/1/n_samples_seen_"]["b"] == repr(s2.n_samples_seen_)


@pytest.mark.parametrize("pair", [("pipe_v1.pkl", "pipe_v2.pkl"), ("text_v1.pkl", "text_v2.pkl"),
                                  ("grid_v1.pkl", "grid_v2.pkl"), ("forest5.pkl", "forest8.pkl")])
def test_diff_paths_are_paths_of_the_tree(rv, pair):
    """Each change names an entry of the model directory (B's for what was added)."""
    _, _, doc = diff_json(rv, *pair)
    entries = set()
    for name in pair:
        for line in cli("tree", path(rv, name)).stdout.decode().splitlines():
            entries.add(line.split(None, 2)[2].split(" -> ")[0])
    paths = [c["path"] for c in doc["changes"] if "path" in c]
    assert paths
    for p in paths:
        assert {p, p + ".npy", p + ".json"} & entries, p


def test_diff_text_model_with_changed_vocabulary(rv):
    p1, p2 = load(rv, "text_v1.pkl"), load(rv, "text_v2.pkl")
    rc, ch, _ = diff_json(rv, "text_v1.pkl", "text_v2.pkl")
    v1, v2 = p1.named_steps["tfidf"].vocabulary_, p2.named_steps["tfidf"].vocabulary_
    added = len(set(v2) - set(v1))
    removed = len(set(v1) - set(v2))
    changed = sum(1 for k in set(v1) & set(v2) if v1[k] != v2[k])
    voc = ch["steps/tfidf/1/vocabulary_"]
    assert voc["a"] == "%d entries" % len(v1)
    want = "%d entries" % len(v2)
    if added:
        want += ", %d added" % added
    if removed:
        want += ", %d removed" % removed
    if changed:
        want += ", %d changed" % changed
    assert voc["b"].startswith(want + " (")
    coef = ch["steps/svm/1/coef_"]
    assert (coef["a"], coef["b"]) == ("float64 %s" % (p1[-1].coef_.shape,),
                                      "float64 %s" % (p2[-1].coef_.shape,))


def test_diff_grid_search(rv):
    g1, g2 = load(rv, "grid_v1.pkl"), load(rv, "grid_v2.pkl")
    rc, ch, _ = diff_json(rv, "grid_v1.pkl", "grid_v2.pkl")
    assert ch["param_grid/C"]["a"] == repr(g1.param_grid["C"])
    assert ch["param_grid/C"]["b"] == repr(g2.param_grid["C"])
    if g1.best_index_ != g2.best_index_:
        assert ch["best_index_"]["b"] == repr(int(g2.best_index_))
    c1, c2 = g1.best_estimator_.coef_, g2.best_estimator_.coef_
    assert not np.array_equal(c1, c2)   # the wider grid picks another C
    check_array(ch["best_estimator_/coef_"], c1, c2)
    assert (ch["best_estimator_/C"]["a"], ch["best_estimator_/C"]["b"]) == (
        repr(g1.best_estimator_.C), repr(g2.best_estimator_.C))


def test_diff_hyperparameter_text_and_exit_status(rv):
    rc, out, err = diff(rv, "logreg_C1.pkl", "logreg_C0.01.pkl")
    assert rc == 1
    assert out.splitlines()[:3] == ["--- " + path(rv, "logreg_C1.pkl"),
                                    "+++ " + path(rv, "logreg_C0.01.pkl"),
                                    "C: 1.0 %s 0.01" % ARROW]
    assert cli("diff", path(rv, "logreg_C1.pkl"), path(rv, "missing.pkl")).returncode == 2
    assert cli("diff", path(rv, "logreg_C1.pkl")).returncode == 2


def test_diff_of_a_cut_model_is_trouble(rv, tmp_path):
    data = open(path(rv, "logreg_C1.pkl"), "rb").read()
    (tmp_path / "cut.pkl").write_bytes(data[:300])
    p = cli("diff", path(rv, "logreg_C1.pkl"), tmp_path / "cut.pkl")
    assert p.returncode == 2
    assert "status: ok %s" % ARROW in p.stdout.decode()


def test_diff_of_model_directories_of_a_mount(rv):
    _, want, _ = diff(rv, "pipe_v1.pkl", "pipe_v2.pkl")
    with mounted(rv) as m:
        a, b = os.path.join(m, "pipe_v1.pkl"), os.path.join(m, "pipe_v2.pkl")
        p = cli("diff", a, b)
    assert p.returncode == 1, p.stderr
    assert p.stdout.decode().splitlines()[2:] == want.splitlines()[2:]


# ---- git diff through the textconv driver --------------------------------------------------

def git(repo, *args):
    env = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", HOME=str(repo),
               GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.org",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.org")
    p = subprocess.run(["git", "-C", str(repo), *args], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env, timeout=120)
    assert p.returncode == 0, p.stderr.decode()
    return p.stdout.decode()


def test_git_diff_of_committed_models_uses_the_summary(rv, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / ".gitattributes").write_text("*.pkl diff=modelfs\n")
    git(repo, "config", "diff.modelfs.textconv", "%s summary" % MODELFS)
    shutil.copy(path(rv, "logreg_C1.pkl"), repo / "model.pkl")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "C=1")
    shutil.copy(path(rv, "logreg_C0.01.pkl"), repo / "model.pkl")
    git(repo, "commit", "-q", "-a", "-m", "C=0.01")
    out = git(repo, "diff", "HEAD~1", "HEAD")
    assert "Binary files" not in out
    minus = [l for l in out.splitlines() if l.startswith("-") and not l.startswith("---")]
    plus = [l for l in out.splitlines() if l.startswith("+") and not l.startswith("+++")]
    assert re.search(r"^-    C\s+1\.0$", "\n".join(minus), re.M), out
    assert re.search(r"^\+  \* C\s+0\.01   \(default 1\.0\)$", "\n".join(plus), re.M), out
    log = git(repo, "log", "-p", "--", "model.pkl")
    assert "(default 1.0)" in log
    # the summary of each side is what `modelfs summary` prints for that file
    shown = git(repo, "show", "HEAD:model.pkl", "--textconv")
    assert shown == summary(rv, "logreg_C0.01.pkl")


def test_diff_states_verdict_and_untrusted_changes_once(rv, tmp_path):
    import fractions
    est = load(rv, "logreg_C1.pkl")
    est.note_ = fractions.Fraction(1, 3)      # a global outside the trust list
    (tmp_path / "noted.pkl").write_bytes(pickle.dumps(est, protocol=4))
    p = cli("diff", "--json", path(rv, "logreg_C1.pkl"), tmp_path / "noted.pkl")
    assert p.returncode == 1
    changes = json.loads(p.stdout)["changes"]
    kinds = [(c["kind"], c.get("what"), c["a"], c["b"]) for c in changes]
    assert ("verdict", "verdict", "safe", "untrusted") in kinds
    assert ("trust", "untrusted", None, "fractions.Fraction") in kinds
    assert [c for c in changes if c["kind"] == "added"] == [
        {"kind": "added", "path": "note_", "a": None, "b": "Fraction"}]
    assert len(changes) == 3


def test_diff_of_different_classes_says_so_at_the_root(rv):
    rc, out, err = diff(rv, "logreg_C1.pkl", "forest5.pkl")
    assert rc == 1
    a, b = load(rv, "logreg_C1.pkl"), load(rv, "forest5.pkl")
    assert out.splitlines()[2] == ".: class %s.%s %s %s.%s" % (
        type(a).__module__, type(a).__qualname__, ARROW, type(b).__module__, type(b).__qualname__)


def test_diff_states_the_numpy_generation_of_module_names(models_dir):
    """The same logreg as numpy 1 and as numpy >= 2 write it (make_fixtures' _np2 variant)."""
    a, b = os.path.join(models_dir, "logreg.p4.pkl"), os.path.join(models_dir, "logreg_np2.p4.pkl")
    p = cli("diff", "--json", a, b)
    assert p.returncode == 1, p.stderr
    changes = json.loads(p.stdout)["changes"]
    assert changes == [{"kind": "fact", "what": "numpy", "a": "numpy 1.x (numpy.core names)",
                        "b": "numpy >= 2 (numpy._core names)"}]
    assert "numpy >= 2 (numpy._core names)" in cli("summary", b, check=True).stdout.decode()


def write_torch_pair(tmp_path):
    code = """
import torch
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
torch.save(net.state_dict(), "a.pt")
with torch.no_grad():
    net[2].weight[0, 1] += 0.5
    net[2].bias.mul_(2)
torch.save(net.state_dict(), "b.pt")
"""
    subprocess.run(["/usr/bin/python3", "-c", code], cwd=tmp_path, check=True, timeout=300)
    import torch
    return (torch.load(tmp_path / "a.pt", weights_only=True),
            torch.load(tmp_path / "b.pt", weights_only=True))


def test_summary_and_diff_of_a_pytorch_state_dict(tmp_path):
    a, b = write_torch_pair(tmp_path)
    text = cli("summary", tmp_path / "a.pt", check=True).stdout.decode()
    n = sum(t.numel() for t in a.values())
    nbytes = sum(t.numel() * t.element_size() for t in a.values())
    assert "arrays    %d, %d elements (parameters), %d bytes" % (len(a), n, nbytes) in text
    for k, t in a.items():
        dt = str(t.numpy().dtype)
        assert re.search(r"^  %s\s+%s %s$" % (re.escape(k), dt, re.escape(str(tuple(t.shape)))),
                         text, re.M), (k, text)
    p = cli("diff", "--json", tmp_path / "a.pt", tmp_path / "b.pt")
    assert p.returncode == 1, p.stderr
    ch = {c["path"]: c for c in json.loads(p.stdout)["changes"]}
    assert set(ch) == {k for k in a if not np.array_equal(a[k].numpy(), b[k].numpy())}
    for k in ch:
        check_array(ch[k], a[k].numpy(), b[k].numpy())


def test_a_long_text_is_cut_between_characters(tmp_path):
    from sklearn.linear_model import LogisticRegression
    long = "a" + "ü" * 60      # two-byte characters from an odd offset on
    (tmp_path / "m.pkl").write_bytes(pickle.dumps(LogisticRegression(solver=long)))
    out = cli("summary", tmp_path / "m.pkl", check=True).stdout
    line = [l for l in out.decode("utf-8").splitlines() if " solver " in l][0]   # valid UTF-8
    value = line.split("solver", 1)[1].split("   (default")[0].strip()
    assert value.endswith("\u2026") and repr(long).startswith(value[:-1])
    assert len(value.encode()) <= 60


def test_an_inserted_step_changes_nothing_else(tmp_path):
    from sklearn.datasets import load_iris
    from sklearn.feature_selection import VarianceThreshold
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    X, y = load_iris(return_X_y=True)
    a = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]).fit(X, y)
    b = Pipeline([("scale", StandardScaler()), ("select", VarianceThreshold()),
                  ("clf", LogisticRegression())]).fit(X, y)
    assert np.array_equal(a[-1].coef_, b[-1].coef_)   # the step keeps every feature
    (tmp_path / "a.pkl").write_bytes(pickle.dumps(a))
    (tmp_path / "b.pkl").write_bytes(pickle.dumps(b))
    p = cli("diff", tmp_path / "a.pkl", tmp_path / "b.pkl")
    assert p.returncode == 1
    assert p.stdout.decode().splitlines()[2:] == ["+ steps/select: VarianceThreshold"]
