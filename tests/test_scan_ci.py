"""`modelfs scan` for the people who run it in CI: --where (and meta.json's
verdict_where), --format sarif (SARIF 2.1.0), --fail-on dangerous|untrusted,
and no false alarm on the models scikit-learn itself writes.
"""
import io
import json
import os
import pickle
import subprocess
import sys

import pytest

from conftest import cli

PY = "/usr/bin/python3"



def u(s):
    return b"\x8c" + bytes([len(s)]) + s.encode()


# {"clf": mypkg.models.Thing(), "steps": [1, os.system("true")]} by hand
UNTRUSTED_AND_DANGEROUS = (
    b"\x80\x04}(" + u("clf") + u("mypkg.models") + u("Thing") + b"\x93)\x81"
    + u("steps") + b"](K\x01" + u("os") + u("system") + b"\x93" + u("true") + b"\x85Reu.")
UNTRUSTED = b"\x80\x02cmypkg.models\nThing\n)\x81}(U\x01aK\x01ub."
SAFE = pickle.dumps({"a": [1, 2.5]}, protocol=4)
TRUNCATED = SAFE[:-3]


def write(tmp_path, name, data):
    f = tmp_path / name
    f.write_bytes(data)
    return str(f)


def test_where_text_json_and_meta(tmp_path):
    f = write(tmp_path, "m.pkl", UNTRUSTED_AND_DANGEROUS)
    want = {"mypkg.models.Thing": ["clf"], "os.system": ["steps/1"]}
    p = cli("scan", "--json", "--where", f)
    assert p.returncode == 2
    doc = json.loads(p.stdout.decode())[0]
    assert doc["where"] == want
    p = cli("scan", "--where", f)
    lines = p.stdout.decode().splitlines()
    assert lines[0].split("\t")[:2] == [f, "dangerous"]
    assert lines[1:] == ["\twhere\tmypkg.models.Thing\tclf", "\twhere\tos.system\tsteps/1"]
    meta = json.loads(cli("cat", f, "meta.json").stdout)
    assert meta["verdict_where"] == want
    # the paths are the tree's: each names the object that calls the global
    assert cli("cat", f, "clf/__class__").stdout == b"mypkg.models.Thing\n"
    assert cli("cat", f, "steps/1/__class__").stdout == b"os.system\n"


def test_where_without_flags_is_not_printed(tmp_path):
    f = write(tmp_path, "m.pkl", UNTRUSTED)
    doc = json.loads(cli("scan", "--json", f).stdout.decode())[0]
    assert "where" not in doc
    assert cli("scan", f).stdout.decode().count("\n") == 1
    meta = json.loads(cli("cat", f, "meta.json").stdout)
    assert meta["verdict_where"] == {"mypkg.models.Thing": ["."]}


def test_safe_model_has_empty_where(tmp_path):
    f = write(tmp_path, "m.pkl", SAFE)
    meta = json.loads(cli("cat", f, "meta.json").stdout)
    assert meta["verdict"] == "safe" and meta["verdict_where"] == {}


@pytest.mark.parametrize("data,fail_on,rc", [
    (UNTRUSTED, None, 1), (UNTRUSTED, "untrusted", 1), (UNTRUSTED, "dangerous", 0),
    (SAFE, "dangerous", 0), (UNTRUSTED_AND_DANGEROUS, "dangerous", 2),
    (TRUNCATED, "dangerous", 3)])
def test_fail_on(tmp_path, data, fail_on, rc):
    f = write(tmp_path, "m.pkl", data)
    args = ["--fail-on", fail_on] if fail_on else []
    assert cli("scan", *args, f).returncode == rc
    if fail_on:
        assert cli("scan", f"--fail-on={fail_on}", f).returncode == rc


@pytest.mark.parametrize("bad", [["--fail-on", "safe"], ["--fail-on"], ["--format", "xml"],
                                 ["--format"]])
def test_bad_options_are_usage_errors(tmp_path, bad):
    f = write(tmp_path, "m.pkl", SAFE)
    p = cli("scan", *bad, f)
    assert p.returncode == 64 and p.stderr


# ---- SARIF 2.1.0 ------------------------------------------------------------------

LEVELS = {"none", "note", "warning", "error"}


def check_sarif(doc):
    """The structure SARIF 2.1.0 requires (sarifLog, run, tool, result, location)."""
    assert doc["version"] == "2.1.0"
    assert doc["$schema"].endswith("sarif-2.1.0.json")
    assert isinstance(doc["runs"], list) and len(doc["runs"]) == 1
    run = doc["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "modelfs"
    rules = driver["rules"]
    ids = [r["id"] for r in rules]
    assert len(ids) == len(set(ids))
    for r in rules:
        assert r["shortDescription"]["text"] and r["defaultConfiguration"]["level"] in LEVELS
    assert isinstance(run["results"], list)
    for res in run["results"]:
        assert res["ruleId"] in ids and ids[res["ruleIndex"]] == res["ruleId"]
        assert res["level"] in LEVELS
        assert isinstance(res["message"]["text"], str) and res["message"]["text"]
        for loc in res["locations"]:
            uri = loc["physicalLocation"]["artifactLocation"]["uri"]
            assert uri and " " not in uri
            for ll in loc.get("logicalLocations", []):
                assert ll["fullyQualifiedName"]
    return run


def test_sarif(tmp_path):
    d = tmp_path / "models dir"
    d.mkdir()
    bad = write(d, "bad model.pkl", UNTRUSTED_AND_DANGEROUS)
    ok = write(d, "ok.pkl", SAFE)
    cut = write(d, "cut.pkl", TRUNCATED)
    p = cli("scan", "--format", "sarif", bad, ok, cut)
    assert p.returncode == 2
    run = check_sarif(json.loads(p.stdout.decode("utf-8")))
    by_rule = {}
    for res in run["results"]:
        uri = res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        by_rule.setdefault(res["ruleId"], []).append((uri, res))
    rules = {r["id"]: r["name"] for r in run["tool"]["driver"]["rules"]}
    names = {rules[k]: v for k, v in by_rule.items()}
    assert set(names) == {"DangerousGlobal", "UntrustedGlobal", "IncompleteFile"}
    (uri, res), = names["DangerousGlobal"]
    assert uri.endswith("/models%20dir/bad%20model.pkl") and uri.startswith("file:///")
    assert res["level"] == "error" and "os.system" in res["message"]["text"]
    assert [l["fullyQualifiedName"] for l in res["locations"][0]["logicalLocations"]] == ["steps/1"]
    (uri, res), = names["UntrustedGlobal"]
    assert res["level"] == "warning" and "mypkg.models.Thing" in res["message"]["text"]
    (uri, res), = names["IncompleteFile"]
    assert uri.endswith("cut.pkl") and "truncated" in res["message"]["text"]
    assert not any(u.endswith("ok.pkl") for v in by_rule.values() for u, _ in v)


def test_sarif_hazard_and_empty_run(tmp_path):
    hazard = write(tmp_path, "h.pkl", b"\x80\x04\x8c\x04json\x8c\x07decoder\x93}b.")
    p = cli("scan", "--format=sarif", hazard)
    run = check_sarif(json.loads(p.stdout.decode()))
    assert p.returncode == 2
    names = {r["id"]: r["name"] for r in run["tool"]["driver"]["rules"]}
    assert [names[r["ruleId"]] for r in run["results"]] == ["UntrustedGlobal", "CodeRunningConstruct"]
    ok = write(tmp_path, "ok.pkl", SAFE)
    p = cli("scan", "--format", "sarif", ok)
    assert p.returncode == 0 and check_sarif(json.loads(p.stdout.decode()))["results"] == []


# ---- no false alarm on what scikit-learn writes -------------------------------------

MAKE = r"""
import pickle, sys, joblib, numpy as np
from sklearn.datasets import load_iris
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.linear_model import LogisticRegression
from sklearn.ensemble import RandomForestClassifier, HistGradientBoostingClassifier
X, y = load_iris(return_X_y=True)
models = {
    "logreg": LogisticRegression(max_iter=500).fit(X, y),
    "forest": RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y),
    "hgb": HistGradientBoostingClassifier(max_iter=3).fit(X, y),
    "pipe": Pipeline([("s", StandardScaler()), ("c", LogisticRegression(max_iter=500))]).fit(X, y),
}
out = sys.argv[1]
for name, m in models.items():
    for proto in (2, 4, 5):
        pickle.dump(m, open(f"{out}/{name}.p{proto}.pkl", "wb"), protocol=proto)
    joblib.dump(m, f"{out}/{name}.joblib")
    joblib.dump(m, f"{out}/{name}.joblib.gz", compress=3)
"""


def test_stock_sklearn_models_are_never_dangerous(tmp_path):
    subprocess.run([PY, "-c", MAKE, str(tmp_path)], check=True, timeout=300)
    p = cli("scan", "--json", "--where", str(tmp_path), timeout=300)
    doc = json.loads(p.stdout.decode())
    assert len(doc) == 20
    for m in doc:
        assert m["verdict"] in ("safe", "untrusted"), m
        assert m["dangerous"] == [] and m["hazards"] == [], m
    assert p.returncode in (0, 1)
    assert cli("scan", "--fail-on", "dangerous", str(tmp_path), timeout=300).returncode == 0
