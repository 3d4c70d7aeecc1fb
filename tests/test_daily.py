"""test_daily.py -- daily use without surprises (issue 16): one help per command
from one option table, docs that agree with it, bad option values refused before
mounting, a mistyped command answered with the nearest one, links to models
outside SOURCE, a file given as SOURCE, `cp -r` copies a user can delete, and
bash completion.  Real mounts, real files written by scikit-learn and joblib."""
import json
import os
import pickle
import re
import shutil
import stat
import subprocess
import tempfile
import time

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from conftest import MODELFS, ROOT, cli, mounted

MAN = os.path.join(ROOT, "modelfs.1")
README = os.path.join(ROOT, "README.md")


def text(p):
    return p.stdout.decode() + p.stderr.decode()


def table():
    """The program's own table: (kind, fields...) per line of --list-options."""
    p = cli("--list-options", check=True)
    return [line.split("\t") for line in p.stdout.decode().splitlines()]


def flat(s):
    return " ".join(s.split())


def man_text():
    """The man page as a reader sees it: fonts and escapes gone, lines joined."""
    s = open(MAN).read()
    s = re.sub(r"\\f[BIRP]", "", s).replace("\\-", "-").replace("\\(em", "--")
    s = re.sub(r"^\.(TP|PP|RS|RE|nf|fi|br|SS|SH|B|I|BR|BI|IR)\b ?", "", s, flags=re.M)
    return flat(s.replace('"', ""))


@pytest.fixture(scope="module")
def logreg(tmp_path_factory):
    d = tmp_path_factory.mktemp("daily")
    X = np.arange(40, dtype=float).reshape(20, 2)
    y = (X[:, 0] > 18).astype(int)
    est = LogisticRegression().fit(X, y)
    path = d / "logreg.pkl"
    with open(path, "wb") as f:
        pickle.dump(est, f)
    return est, str(path)


# ---- 1. one help, one version, docs that agree -------------------------------------

def test_help_and_h_are_one_text_without_duplicates():
    long_, short = cli("--help"), cli("-h")
    assert long_.returncode == 0 and short.returncode == 0
    assert long_.stdout == short.stdout and long_.stdout
    out = long_.stdout.decode()
    forms = [l.split()[0] + (" " + l.split()[1] if l.split()[0] == "-o" else "")
             for l in out.splitlines() if re.match(r"^  -", l)]
    assert len(forms) == len(set(forms)), "an option listed twice:\n" + out
    for row in table():
        if row[0] == "command":
            a, b, c = cli(row[1], "--help"), cli(row[1], "-h"), cli("help", row[1])
            assert a.returncode == 0 and a.stdout == b.stdout == c.stdout, row
            assert a.stdout.startswith(b"usage: modelfs " + row[1].encode()), a.stdout


def test_version_is_modelfs_s_own():
    man_version = re.search(r'"modelfs ([0-9.]+)"', open(MAN).read()).group(1)
    for flag in ("-V", "--version"):
        p = cli(flag)
        assert p.returncode == 0, text(p)
        lines = p.stdout.decode().splitlines()
        assert lines[0] == "modelfs " + man_version, lines
        assert lines[1].startswith("libfuse 3."), lines


def test_man_page_and_readme_list_every_option_and_exit_status():
    man, readme = man_text(), flat(open(README).read())
    rows = table()
    assert any(r[0] == "exit" for r in rows) and any(r[:2] == ["option", "mount"] for r in rows)
    for row in rows:
        if row[0] == "option":
            form = row[2]
            assert form in man, "modelfs.1 lacks %r" % form
            assert form in readme, "README lacks %r" % form
        elif row[0] == "exit":
            line = flat(row[2])
            assert line in man, "modelfs.1 lacks the exit line %r" % line
            assert line in readme, "README lacks the exit line %r" % line
        elif row[0] == "default":
            name = row[2].split("=")[0].replace("-o ", "")
            want = "default %s" % row[3]
            assert re.search(r"%s=\S+ [^.]*?%s" % (name, re.escape(want)), man), (name, want)
            assert re.search(r"%s=\S+ .{0,200}?%s" % (name, re.escape(want)), readme), (name, want)


def test_exit_statuses_are_the_table_s(logreg, tmp_path):
    _, model = logreg
    missing = str(tmp_path / "no-trust.txt")
    assert cli("ls").returncode == 2
    assert cli("scan").returncode == 64
    assert cli("scan", "--bogus", model).returncode == 64
    assert cli("check").returncode == 64
    (tmp_path / "src").mkdir()
    (tmp_path / "mnt").mkdir()
    p = subprocess.run([MODELFS, "-f", "-o", "trust=" + missing, str(tmp_path / "src"),
                        str(tmp_path / "mnt")],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    assert p.returncode == 2 and missing.encode() in p.stderr, text(p)


# ---- 2. bad values refused before mounting ------------------------------------------

@pytest.mark.parametrize("opt,named", [
    ("target=sklaern=1.5", "sklaern"),
    ("target=sklearn=abc", "abc"),
    ("target=sklearn=1.5,numpy=two", "numpy=two"),
    ("cache_mb=-5", "cache_mb=-5"),
    ("cache_mb=lots", "cache_mb"),
    ("cache_mb", "cache_mb=N"),
    ("trust=", "trust=FILE"),
    ("bogus_option", "bogus_option"),
])
def test_bad_mount_option_values_are_refused(tmp_path, opt, named):
    src, mnt = tmp_path / "src", tmp_path / "mnt"
    src.mkdir()
    mnt.mkdir()
    p = subprocess.Popen([MODELFS, "-f", "-o", opt, str(src), str(mnt)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:       # it mounted and serves: unmount, then fail
        subprocess.run(["fusermount3", "-u", "-z", str(mnt)])
        p.communicate(timeout=30)
        pytest.fail("-o %s was mounted" % opt)
    assert not os.path.ismount(mnt)
    assert p.returncode == 2, (opt, p.returncode, out + err)
    assert named in err.decode(), (opt, err)


def test_good_target_reaches_compat_json(logreg, tmp_path):
    _, model = logreg
    with mounted(os.path.dirname(model), "-o", "target=sklearn=1.5,numpy=2.1") as mnt:
        doc = open(os.path.join(mnt, "logreg.pkl", "compat.json")).read()
    assert '"sklearn": "1.5"' in doc or '"sklearn":"1.5"' in doc, doc


@pytest.mark.parametrize("args,named", [
    (("--sklearn", "banana"), "banana"),
    (("--numpy=1.x",), "1.x"),
    (("--tensorflow", "2"), "--tensorflow"),
    (("--json=1",), "--json"),
    (("--python",), "--python"),
])
def test_bad_check_options_are_usage_errors(logreg, args, named):
    _, model = logreg
    p = cli("check", model, *args)
    assert p.returncode == 64, (args, p.returncode, text(p))
    assert named in p.stderr.decode() and p.stdout == b"", (args, text(p))


# ---- 3. a mistyped command ------------------------------------------------------------

@pytest.mark.parametrize("typo,meant", [("scna", "scan"), ("tre", "tree"), ("chek", "check"),
                                        ("cta", "cat")])
def test_mistyped_command_suggests_the_nearest(tmp_path, typo, meant):
    p = subprocess.run([MODELFS, typo, str(tmp_path)], cwd=str(tmp_path),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    assert p.returncode == 2, text(p)
    err = p.stderr.decode()
    assert "modelfs %s" % meant in err and "No such file" not in err, err


def test_an_existing_directory_named_like_a_typo_is_still_a_source(tmp_path, logreg):
    _, model = logreg
    (tmp_path / "scna").mkdir()
    shutil.copy(model, tmp_path / "scna" / "m.pkl")
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        with mounted("scna") as mnt:
            assert os.path.isdir(os.path.join(mnt, "m.pkl"))
    finally:
        os.chdir(old)


@pytest.mark.parametrize("args,meant", [(("scan", "--jsno"), "--json"),
                                        (("check", "--skearn", "1.5"), "--sklearn"),
                                        (("ls", "--turst", "x"), "--trust")])
def test_mistyped_option_suggests_the_nearest(logreg, args, meant):
    _, model = logreg
    p = cli(args[0], model, *args[1:])
    assert p.returncode in (2, 64) and "did you mean %s" % meant in p.stderr.decode(), text(p)


# ---- 4. links to models outside SOURCE -------------------------------------------------

def test_link_to_a_model_outside_source_is_a_model_directory(logreg, tmp_path):
    est, model = logreg
    src = tmp_path / "src"
    src.mkdir()
    os.symlink(model, src / "linked.pkl")
    os.symlink(model, src / "no_extension")
    other = tmp_path / "notes.txt"
    other.write_text("hello\n")
    os.symlink(str(other), src / "notes")
    os.symlink(str(tmp_path / "gone"), src / "dangling")
    shutil.copy(model, src / "inside.pkl")
    os.symlink("inside.pkl", src / "relative_inside.pkl")          # the kernel follows it
    os.symlink(str(src / "inside.pkl"), src / "absolute_inside.pkl")  # would leave the mount
    scanned = cli("scan", str(src)).stdout.decode()
    assert "linked.pkl" in scanned, scanned
    with mounted(str(src)) as mnt:
        for name in ("linked.pkl", "no_extension"):
            d = os.path.join(mnt, name)
            assert os.path.isdir(d), name
            assert np.array_equal(np.load(os.path.join(d, "coef_.npy")), est.coef_)
        assert open(os.path.join(mnt, "notes")).read() == "hello\n"
        assert os.path.islink(os.path.join(mnt, "dangling"))
        assert os.readlink(os.path.join(mnt, "relative_inside.pkl")) == "inside.pkl"
        assert os.path.isdir(os.path.join(mnt, "relative_inside.pkl"))
        assert not os.path.islink(os.path.join(mnt, "absolute_inside.pkl"))
        assert os.path.isfile(os.path.join(mnt, "absolute_inside.pkl", "meta.json"))


# ---- 6. a file as SOURCE, a directory for ls/tree --------------------------------------

def test_one_model_file_mounts_as_its_tree(logreg, tmp_path):
    est, model = logreg
    path = tmp_path / "one.pkl"
    shutil.copy(model, path)
    with mounted(str(path)) as mnt:
        assert os.stat(mnt).st_ino == 1 and stat.S_ISDIR(os.stat(mnt).st_mode)
        assert "meta.json" in os.listdir(mnt)
        assert np.array_equal(np.load(os.path.join(mnt, "coef_.npy")), est.coef_)
        assert open(os.path.join(mnt, "C")).read() == "1.0\n"
        # Re-saved (as joblib.dump + os.replace do): the next open reads the new model.
        other = LogisticRegression(C=0.25).fit(np.arange(40.0).reshape(20, 2),
                                               np.arange(20) % 2)
        joblib.dump(other, str(tmp_path / "tmp.pkl"))
        os.replace(tmp_path / "tmp.pkl", path)
        assert open(os.path.join(mnt, "C")).read() == "0.25\n"
        assert np.array_equal(np.load(os.path.join(mnt, "coef_.npy")), other.coef_)
        assert json.load(open(os.path.join(mnt, "meta.json")))["format"] == "joblib"
        # ls -l sees the new sizes too, once the root's names time out (1 s: nothing
        # watches a single file).
        time.sleep(1.5)
        assert os.stat(os.path.join(mnt, "C")).st_size == len("0.25\n")
        assert os.stat(mnt).st_size == os.stat(path).st_size


def test_a_file_that_is_no_model_is_refused_as_source(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("hello\n")
    (tmp_path / "mnt").mkdir()
    p = subprocess.run([MODELFS, "-f", str(notes), str(tmp_path / "mnt")],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    assert not os.path.ismount(tmp_path / "mnt")
    assert p.returncode == 1 and "nor a model file" in p.stderr.decode(), text(p)


@pytest.mark.parametrize("command", ["tree", "ls", "cat"])
def test_a_directory_for_a_model_command_says_what_to_do(logreg, command):
    _, model = logreg
    d = os.path.dirname(model)
    p = cli(command, d, "meta.json") if command == "cat" else cli(command, d)
    err = p.stderr.decode()
    assert p.returncode == 1 and "modelfs scan %s" % d in err, err


# ---- 8. cp -r as a user gives a copy that user can delete --------------------------------

def test_copy_made_by_a_user_can_be_deleted_by_that_user(logreg, tmp_path):
    _, model = logreg
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(model, src / "m.pkl")
    os.chmod(src / "m.pkl", 0o644)
    home = tempfile.mkdtemp(prefix="modelfs-user-")
    os.chown(home, 65534, 65534)
    os.chmod(tmp_path, 0o755)
    os.chmod(src, 0o755)
    try:
        with mounted(str(src), "-o", "allow_other") as mnt:
            m = os.path.join(mnt, "m.pkl")
            assert stat.S_IMODE(os.stat(m).st_mode) == 0o755
            assert stat.S_IMODE(os.stat(os.path.join(m, "meta.json")).st_mode) == 0o644
            with pytest.raises(OSError) as e:
                os.mkdir(os.path.join(m, "new"))
            assert e.value.errno == 30   # EROFS, whatever the modes say
            user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "sh", "-c"]
            p = subprocess.run(user + ['cp -r "$0" "$1/copy" && rm -r "$1/copy"', m, home],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
            assert p.returncode == 0, text(p)
            assert os.listdir(home) == []
    finally:
        shutil.rmtree(home, ignore_errors=True)


# ---- 9. bash completion, installed and working -----------------------------------------

def test_make_install_installs_a_working_bash_completion(tmp_path):
    stage = tmp_path / "stage"
    subprocess.run(["make", "-s", "-C", ROOT, "install", "DESTDIR=" + str(stage),
                    "PREFIX=/usr/local"], check=True, stdout=subprocess.DEVNULL, timeout=600)
    script = stage / "usr/local/share/bash-completion/completions/modelfs"
    assert script.is_file()
    bindir = tmp_path / "bin"
    bindir.mkdir()
    os.symlink(MODELFS, bindir / "modelfs")
    probe = r'''
source "$1"
complete -p modelfs
try() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=(); _modelfs
        echo "$*|${COMPREPLY[*]}"; }
try modelfs sc
try modelfs scan --j
try modelfs check --sk
try modelfs -o cache
try modelfs -o nowatch,tr
try modelfs help ch
try modelfs scan --format s
'''
    p = subprocess.run(["bash", "-c", probe, "probe", str(script)], cwd=str(tmp_path),
                       env=dict(os.environ, PATH="%s:%s" % (bindir, os.environ["PATH"])),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert p.returncode == 0, text(p)
    lines = p.stdout.decode().splitlines()
    assert lines[0] == "complete -F _modelfs modelfs", lines
    got = dict(l.split("|", 1) for l in lines[1:])
    assert got["modelfs sc"].split() == ["scan"], got
    assert got["modelfs scan --j"].split() == ["--json"], got
    assert got["modelfs check --sk"].split() == ["--sklearn", "--skops"], got
    assert got["modelfs -o cache"].split() == ["cache_mb=", "cache_dir="], got
    assert got["modelfs -o nowatch,tr"].split() == ["nowatch,trust="], got
    assert got["modelfs help ch"].split() == ["check"], got
    assert got["modelfs scan --format s"].split() == ["sarif"], got
