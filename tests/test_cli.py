"""test_cli.py -- the offline commands as a user meets them: ls, cat, tree, help.

Exit status 0 ok, 1 not found / entry not produced, 2 usage; every message on
stderr starts with "modelfs: " and names the file; a model that failed to decode
still shows meta.json; ls, tree and cat agree with each other.
"""
import json
import os
import pickle

import numpy as np
import pytest

from conftest import cli, parse_entry_line, tree_entries


def model(models_dir, name="logreg.p4.pkl"):
    return os.path.join(models_dir, name)


def stderr_of(p):
    return p.stderr.decode("utf-8", "replace")


def assert_message(p, *words):
    err = stderr_of(p)
    assert err.startswith("modelfs: "), "stderr should start with 'modelfs: ': %r" % err
    for w in words:
        assert w in err, "stderr should name %r: %r" % (w, err)


# ---- help, version, usage ---------------------------------------------------------------

@pytest.mark.parametrize("args", [("help",), ("--help",)])
def test_help_lists_commands_and_mount(args):
    p = cli(*args)
    assert p.returncode == 0, stderr_of(p)
    out = p.stdout.decode()
    for word in ("ls", "cat", "tree", "MOUNTPOINT", "fusermount3 -u", "--trust"):
        assert word in out, "help lacks %r:\n%s" % (word, out)


def test_version():
    p = cli("--version")
    assert p.returncode == 0
    assert p.stdout.startswith(b"modelfs ") and p.stdout.endswith(b"\n"), p.stdout


@pytest.mark.parametrize("args", [
    ("ls",), ("cat",), ("tree",), ("cat", "{m}"), ("tree", "{m}", "extra"),
    ("ls", "{m}", "a", "b"), ("ls", "-Z", "{m}"), ("cat", "--trust"),
], ids=lambda a: " ".join(a))
def test_usage_errors_exit_2(models_dir, args):
    p = cli(*[a.format(m=model(models_dir)) for a in args])
    assert p.returncode == 2, (p.returncode, stderr_of(p))
    assert_message(p)
    assert p.stdout == b""


def test_commands_help_option(models_dir):
    p = cli("ls", "--help")
    assert p.returncode == 0 and b"modelfs ls" in p.stdout


# ---- not found -------------------------------------------------------------------------

@pytest.mark.parametrize("cmd", [("ls",), ("tree",), ("cat", "meta.json")])
def test_missing_model_file_exit_1(tmp_path, cmd):
    missing = str(tmp_path / "nope.pkl")
    p = cli(cmd[0], missing, *cmd[1:])
    assert p.returncode == 1, (p.returncode, stderr_of(p))
    assert_message(p, missing)
    assert p.stdout == b""


def test_directory_is_not_a_model(models_dir):
    p = cli("ls", models_dir)
    assert p.returncode == 1
    assert_message(p, models_dir)


@pytest.mark.parametrize("args", [("cat", "no_such_entry"), ("ls", "no_such_entry"),
                                  ("cat", "coef_.npy/x"), ("cat", "meta.json/")],
                         ids=lambda a: " ".join(a))
def test_missing_entry_exit_1(models_dir, args):
    m = model(models_dir)
    p = cli(args[0], m, args[1])
    assert p.returncode == 1, (p.returncode, stderr_of(p))
    assert_message(p, m, args[1])


@pytest.mark.parametrize("entry", ["", ".", "estimators_", "estimators_/0"])
def test_cat_of_a_directory_fails(models_dir, entry):
    m = model(models_dir, "forest.p4.pkl")
    p = cli("cat", m, entry)
    assert p.returncode == 1, (p.returncode, stderr_of(p))
    assert_message(p, m)
    assert p.stdout == b""


# ---- ls / tree / cat agree -----------------------------------------------------------

def children(entries, d):
    return [p.rpartition("/")[2] for p in entries if p.rpartition("/")[0] == d]


def test_ls_root_starts_with_reserved_names(models_dir):
    p = cli("ls", model(models_dir))
    assert p.returncode == 0, stderr_of(p)
    names = p.stdout.decode().split("\n")[:-1]
    assert names[:4] == ["meta.json", "types.txt", "untrusted.txt", "object.json"], names
    assert "coef_.npy" in names and "coef_.txt" in names, names


@pytest.mark.parametrize("name", ["forest.p4.pkl", "package.p2.pkl", "gbr.p0.pkl"])
def test_ls_agrees_with_tree(models_dir, name):
    m = model(models_dir, name)
    ent = tree_entries(m)
    dirs = [""] + [p for p, e in ent.items() if e[0] == "d"][:12]
    assert len(dirs) > 1, "no directories in %s" % name
    for d in dirs:
        p = cli("ls", m, d)
        assert p.returncode == 0, stderr_of(p)
        listed = [parse_entry_line(b"f 0 " + ln)[2] for ln in p.stdout.split(b"\n")[:-1]]
        assert listed == children(ent, d), d
        p = cli("ls", "-l", m, d)
        assert p.returncode == 0, stderr_of(p)
        for ln in p.stdout.split(b"\n")[:-1]:
            kind, size, nm, target = parse_entry_line(ln)
            path = nm if not d else d + "/" + nm
            assert ent[path] == (kind, size, target), (path, ln)


def test_tree_sizes_are_cat_lengths(models_dir):
    m = model(models_dir, "svc.p2.pkl")
    ent = tree_entries(m)
    files = [p for p, e in ent.items() if e[0] == "f"]
    assert len(files) > 10
    for path in files[:25]:
        p = cli("cat", m, path)
        assert p.returncode == 0, stderr_of(p)
        assert len(p.stdout) == ent[path][1], path


def test_link_entries(models_dir):
    m = model(models_dir, "shared_array.p4.pkl")
    ent = tree_entries(m)
    assert ent["nested/second.npy"] == ("l", len("../first.npy"), "../first.npy"), ent
    first = cli("cat", m, "first.npy", check=True).stdout
    assert cli("cat", m, "nested/second.npy", check=True).stdout == first
    assert cli("cat", m, "list/0.npy", check=True).stdout == first
    p = cli("ls", "-l", m, "nested")
    assert b"second.npy -> ../first.npy" in p.stdout, p.stdout


def test_links_to_directories_are_followed(models_dir):
    """gbr: _rng -> estimators_/0/0/random_state (SPEC's own example)."""
    m = model(models_dir, "gbr.p4.pkl")
    ent = tree_entries(m)
    assert ent.get("_rng", (None,))[0] == "l", ent.get("_rng")
    target = ent["_rng"][2]
    via_link = cli("ls", m, "_rng")
    direct = cli("ls", m, target)
    assert via_link.returncode == 0 and via_link.stdout == direct.stdout != b""
    a = cli("cat", m, "_rng/__class__", check=True).stdout
    assert a == cli("cat", m, target + "/__class__", check=True).stdout


def test_cat_concatenates_like_cat(models_dir):
    m = model(models_dir)
    one = cli("cat", m, "meta.json", check=True).stdout
    two = cli("cat", m, "types.txt", check=True).stdout
    assert cli("cat", m, "meta.json", "types.txt", check=True).stdout == one + two
    p = cli("cat", m, "meta.json", "missing", "types.txt")
    assert p.returncode == 1 and p.stdout == one + two
    assert_message(p, "missing")


def test_paths_are_normalised(models_dir):
    m = model(models_dir, "package.p4.pkl")
    want = cli("cat", m, "scalars/str", check=True).stdout
    assert want == b"lbfgs\n"
    for path in ("/scalars/str", "scalars//str", "./scalars/str", "scalars/../scalars/str"):
        assert cli("cat", m, path, check=True).stdout == want, path


# ---- names that need escaping ---------------------------------------------------------

def test_control_characters_in_names_are_escaped(tmp_path):
    f = tmp_path / "names.pkl"
    obj = {"a\nb": [1, np.zeros(1)], "tab\there": [2, np.ones(1)], "back\\slash": 3,
           "sl/ash": 4, "caf\u00e9": 5}
    f.write_bytes(pickle.dumps(obj, protocol=4))
    p = cli("tree", f)
    assert p.returncode == 0, stderr_of(p)
    lines = p.stdout.split(b"\n")[:-1]
    paths = [parse_entry_line(ln)[2] for ln in lines]
    assert b"a\\nb" in p.stdout and b"tab\\there" in p.stdout and b"back\\\\slash" in p.stdout
    assert "a\nb/0" in paths and "tab\there/1.npy" in paths and "back\\slash" in paths
    assert "sl%2Fash" in paths and "caf\u00e9" in paths
    assert cli("cat", f, "a\nb/0", check=True).stdout == b"1\n"
    assert cli("cat", f, "back\\slash", check=True).stdout == b"3\n"
    assert cli("cat", f, "sl%2Fash", check=True).stdout == b"4\n"
    ls = cli("ls", f, check=True).stdout.split(b"\n")[:-1]
    assert b"a\\nb" in ls and len(ls) == 6 + len(obj)   # 6 reserved names


# ---- models that fail to decode ----------------------------------------------------------

def broken_files(models_dir, tmp_path):
    good = open(model(models_dir), "rb").read()
    files = {"truncated.pkl": good[:len(good) // 2], "garbage.pkl": b"hello, world\n" * 3,
             "empty.pkl": b"", "badop.pkl": b"\x80\x04\xff\xff."}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return [str(tmp_path / n) for n in files]


def test_error_models_still_show_meta_json(models_dir, tmp_path):
    for f in broken_files(models_dir, tmp_path):
        p = cli("cat", f, "meta.json")
        assert p.returncode == 0, (f, p.returncode, stderr_of(p))
        meta = json.loads(p.stdout)
        assert meta["status"] == "error", (f, meta)
        assert isinstance(meta.get("error"), str) and meta["error"], (f, meta)
        assert meta["size"] == os.path.getsize(f), (f, meta)
        ls = cli("ls", f)
        assert ls.returncode == 0, (f, stderr_of(ls))
        assert b"meta.json\n" in ls.stdout, (f, ls.stdout)


def test_truncated_model_error_names_an_offset(models_dir, tmp_path):
    f = broken_files(models_dir, tmp_path)[0]
    meta = json.loads(cli("cat", f, "meta.json", check=True).stdout)
    assert meta["status"] == "error" and "offset" in meta["error"], meta
    assert meta["format"] == "pickle" and meta["protocol"] == 4, meta


# ---- trust ----------------------------------------------------------------------------------

# Hand-written streams: inputs naming globals; nothing in them is ever executed.
CUSTOM = b"\x80\x02cmymodule\nMyClass\nq\x00)\x81q\x01}q\x02X\x01\x00\x00\x00aq\x03K\x01sb."


def test_untrusted_global_and_trust_option(tmp_path):
    f = tmp_path / "custom.pkl"
    f.write_bytes(CUSTOM)
    assert cli("cat", f, "types.txt", check=True).stdout == b"mymodule.MyClass\n"
    assert cli("cat", f, "untrusted.txt", check=True).stdout == b"mymodule.MyClass\n"
    meta = json.loads(cli("cat", f, "meta.json", check=True).stdout)
    assert meta["verdict"] == "untrusted" and meta["class"] == "mymodule.MyClass", meta
    assert cli("cat", f, "a", check=True).stdout == b"1\n"
    trust = tmp_path / "trust.txt"
    trust.write_text("# mine\nmymodule.MyClass\n")
    for opts in (("--trust", trust), ("--trust=%s" % trust,), ("-o", "trust=%s" % trust)):
        p = cli("cat", *opts, f, "untrusted.txt")
        assert p.returncode == 0 and p.stdout == b"", (opts, p.stdout, stderr_of(p))
        meta = json.loads(cli("cat", *opts, f, "meta.json", check=True).stdout)
        assert meta["verdict"] == "safe", (opts, meta)


def test_missing_trust_file_is_an_error(models_dir, tmp_path):
    missing = str(tmp_path / "no-trust.txt")
    p = cli("ls", "--trust", missing, model(models_dir))
    assert p.returncode == 2, (p.returncode, stderr_of(p))
    assert_message(p, missing)


def test_dangerous_global_is_never_run(tmp_path):
    marker = tmp_path / "pwned"
    cmd = ("touch %s" % marker).encode()
    f = tmp_path / "evil.pkl"
    f.write_bytes(b"\x80\x02cposix\nsystem\nq\x00X" + len(cmd).to_bytes(4, "little") + cmd +
                  b"q\x01\x85q\x02Rq\x03.")
    meta = json.loads(cli("cat", f, "meta.json", check=True).stdout)
    assert meta["verdict"] == "dangerous", meta
    assert b"posix.system\n" in cli("cat", f, "untrusted.txt", check=True).stdout
    assert cli("tree", f).returncode == 0
    assert not marker.exists()
