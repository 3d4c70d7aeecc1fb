"""`modelfs scan FILE|DIR...`: one verdict per model, exit status for CI.

Exit status: 0 safe, 1 untrusted, 2 dangerous, 3 incomplete/unreadable (worst wins,
dangerous first), 64 usage.  A model that did not decode fully is never "safe".
The pickles here are written by hand or by pickle.dumps of plain data; the truth
for sklearn models is what the real sklearn wrote.
"""
import json
import os
import pickle
import subprocess

import pytest

from conftest import cli, MODELFS

SAFE = pickle.dumps([1, 2.5, "x", None], protocol=4)
UNTRUSTED = b"\x80\x02cmypkg.models\nThing\n)\x81}(U\x01aK\x01ub."
DANGEROUS = b"\x80\x02cposix\nsystem\nX\x04\x00\x00\x00trueq\x00\x85R."
TRUNCATED = SAFE[:-3]


def scan(*args, **kw):
    return cli("scan", *args, **kw)


def scan_json(*args):
    p = scan("--json", *args)
    doc = json.loads(p.stdout.decode("utf-8"))
    assert isinstance(doc, list)
    return p.returncode, doc


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return path


@pytest.fixture
def tree(tmp_path):
    d = tmp_path / "models"
    write(str(d / "a_safe.pkl"), SAFE)
    write(str(d / "b_untrusted.pkl"), UNTRUSTED)
    write(str(d / "sub" / "c_dangerous.pkl"), DANGEROUS)
    write(str(d / "sub" / "deeper" / "d_truncated.pkl"), TRUNCATED)
    write(str(d / "README.txt"), b"just text, not a model\n")
    write(str(d / "data.csv"), b"a,b\n1,2\n")
    write(str(d / "noext_pickle"), SAFE)           # a model by content, not by name
    return str(d)


@pytest.mark.parametrize("data,verdict,rc", [
    (SAFE, "safe", 0), (UNTRUSTED, "untrusted", 1), (DANGEROUS, "dangerous", 2),
    (TRUNCATED, "incomplete", 3)])
def test_single_file_verdict_and_exit(tmp_path, data, verdict, rc):
    f = write(str(tmp_path / "m.pkl"), data)
    p = scan(f)
    assert p.returncode == rc, p.stderr
    line = p.stdout.decode()
    assert line.count("\n") == 1
    cols = line.rstrip("\n").split("\t")
    assert cols[0] == f and cols[1] == verdict
    code, doc = scan_json(f)
    assert code == rc
    assert len(doc) == 1 and doc[0]["path"] == f and doc[0]["verdict"] == verdict
    assert doc[0]["status"] == ("error" if verdict == "incomplete" else "ok")


def test_untrusted_types_listed_sorted_unique(tmp_path):
    data = (b"\x80\x02]q\x00(czz.mod\nB\n)\x81czz.mod\nB\n)\x81caa.mod\nA\n)\x81e.")
    f = write(str(tmp_path / "m.pkl"), data)
    p = scan(f)
    assert p.returncode == 1
    assert p.stdout.decode().rstrip("\n").split("\t")[2] == "aa.mod.A,zz.mod.B"
    _, doc = scan_json(f)
    assert doc[0]["untrusted"] == ["aa.mod.A", "zz.mod.B"]
    assert doc[0]["dangerous"] == []


def test_dangerous_lists_the_globals_that_made_it(tmp_path):
    f = write(str(tmp_path / "m.pkl"), DANGEROUS)
    code, doc = scan_json(f)
    assert code == 2
    assert doc[0]["dangerous"] == ["posix.system"]
    assert "posix.system" in doc[0]["untrusted"]


def test_directory_recursion_and_model_detection(tree):
    code, doc = scan_json(tree)
    paths = [os.path.relpath(m["path"], tree) for m in doc]
    assert paths == ["README.txt", "a_safe.pkl", "b_untrusted.pkl", "data.csv", "noext_pickle",
                     "sub/c_dangerous.pkl", "sub/deeper/d_truncated.pkl"]
    verdicts = {os.path.relpath(m["path"], tree): m["verdict"] for m in doc}
    assert verdicts["README.txt"] == verdicts["data.csv"] == "not-model"   # listed, not failed
    assert verdicts["sub/deeper/d_truncated.pkl"] == "incomplete"
    assert verdicts["noext_pickle"] == "safe"
    assert code == 2          # dangerous wins over incomplete


def test_exit_status_worst_wins(tmp_path):
    s = write(str(tmp_path / "s.pkl"), SAFE)
    u = write(str(tmp_path / "u.pkl"), UNTRUSTED)
    t = write(str(tmp_path / "t.pkl"), TRUNCATED)
    d = write(str(tmp_path / "d.pkl"), DANGEROUS)
    assert scan(s, s).returncode == 0
    assert scan(s, u).returncode == 1
    assert scan(u, t).returncode == 3
    assert scan(t, d, u).returncode == 2


def test_incomplete_with_a_gadget_is_dangerous(tmp_path):
    f = write(str(tmp_path / "m.pkl"), b"cos\nsystem\n(S'touch /nonexistent/x'\n")
    code, doc = scan_json(f)
    assert code == 2
    assert doc[0]["verdict"] == "dangerous" and doc[0]["status"] == "error"


def test_unreadable_paths(tmp_path):
    missing = str(tmp_path / "nope.pkl")
    dangling = str(tmp_path / "dangling.pkl")
    os.symlink(str(tmp_path / "gone"), dangling)
    code, doc = scan_json(missing, dangling)
    assert code == 3
    assert [m["verdict"] for m in doc] == ["unreadable", "unreadable"]
    assert all(m["error"] for m in doc)


def test_not_a_model_named_explicitly_is_listed_as_not_model(tmp_path):
    # SPEC 1: what a file is comes from its bytes; a non-model is listed, never
    # "safe", and not a failure (issue 16 point 7: not "incomplete" either)
    f = write(str(tmp_path / "notes.txt"), b"hello\n")
    code, doc = scan_json(f)
    assert code == 0 and doc[0]["verdict"] == "not-model"


def test_empty_directory(tmp_path):
    p = scan(str(tmp_path))
    assert p.returncode == 0 and p.stdout == b""
    code, doc = scan_json(str(tmp_path))
    assert code == 0 and doc == []


def test_symlink_loop_terminates_and_files_once(tmp_path):
    d = tmp_path / "m"
    write(str(d / "x.pkl"), SAFE)
    os.symlink(str(d), str(d / "loop"))             # a directory link: not followed
    os.symlink(str(d / "x.pkl"), str(d / "y.pkl"))  # a file link: followed
    code, doc = scan_json(str(d))
    assert [os.path.basename(m["path"]) for m in doc] == ["x.pkl", "y.pkl"]
    assert code == 0


def test_hostile_file_names_keep_one_line_and_valid_json(tmp_path):
    name = b"we\tird\nname\xff.pkl"
    path = os.path.join(str(tmp_path).encode(), name)
    with open(path, "wb") as f:
        f.write(UNTRUSTED)
    p = subprocess.run([MODELFS, "scan", str(tmp_path)], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    assert p.returncode == 1
    assert p.stdout.count(b"\n") == 1 and p.stdout.count(b"\t") == 2
    p = subprocess.run([MODELFS, "scan", "--json", str(tmp_path)], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    doc = json.loads(p.stdout.decode("utf-8"))
    assert doc[0]["verdict"] == "untrusted"


def test_global_names_with_separators_are_escaped(tmp_path):
    f = write(str(tmp_path / "m.pkl"), b"\x80\x02cev,il\nna\tme\n)\x81.")
    p = scan(f)
    assert p.returncode == 1
    cols = p.stdout.decode().rstrip("\n").split("\t")
    assert len(cols) == 3 and cols[2] == "ev\\x2cil.na\\x09me"
    _, doc = scan_json(f)
    assert doc[0]["untrusted"] == ["ev,il.na\tme"]


def test_trust_file_adds_names(tmp_path):
    f = write(str(tmp_path / "m.pkl"), UNTRUSTED)
    trust = write(str(tmp_path / "trust.txt"), b"# mine\nmypkg.models.Thing\n")
    assert scan(f).returncode == 1
    assert scan("--trust", trust, f).returncode == 0
    assert scan("-o", "trust=" + trust, f).returncode == 0
    code, doc = scan_json("--trust", trust, f)
    assert code == 0 and doc[0]["verdict"] == "safe" and doc[0]["untrusted"] == []


def test_trust_never_hides_a_gadget(tmp_path):
    f = write(str(tmp_path / "m.pkl"), DANGEROUS)
    trust = write(str(tmp_path / "trust.txt"), b"posix.system\n")
    assert scan("--trust", trust, f).returncode == 2


def test_usage_errors(tmp_path):
    assert scan().returncode == 64
    assert scan("--bogus", str(tmp_path)).returncode == 64
    assert scan("--trust", str(tmp_path / "missing.txt"), str(tmp_path)).returncode == 64
    assert scan("-o", "color=1", str(tmp_path)).returncode == 64


def test_scan_agrees_with_meta_json(tmp_path):
    for name, data in (("s.pkl", SAFE), ("u.pkl", UNTRUSTED), ("d.pkl", DANGEROUS)):
        f = write(str(tmp_path / name), data)
        meta = json.loads(cli("cat", f, "meta.json", check=True).stdout)
        _, doc = scan_json(f)
        assert doc[0]["verdict"] == meta["verdict"], name
        untrusted = cli("cat", f, "untrusted.txt", check=True).stdout.decode().split()
        assert doc[0]["untrusted"] == untrusted, name


def test_sklearn_models_and_compressed_joblib(tmp_path):
    import io
    import joblib
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    X = np.arange(20, dtype=float).reshape(10, 2)
    lr = LogisticRegression().fit(X, [0, 1] * 5)
    d = tmp_path / "m"
    write(str(d / "lr.pkl"), pickle.dumps(lr, protocol=5))
    for comp, name in ((("zlib", 3), "lr.joblib.z"), (("lz4", 3), "lr.bin")):
        bio = io.BytesIO()
        joblib.dump(lr, bio, compress=comp)
        write(str(d / name), bio.getvalue())
    code, doc = scan_json(str(d))
    # lr.bin is found by content (a compressor's magic in front of a pickle)
    assert sorted(os.path.basename(m["path"]) for m in doc) == ["lr.bin", "lr.joblib.z", "lr.pkl"]
    for m in doc:
        assert m["status"] == "ok", m
        assert m["verdict"] == "safe", m
    assert code == 0


def test_skops_gadgets_from_shared_fixtures():
    # copies of ../shared/fixtures/skops/crafted, so a fresh clone runs this too
    crafted = os.path.join(os.path.dirname(__file__), "data", "skops", "crafted")
    f = os.path.join(crafted, "fn_os_system.skops")
    code, doc = scan_json(f)
    assert code == 2 and doc[0]["verdict"] == "dangerous" and "os.system" in doc[0]["dangerous"]
    code, doc = scan_json(os.path.join(crafted, "object_and_type_untrusted.skops"))
    assert code == 2 and "subprocess.Popen" in doc[0]["dangerous"]
