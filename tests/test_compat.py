"""`modelfs check` and compat.json: will a model load in a given environment?

Truth comes from Python: files written here by scripts/make_compat_fixtures.py are
loaded by this machine's Python (scikit-learn 1.2.1, numpy 1.24) and the verdict
for that environment must match what pickle.load did.  Real files from
tests/data/compat (copied from ../shared/fixtures/realworld, never loaded) are
checked against their manifest facts and the version rules they illustrate.
"""
import csv
import json
import os

import pytest

from conftest import SHARED_FIXTURES, TESTDATA, cat, cli, run_script

COMPAT = os.path.join(TESTDATA, "compat")
REALWORLD = os.path.join(SHARED_FIXTURES, "realworld")
EXIT = {"loads": 0, "loads with warnings": 1, "fails": 2, "unreadable": 3}


@pytest.fixture(scope="session")
def fx(tmp_path_factory):
    out = tmp_path_factory.mktemp("compat")
    run_script("make_compat_fixtures.py", out)
    with open(os.path.join(out, "expected.json")) as f:
        exp = json.load(f)
    exp["dir"] = str(out)
    return exp


def here_target(fx):
    return ["--sklearn", fx["sklearn"], "--numpy", fx["numpy"], "--python", fx["python"]]


def check_json(path, *target):
    p = cli("check", path, "--json", *target)
    doc = json.loads(p.stdout)
    return p.returncode, doc


def real(name):
    return os.path.join(COMPAT, name)


# --- generated files: our verdict for this machine == what pickle.load did here ------------

@pytest.mark.parametrize("name", ["tree_p4.pkl", "tree13_p4.pkl", "scaler_np2_p2.pkl", "scaler_p5.pkl",
                                  "lambda_cloudpickle_p5.pkl", "main_class.pkl", "truncated.pkl"])
def test_verdict_matches_python(fx, name):
    path = os.path.join(fx["dir"], name)
    outcome = fx["files"][name]
    rc, doc = check_json(path, *here_target(fx))
    if name == "truncated.pkl":
        assert outcome.startswith("fails") and rc == 3 and doc["verdict"] == "unreadable"
        return
    want = {"loads": 0, "warns": 1}.get(outcome, 2)
    assert rc == want, (outcome, doc["reasons"])
    assert EXIT[doc["verdict"]] == rc


def test_exit_status_is_worst_of_files(fx):
    d = fx["dir"]
    p = cli("check", os.path.join(d, "tree_p4.pkl"), os.path.join(d, "main_class.pkl"), *here_target(fx))
    assert p.returncode == 2
    text = p.stdout.decode()
    assert "tree_p4.pkl: loads\n" in text and "main_class.pkl: fails\n" in text


def test_tree_node_layout(fx):
    rc, doc = check_json(os.path.join(fx["dir"], "tree13_p4.pkl"), "--sklearn", "1.2.1")
    assert rc == 2
    assert doc["sklearn_version"] == "1.3.2"
    (nodes,) = doc["tree_nodes"]
    assert nodes["missing_go_to_left"] is True and nodes["path"] == "tree_/nodes"
    assert any("incompatible dtype" in r["reason"] for r in doc["reasons"])
    rc, doc = check_json(os.path.join(fx["dir"], "tree13_p4.pkl"), "--sklearn", "1.3.2")
    assert rc == 0, doc["reasons"]
    rc, doc = check_json(os.path.join(fx["dir"], "tree_p4.pkl"), "--sklearn", "1.5")
    assert rc == 2 and doc["tree_nodes"][0]["missing_go_to_left"] is False
    assert doc["requires"]["sklearn"]["below"] == "1.3"
    rc, _ = check_json(os.path.join(fx["dir"], "tree_p4.pkl"), "--sklearn", "1.2.2")
    assert rc == 1                           # only the version warning


def test_numpy2_names(fx):
    path = os.path.join(fx["dir"], "scaler_np2_p2.pkl")
    rc, doc = check_json(path, "--numpy", "1.24")
    assert rc == 2 and doc["numpy"]["generation"] == "2"
    assert doc["numpy"]["evidence"].startswith("numpy._core.")
    rc, doc = check_json(path, "--numpy", "2.1")
    assert rc == 0


def test_code_object_python_version(fx):
    path = os.path.join(fx["dir"], "lambda_cloudpickle_p5.pkl")
    rc, doc = check_json(path, "--python", "3.10")
    assert rc == 2
    (code,) = doc["code_objects"]
    assert code["producer"] == "cloudpickle" and code["form"] == "py311" and code["args"] == 18
    rc, doc = check_json(path, "--python", "3.7")
    assert rc == 2 and any(c["match"] == "5" for c in doc["checks"] if c["kind"] == "protocol")


def test_main_class(fx):
    rc, doc = check_json(os.path.join(fx["dir"], "main_class.pkl"), "--python", fx["python"])
    assert rc == 2
    assert [c["evidence"] for c in doc["checks"] if c["kind"] == "main"] == ["__main__.Thresholder"]


def test_sidecar_declared_environment(fx):
    path = os.path.join(fx["dir"], "sidecar.pkl")
    with open(path + ".meta") as f:
        declared = json.load(f)
    rc, doc = check_json(path)
    assert rc == 0 and doc["verdict"] is None and doc["target"] is None
    assert doc["declared"] == declared
    keys = {d["key"]: d for d in doc["disagreements"]}
    assert set(keys) == {"sklearn"}
    assert keys["sklearn"]["declared"] == "1.3.0" and keys["sklearn"]["found"] == fx["sklearn"]


def test_compat_json_entry_equals_check_output(fx):
    path = os.path.join(fx["dir"], "tree_p4.pkl")
    entry = cat(path, "compat.json")
    p = cli("check", path, "--json", check=True)
    assert entry == p.stdout
    assert entry.endswith(b"}\n") and json.loads(entry)["sklearn_version"] == fx["sklearn"]


def test_usage_errors():
    assert cli("check").returncode == 64
    assert cli("check", real("CodHeK__mitiBot__saved__LR.pkl"), "--tensorflow", "2").returncode == 64


# --- real files: facts and the rules they illustrate --------------------------------------

def test_moved_module_real_file():
    path = real("0101011__salary-prediction-scikitlearn-flask__model.pkl")   # sklearn 0.21.3
    rc, doc = check_json(path, "--sklearn", "0.24")
    assert rc == 2 and doc["sklearn_version"] == "0.21.3"
    assert any(c["match"] == "sklearn.linear_model.base" for c in doc["checks"])
    rc, _ = check_json(path, "--sklearn", "0.21.3")
    assert rc == 0
    rc, _ = check_json(path, "--sklearn", "0.22")
    assert rc == 1                           # old path still importable, version differs


def test_private_module_needs_022():
    rc, doc = check_json(real("krishnaik06__Airfoil-Regression-With-Deployment__model.pkl"), "--sklearn", "0.21")
    assert rc == 2 and doc["requires"]["sklearn"]["min"] == "0.22"


def test_logistic_path_real_file():
    rc, doc = check_json(real("CodHeK__mitiBot__saved__LR.pkl"), "--sklearn", "0.24.2")
    assert rc == 2 and doc["sklearn_version"] == "0.19.1"


def test_externals_joblib_pre_018():
    rc, doc = check_json(real("christine2623__Mao__model.pkl"), "--sklearn", "0.23")
    assert rc == 2 and doc["sklearn_version"] == "pre-0.18"
    assert any(c["match"] == "sklearn.externals.joblib" for c in doc["checks"])


def test_numpy2_real_file():
    rc, doc = check_json(real("AbdallahIbrahim27__Credit-Card-Fraud-Detection__scaler.pkl"),
                         "--numpy", "1.24", "--sklearn", "1.6.1")
    assert rc == 2 and doc["numpy"]["generation"] == "2" and doc["sklearn_version"] == "1.6.1"


def test_python2_strings():
    rc, doc = check_json(real("joblib__joblib__joblib__test__data__joblib_0.10.0_pickle_py27_np17.pkl.xz"),
                         "--python", "3.11")
    assert rc == 1 and any(c["kind"] == "py2str" for c in doc["checks"])


def test_skops_protocol():
    rc, doc = check_json(real("logreg_proto0_v0.5.0.skops"), "--skops", "0.2")
    assert doc["format"] == "skops" and doc["skops_protocol"] == 0
    assert rc == 2
    rc, _ = check_json(real("logreg_proto0_v0.5.0.skops"), "--skops", "0.11")
    assert rc in (0, 1)


def manifest_rows():
    """The shared manifest's rows beside the checkout; on a clone without
    ../shared, those of the copies in tests/data/realworld (never an empty
    parameter set: pytest would report it skipped)."""
    shared = os.path.join(REALWORLD, "manifest.tsv")
    path = shared if os.path.exists(shared) else os.path.join(TESTDATA, "realworld", "manifest.tsv")
    files = os.path.join(REALWORLD, "files") if path == shared else os.path.dirname(path)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    for r in rows:
        r["path"] = os.path.join(files, r["filename"])
    return [r for r in rows if r["pickle_protocol"].startswith("p") and r["static_walk"] == "complete"
            and int(r["size"]) < 400_000 and os.path.exists(r["path"])]


@pytest.mark.parametrize("row", manifest_rows(), ids=lambda r: r["filename"][:60] if isinstance(r, dict) else None)
def test_realworld_facts_match_manifest(row):
    rc, doc = check_json(row["path"])
    assert rc in (0, 3)
    if rc == 3:
        pytest.fail("decode failed: %s" % doc.get("error"))
    ours = set(doc["sklearn_versions"]) - {"pre-0.18"}
    theirs = set() if row["sklearn_versions"] == "-" else set(row["sklearn_versions"].split(";"))
    assert ours == theirs
    gen = {"numpy.core": "1", "numpy._core": "2", "-": None}[row["numpy_module_gen"]]
    assert doc["numpy"]["generation"] == gen
