"""test_mount.py -- the FUSE mount (SPEC section 1): real mounts of real scikit-learn files.

Every model here is fitted and saved during the run by the real scikit-learn and
joblib; the truth is what Python computes (the fitted attributes, numpy.load,
the bytes on disk).  Every mount goes through conftest.mounted()/mount_process(),
which always unmount, even when a test fails.
"""
import copyreg
import errno
import filecmp
import json
import os
import pickle
import random
import shutil
import signal
import stat
import subprocess
import threading
import time

import numpy as np
import pytest

from conftest import MODELFS, mount_counter, mount_process, mounted

# Files that describe the file rather than the model (SPEC 3.2); compat.json (the
# load-compatibility report) names the format too.
RESERVED = {"meta.json", "types.txt", "untrusted.txt", "compat.json", "summary.txt"}


# ---- fixtures: models written by the real scikit-learn ------------------------------

def _iris():
    from sklearn.datasets import load_iris
    return load_iris(return_X_y=True)


def _logreg(c):
    from sklearn.linear_model import LogisticRegression
    X, y = _iris()
    return LogisticRegression(C=c, max_iter=500).fit(X, y)


def _pipeline():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    X, y = _iris()
    return Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=500))]).fit(X, y)


def _forest():
    from sklearn.ensemble import RandomForestClassifier
    X, y = _iris()
    return RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(X, y)


def _shared():
    """A model whose state holds one array twice and a reference to itself."""
    m = _logreg(1.0)
    m.extra_ = m.coef_
    m.me_ = m
    return m


def _dump(obj, path):
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=4)


MODELS = {"logreg.pkl": lambda: _logreg(1.0), "pipe.pkl": _pipeline,
          "forest.pkl": _forest, "shared.pkl": _shared}


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    """SOURCE: models, a corrupt and a truncated .pkl, plain files, a subdirectory."""
    d = tmp_path_factory.mktemp("src")
    objs = {}
    for name, make in MODELS.items():
        objs[name] = make()
        _dump(objs[name], d / name)
    import joblib
    joblib.dump(objs["logreg.pkl"], d / "logreg.joblib.gz")
    _dump(_logreg(0.05), d / "logreg_v2.pkl")
    (d / "bad.pkl").write_bytes(b"this is not a pickle at all\n")
    whole = (d / "forest.pkl").read_bytes()
    (d / "truncated.pkl").write_bytes(whole[: len(whole) // 2])
    (d / "notes.txt").write_text("plain text, passed through\n")
    rng = random.Random(7)
    (d / "blob.bin").write_bytes(bytes(rng.getrandbits(8) for _ in range(300_000)))
    (d / "sub" / "deeper").mkdir(parents=True)
    (d / "sub" / "deeper" / "readme.md").write_text("# nested\n")
    _dump(_logreg(2.0), d / "sub" / "nested.pkl")
    (d / "sub" / "model_without_extension").write_bytes(pickle.dumps(_logreg(3.0), protocol=4))
    os.symlink("notes.txt", d / "notes_link")
    # Text that parses as protocol-0 opcodes ("V..." UNICODE, "P..." PERSID) is text;
    # a protocol-0 pickle without extension is a model.
    (d / "VERSION").write_text("Version 2\n")
    (d / "PLAIN").write_text("Plain words\n")
    (d / "proto0_no_ext").write_bytes(pickle.dumps({"a": 1, "b": [1.5, 2.5]}, protocol=0))
    return str(d), objs


@pytest.fixture(scope="module")
def mnt(src):
    with mounted(src[0]) as m:
        yield m


# ---- resolving a path in the mount to the fitted value --------------------------------

def _unescape(name):
    special = {"%": "", "%2E": ".", "%2E%2E": ".."}
    if name in special:
        return special[name]
    return name.replace("%2F", "/").replace("%00", "\0").replace("%25", "%")


def _child(obj, name):
    """One step of SPEC section 3, the way the pickler saw the object."""
    if isinstance(obj, dict):
        for k in obj:
            if str(k) == name or repr(k) == name:
                return obj[k]
        raise KeyError(name)
    if isinstance(obj, (list, tuple)) or (isinstance(obj, np.ndarray) and obj.dtype == object):
        if not name.lstrip("-").isdigit():   # a pipeline-like sequence by step name (SPEC 3.2)
            return next(t for t in obj if isinstance(t, tuple) and t and t[0] == name)
        return obj[int(name)]
    rv = obj.__reduce_ex__(4)
    func, args = rv[0], rv[1]
    state = rv[2] if len(rv) > 2 else None
    if func is copyreg.__newobj__:
        args = args[1:]
    if name == "__args__":
        return args
    if name == "__state__":
        return state
    if isinstance(state, tuple) and len(state) == 2:
        merged = dict(state[0] or {})
        merged.update(state[1] or {})
        state = merged
    return state[name]


def _resolve(obj, relpath):
    for part in relpath.split("/"):
        obj = _child(obj, _unescape(part))
    return obj


def _files(root):
    """Relative paths of the regular files under root (links not followed)."""
    out = []
    for d, dirs, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            if not os.path.islink(p):
                out.append(os.path.relpath(p, root))
    return sorted(out)


# ---- passthrough, links, errors -------------------------------------------------------

def test_listing_shows_models_as_directories(src, mnt):
    names = set(os.listdir(mnt))
    assert {"logreg.pkl", "logreg.joblib.gz", "bad.pkl", "notes.txt", "blob.bin", "sub"} <= names
    for model in ("logreg.pkl", "logreg.joblib.gz", "pipe.pkl", "bad.pkl", "truncated.pkl"):
        assert stat.S_ISDIR(os.lstat(os.path.join(mnt, model)).st_mode), model
    # No model extension: recognised by its pickle opcodes.
    assert os.path.isdir(os.path.join(mnt, "sub", "model_without_extension"))
    assert os.path.isfile(os.path.join(mnt, "notes.txt"))
    assert os.path.isfile(os.path.join(mnt, "VERSION"))
    assert os.path.isfile(os.path.join(mnt, "PLAIN"))
    assert os.path.isdir(os.path.join(mnt, "proto0_no_ext"))
    assert os.readlink(os.path.join(mnt, "notes_link")) == "notes.txt"
    # st_mtime comes from the source file.
    for name in ("logreg.pkl", "notes.txt", "sub"):
        assert int(os.stat(os.path.join(mnt, name)).st_mtime) == \
            int(os.stat(os.path.join(src[0], name)).st_mtime)


def test_passthrough_bytes(src, mnt):
    for rel in ("notes.txt", "blob.bin", "sub/deeper/readme.md", "VERSION"):
        with open(os.path.join(src[0], rel), "rb") as f:
            want = f.read()
        with open(os.path.join(mnt, rel), "rb") as f:
            assert f.read() == want, rel
        # Reads at odd offsets and sizes.
        with open(os.path.join(mnt, rel), "rb") as f:
            for off in (0, 1, 4095, 4096, 131071, len(want) - 3, len(want) + 10):
                f.seek(off)
                assert f.read(7777) == want[off:off + 7777]
        assert os.stat(os.path.join(mnt, rel)).st_size == len(want)


def _write_calls(path, parent):
    """Every write-type call, each with its errno (None when it did not fail)."""
    def attempt(fn):
        try:
            fn()
        except OSError as e:
            return e.errno
        return None
    calls = {
        "open_wronly": lambda: os.close(os.open(path, os.O_WRONLY)),
        "open_rdwr": lambda: os.close(os.open(path, os.O_RDWR)),
        "open_trunc": lambda: os.close(os.open(path, os.O_RDONLY | os.O_TRUNC)),
        "create": lambda: os.close(os.open(os.path.join(parent, "new"), os.O_CREAT | os.O_WRONLY)),
        "mkdir": lambda: os.mkdir(os.path.join(parent, "newdir")),
        "unlink": lambda: os.unlink(path),
        "rmdir": lambda: os.rmdir(path),
        "rename": lambda: os.rename(path, os.path.join(parent, "renamed")),
        "chmod": lambda: os.chmod(path, 0o777),
        "chown": lambda: os.chown(path, 1, 1),
        "truncate": lambda: os.truncate(path, 0),
        "utime": lambda: os.utime(path, (0, 0)),
        "symlink": lambda: os.symlink("x", os.path.join(parent, "newlink")),
        "link": lambda: os.link(path, os.path.join(parent, "newhard")),
        "mknod": lambda: os.mkfifo(os.path.join(parent, "fifo")),
        "setxattr": lambda: os.setxattr(path, "user.x", b"1"),
        "removexattr": lambda: os.removexattr(path, "user.x"),
    }
    return {name: attempt(fn) for name, fn in calls.items()}


def test_erofs_on_every_write_call_outside_models(mnt):
    for rel in ("notes.txt", "sub", "logreg.pkl"):
        got = _write_calls(os.path.join(mnt, rel), os.path.dirname(os.path.join(mnt, rel)))
        if os.path.isdir(os.path.join(mnt, rel)):
            for name in ("open_wronly", "open_rdwr", "open_trunc", "truncate"):
                assert got.pop(name) in (errno.EROFS, errno.EISDIR), (rel, name)
        assert got == {k: errno.EROFS for k in got}, rel


def test_erofs_on_every_write_call_inside_a_model(mnt):
    model = os.path.join(mnt, "logreg.pkl")
    for rel in ("meta.json", "coef_.npy"):
        got = _write_calls(os.path.join(model, rel), model)
        assert got == {k: errno.EROFS for k in got}, rel


def test_statfs_and_mount_options(src, mnt):
    sv = os.statvfs(mnt)
    assert sv.f_flag & os.ST_RDONLY
    with open("/proc/mounts") as f:
        line = [l.split() for l in f if l.split()[1] == mnt][0]
    assert line[0] == os.path.realpath(src[0])
    assert line[2] == "fuse.modelfs"
    assert "ro" in line[3].split(",") and "default_permissions" in line[3].split(",")


def test_block_size_is_small_for_small_files(tmp_path):
    """st_blksize is 128 KiB (cat and cp read that much at once) except for the
    files of a model smaller than that: 4 KiB, so diff -r over thousands of
    small files does not allocate 128 KiB a file."""
    import joblib
    big = np.arange(40000.0)
    joblib.dump({"big": big, "small": np.arange(3)}, tmp_path / "m.joblib")
    (tmp_path / "plain.bin").write_bytes(b"x" * 10)
    with mounted(str(tmp_path)) as m:
        small = os.stat(os.path.join(m, "m.joblib", "meta.json"))
        assert small.st_size < 4096 and small.st_blksize == 4096
        assert os.stat(os.path.join(m, "m.joblib", "small.txt")).st_blksize == 4096
        npy = os.stat(os.path.join(m, "m.joblib", "big.npy"))
        assert npy.st_size > big.nbytes and npy.st_blksize == 128 * 1024
        assert np.array_equal(np.load(os.path.join(m, "m.joblib", "big.npy")), big)
        assert os.stat(os.path.join(m, "plain.bin")).st_blksize == 128 * 1024
        assert os.stat(os.path.join(m, "m.joblib")).st_blksize == 128 * 1024


def test_error_directory_for_corrupt_files(mnt):
    for name in ("bad.pkl", "truncated.pkl"):
        d = os.path.join(mnt, name)
        assert "meta.json" in os.listdir(d)
        with open(os.path.join(d, "meta.json")) as f:
            meta = json.load(f)
        assert meta["status"] == "error", name
        assert meta["error"], name
    with open(os.path.join(mnt, "truncated.pkl", "meta.json")) as f:
        assert "offset" in json.load(f)["error"]


# ---- model content ------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_npy_equals_the_fitted_attribute(src, mnt, name):
    model = os.path.join(mnt, name)
    npys = [p for p in _files(model) if p.endswith(".npy")]
    assert npys, "no .npy served for " + name
    for rel in npys:
        want = _resolve(src[1][name], rel[:-4])
        assert isinstance(want, np.ndarray), rel
        got = np.load(os.path.join(model, rel))
        assert got.dtype == want.dtype and got.shape == want.shape, rel
        assert np.array_equal(got, want, equal_nan=want.dtype.kind in "fc"), rel
        mm = np.load(os.path.join(model, rel), mmap_mode="r")
        assert np.array_equal(np.asarray(mm), want, equal_nan=want.dtype.kind in "fc"), rel
        del mm


def test_same_model_as_pkl_and_joblib_differs_only_in_meta(mnt):
    a, b = os.path.join(mnt, "logreg.pkl"), os.path.join(mnt, "logreg.joblib.gz")
    assert len(_files(a)) > 5
    p = subprocess.run(["diff", "-rq", a, b], stdout=subprocess.PIPE, timeout=120)
    lines = p.stdout.decode().splitlines()
    assert not [l for l in lines if l.startswith("Only in")], lines
    differing = {l.split()[1][len(a) + 1:] for l in lines}
    assert "meta.json" in differing          # "format" differs at least
    assert differing <= RESERVED, lines


def test_two_versions_differ_in_the_changed_attributes(src, mnt):
    import sklearn.linear_model  # noqa: F401  (the pickles need it)
    with open(os.path.join(src[0], "logreg.pkl"), "rb") as f:
        v1 = pickle.load(f).__getstate__()
    with open(os.path.join(src[0], "logreg_v2.pkl"), "rb") as f:
        v2 = pickle.load(f).__getstate__()
    expected = set()
    for k in v1:
        x, y = v1[k], v2[k]
        if isinstance(x, np.ndarray):
            if not np.array_equal(x, y):
                expected |= {k + ".npy", k + ".txt"}
        elif x != y:
            expected.add(k)
    assert {"C", "coef_.npy", "intercept_.npy"} <= expected
    a, b = os.path.join(mnt, "logreg.pkl"), os.path.join(mnt, "logreg_v2.pkl")
    p = subprocess.run(["diff", "-rq", a, b], stdout=subprocess.PIPE, timeout=120)
    assert p.returncode == 1
    lines = p.stdout.decode().splitlines()
    assert all(l.startswith("Files ") and l.endswith(" differ") for l in lines), lines
    differing = {l.split()[1][len(a) + 1:] for l in lines}
    assert differing - RESERVED - {"object.json"} == expected
    p = subprocess.run(["diff", "-r", a, b], stdout=subprocess.PIPE, timeout=120)
    out = p.stdout.decode()
    assert p.returncode == 1 and "diff -r %s/C %s/C" % (a, b) in out and "> 0.05" in out
    with open(os.path.join(b, "C")) as f:
        assert f.read() == "0.05\n"


def test_find_terminates_with_shared_reference_links(mnt):
    model = os.path.join(mnt, "shared.pkl")
    p = subprocess.run(["find", model], stdout=subprocess.PIPE, timeout=120)
    assert p.returncode == 0
    links = subprocess.run(["find", model, "-type", "l"], stdout=subprocess.PIPE,
                           timeout=120).stdout.decode().split()
    assert links, "shared values must be links"
    for link in links:
        assert not os.path.isabs(os.readlink(link))
        assert os.path.exists(link), link          # relative, and resolves inside the mount
    # The second place of coef_ links to the first; the self-reference is a link too.
    assert os.path.realpath(os.path.join(model, "extra_.npy")) == \
        os.path.realpath(os.path.join(model, "coef_.npy"))
    assert os.path.islink(os.path.join(model, "me_"))
    p = subprocess.run(["find", mnt], stdout=subprocess.PIPE, timeout=300)
    assert p.returncode == 0


def test_inode_numbers_are_stable_across_eviction(src):
    with mounted(src[0], "-o", "cache_mb=0") as m:
        first = {}
        for name in ("logreg.pkl", "pipe.pkl"):
            meta = os.path.join(m, name, "meta.json")
            with open(meta, "rb") as f:
                first[name] = (os.stat(meta).st_ino, f.read())
        assert mount_counter(m, "evictions") >= 1
        before = mount_counter(os.path.join(m, "logreg.pkl"))
        # Drop the kernel's caches so the request reaches the daemon again.
        subprocess.run(["sh", "-c", "echo 2 > /proc/sys/vm/drop_caches"], check=False)
        for name, (ino, data) in first.items():
            meta = os.path.join(m, name, "meta.json")
            assert os.stat(meta).st_ino == ino
            with open(meta, "rb") as f:
                assert f.read() == data
        assert len({ino for ino, _ in first.values()}) == 2
        # Evicted, then asked for again: decoded again, same inode numbers.
        assert mount_counter(os.path.join(m, "logreg.pkl")) == before + 1


# ---- laziness and concurrency -------------------------------------------------------------

def test_ls_decodes_nothing(tmp_path):
    for i in range(20):
        _dump(_logreg(1.0 + i), tmp_path / ("m%02d.pkl" % i))
    (tmp_path / "plain.txt").write_text("x\n")
    (tmp_path / "model_no_ext").write_bytes(pickle.dumps(_logreg(0.5), protocol=4))
    with mounted(str(tmp_path)) as m:
        subprocess.run(["ls", "-la", m], check=True, stdout=subprocess.DEVNULL)
        for name in os.listdir(m):
            os.stat(os.path.join(m, name))
        subprocess.run(["find", m, "-maxdepth", "1"], check=True, stdout=subprocess.DEVNULL)
        assert mount_counter(m) == 0
        assert os.path.isdir(os.path.join(m, "model_no_ext"))
        # The first access inside decodes once; eight concurrent first accesses of
        # another model decode it once too.
        with open(os.path.join(m, "m00.pkl", "meta.json"), "rb") as f:
            f.read()
        assert mount_counter(m) == 1
        with open(os.path.join(m, "m00.pkl", "meta.json"), "rb") as f:
            f.read()
        assert mount_counter(m) == 1
        barrier = threading.Barrier(8)
        errors = []

        def first_access():
            barrier.wait()
            try:
                os.listdir(os.path.join(m, "m01.pkl"))
            except OSError as e:
                errors.append(e)
        threads = [threading.Thread(target=first_access) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert mount_counter(os.path.join(m, "m01.pkl")) == 1
        assert mount_counter(m) == 2


def _read_all(root, order_seed=None):
    paths = _files(root)
    if order_seed is not None:
        random.Random(order_seed).shuffle(paths)
    out = {}
    for p in paths:
        with open(os.path.join(root, p), "rb") as f:
            out[p] = f.read()
    return out


@pytest.mark.parametrize("cache", ["default", "tiny"])
def test_eight_concurrent_readers_over_100_models(tmp_path_factory, cache):
    d = tmp_path_factory.getbasetemp() / "hundred"
    if not d.exists():
        d.mkdir()
        import joblib
        for i in range(100):
            m = _logreg(0.01 * (i + 1))
            if i % 2:
                joblib.dump(m, d / ("m%03d.joblib" % i))
            else:
                _dump(m, d / ("m%03d.pkl" % i))
    opts = ("-o", "cache_mb=1") if cache == "tiny" else ()
    with mounted(str(d)) as m:
        want = _read_all(m)
    assert len(want) >= 100 * 5
    with mounted(str(d), *opts) as m:
        results, errors = [None] * 8, []

        def reader(k):
            try:
                results[k] = _read_all(m, order_seed=k)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))
        threads = [threading.Thread(target=reader, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors[:3]
        for r in results:
            assert r == want
        assert mount_counter(m) >= 100


# ---- source changes ---------------------------------------------------------------------

def _read_within(path, want, seconds=1.0):
    """Read path until it gives want; True when it did within the time."""
    deadline = time.time() + seconds
    while True:
        try:
            with open(path, "rb") as f:
                if f.read() == want:
                    return True
        except OSError:
            pass
        if time.time() > deadline:
            return False
        time.sleep(0.02)


@pytest.mark.parametrize("how", ["rename", "inplace"])
def test_resaved_plain_file_is_read_back(tmp_path, how):
    f = tmp_path / "data.txt"
    f.write_bytes(b"version one\n")
    with mounted(str(tmp_path)) as m:
        with open(os.path.join(m, "data.txt"), "rb") as h:
            assert h.read() == b"version one\n"
        new = b"version two, longer\n"
        if how == "rename":
            (tmp_path / "tmp").write_bytes(new)
            os.replace(tmp_path / "tmp", f)
        else:
            with open(f, "r+b") as h:
                h.write(new)
        assert _read_within(os.path.join(m, "data.txt"), new)
        assert os.stat(os.path.join(m, "data.txt")).st_size == len(new)


def _save_model(path, obj, how):
    data = pickle.dumps(obj, protocol=4)
    if how == "rename":
        tmp = str(path) + ".tmp~"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    else:
        with open(path, "r+b") as f:
            f.truncate(0)
            f.write(data)


@pytest.mark.parametrize("watch", ["inotify", "nowatch"])
@pytest.mark.parametrize("how", ["rename", "inplace"])
def test_resaved_model_is_decoded_afresh(tmp_path, how, watch):
    """With inotify the notifier invalidates at once; without (-o nowatch), the
    check of size, mtime and inode on open answers ESTALE and the kernel looks the
    path up again."""
    path = tmp_path / "model.pkl"
    _dump(_logreg(1.0), path)
    opts = ("-o", "nowatch") if watch == "nowatch" else ()
    with mounted(str(tmp_path), *opts) as m:
        c = os.path.join(m, "model.pkl", "C")
        with open(c, "rb") as f:
            assert f.read() == b"1.0\n"
        before = os.stat(os.path.join(m, "model.pkl", "coef_.npy")).st_ino
        newer = _logreg(0.25)
        _save_model(path, newer, how)
        assert _read_within(c, b"0.25\n", seconds=0.0 if watch == "nowatch" else 1.0), \
            "stale model after re-save"
        got = np.load(os.path.join(m, "model.pkl", "coef_.npy"))
        assert np.array_equal(got, newer.coef_)
        assert os.stat(os.path.join(m, "model.pkl", "coef_.npy")).st_ino != before
        _save_model(path, _logreg(4.0), how)
        assert _read_within(c, b"4.0\n"), "stale model after the second re-save"


@pytest.mark.parametrize("watch", ["inotify", "nowatch"])
@pytest.mark.parametrize("how", ["rename", "inplace"])
def test_resaved_model_lists_afresh(tmp_path, how, watch):
    """A model's directory, listed (and so cached by the kernel) before its file
    is re-saved as another kind of model, lists the new model: at once without
    inotify (opening the directory checks the source), within a second with it."""
    path = tmp_path / "model.pkl"
    _dump(_logreg(1.0), path)
    opts = ("-o", "nowatch") if watch == "nowatch" else ()
    with mounted(str(tmp_path), *opts) as m:
        d = os.path.join(m, "model.pkl")
        assert "coef_.npy" in os.listdir(d)
        _save_model(path, _pipeline(), how)
        deadline = time.time() + (0.0 if watch == "nowatch" else 1.0)
        while True:
            try:
                names = set(os.listdir(d))
            except OSError:
                names = set()
            if "steps" in names or time.time() > deadline:
                break
            time.sleep(0.02)
        assert "steps" in names and "coef_.npy" not in names


@pytest.mark.parametrize("how", ["rename", "inplace"])
def test_open_file_keeps_the_version_it_opened(tmp_path, how):
    """Never a mix: renamed over, the open file reads on in the old version; rewritten
    in place (the old bytes are gone from the source), it may only fail with EIO."""
    import io
    path = tmp_path / "model.pkl"
    old = _logreg(1.0)
    _dump(old, path)
    with mounted(str(tmp_path)) as m:
        npy = os.path.join(m, "model.pkl", "coef_.npy")
        with open(npy, "rb", buffering=0) as f:
            head = f.read(16)
            _save_model(path, _logreg(0.01), how)
            time.sleep(0.3)                       # the notifier has run
            # Drop this file's pages: the rest must come from the daemon.
            os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
            try:
                rest = f.read()
            except OSError as e:
                assert how == "inplace" and e.errno == errno.EIO
                rest = None
        if rest is not None:
            got = np.load(io.BytesIO(head + rest))
            assert np.array_equal(got, old.coef_)
        assert _read_within(os.path.join(m, "model.pkl", "C"), b"0.01\n")


def test_new_and_deleted_source_files_show_up(tmp_path):
    (tmp_path / "a.txt").write_text("a\n")
    with mounted(str(tmp_path)) as m:
        assert not os.path.exists(os.path.join(m, "b.txt"))   # a negative entry now
        (tmp_path / "b.txt").write_text("b\n")
        assert _read_within(os.path.join(m, "b.txt"), b"b\n")
        os.unlink(tmp_path / "a.txt")
        deadline = time.time() + 1
        while os.path.exists(os.path.join(m, "a.txt")) and time.time() < deadline:
            time.sleep(0.02)
        assert not os.path.exists(os.path.join(m, "a.txt"))
        assert "a.txt" not in os.listdir(m)



def test_listing_continues_across_a_fresher_listing(tmp_path):
    """Directories have no handles (the kernel opens them itself): a reader
    part-way through a listing of SOURCE goes on from its offset after another
    reader listed the directory afresh and files came and went.  It must see no
    name twice, every name that stayed, and nothing that never was."""
    names = ["f%05d.txt" % i for i in range(3000)]
    for n in names:
        (tmp_path / n).write_bytes(b"")
    with mounted(str(tmp_path)) as m:
        with os.scandir(m) as it:
            seen = [next(it).name for _ in range(10)]       # one batch of the kernel's
            gone = set(random.Random(7).sample(names, 300))
            for n in gone:
                os.unlink(tmp_path / n)
            came = {"g%05d.txt" % i for i in range(100)}
            for n in came:
                (tmp_path / n).write_bytes(b"")
            fresh = set(os.listdir(m))
            seen += [e.name for e in it]
        stayed = set(names) - gone
        assert fresh == stayed | came
        assert len(seen) == len(set(seen))
        assert stayed <= set(seen)
        assert set(seen) <= set(names) | came



def test_concurrent_listings_while_files_come_and_go(tmp_path):
    """Eight readers list one directory of SOURCE over and over while a writer
    adds and removes files (so the kernel keeps dropping its cached listing and
    the daemon's listings replace each other under the readers).  Every listing
    has each name once and every name that never changed; the daemon (ASan)
    survives."""
    stable = {"s%04d.txt" % i for i in range(1500)}
    for n in stable:
        (tmp_path / n).write_bytes(b"")
    stop = threading.Event()
    errors = []

    def churn():
        i = 0
        while not stop.is_set():
            f = tmp_path / ("t%04d.txt" % (i % 200))
            if f.exists():
                f.unlink()
            else:
                f.write_bytes(b"")
            i += 1

    def reader(m):
        try:
            while not stop.is_set():
                names = os.listdir(m)
                if len(names) != len(set(names)):
                    errors.append("a name twice")
                if not stable <= set(names):
                    errors.append("a stable name missing")
        except OSError as e:
            errors.append(repr(e))

    with mounted(str(tmp_path)) as m:
        threads = [threading.Thread(target=churn)] + \
                  [threading.Thread(target=reader, args=(m,)) for _ in range(8)]
        for t in threads:
            t.start()
        time.sleep(2.0)
        stop.set()
        for t in threads:
            t.join()
        assert not errors, errors[:3]
        assert stable <= set(os.listdir(m))


# ---- the daemon: options, signals, unmount -----------------------------------------------

def test_help_version_and_usage():
    # -h is the mount's help (libfuse options included); --help may be the CLI's.
    p = subprocess.run([MODELFS, "-h"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.returncode == 0
    assert b"SOURCE MOUNTPOINT" in p.stdout and b"cache_mb" in p.stdout
    assert b"allow_other" in p.stdout + p.stderr                  # libfuse's part
    p = subprocess.run([MODELFS, "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.returncode == 0 and b"SOURCE MOUNTPOINT" in p.stdout
    for flag in ("--version", "-V"):
        p = subprocess.run([MODELFS, flag], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert p.returncode == 0 and p.stdout.startswith(b"modelfs "), flag
    p = subprocess.run([MODELFS, "/nonexistent-source"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    assert p.returncode == 2
    p = subprocess.run([MODELFS, "-f", "/nonexistent-source", "/tmp"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30)
    assert p.returncode == 1 and b"nonexistent-source" in p.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_unmounts_and_exits_zero(tmp_path, sig):
    (tmp_path / "a.txt").write_text("a\n")
    with mount_process(str(tmp_path)) as (m, proc):
        with open(os.path.join(m, "a.txt")) as f:
            assert f.read() == "a\n"
        proc.send_signal(sig)
        assert proc.wait(timeout=10) == 0
        assert not os.path.ismount(m)


def test_fusermount_unmount_exits_zero(tmp_path):
    with mount_process(str(tmp_path)) as (m, proc):
        subprocess.run(["fusermount3", "-u", m], check=True)
        assert proc.wait(timeout=10) == 0


def test_daemon_mode_and_options_pass_through(tmp_path):
    (tmp_path / "a.txt").write_text("a\n")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(tmp_path / "a.txt", src / "a.txt")
    try:
        p = subprocess.run([MODELFS, "-o", "cache_mb=16,max_read=65536", str(src), str(mnt)],
                           timeout=30, stderr=subprocess.PIPE)
        assert p.returncode == 0, p.stderr
        assert os.path.ismount(mnt)
        assert filecmp.cmp(src / "a.txt", mnt / "a.txt", shallow=False)
    finally:
        subprocess.run(["fusermount3", "-u", "-z", str(mnt)], stderr=subprocess.DEVNULL)
    p = subprocess.run([MODELFS, "-o", "no_such_option", str(src), str(mnt)],
                       stderr=subprocess.PIPE, timeout=30)
    assert p.returncode != 0 and not os.path.ismount(mnt)


def test_single_threaded_mode(src):
    with mount_process(src[0], "-s") as (m, proc):
        with open(os.path.join(m, "logreg.pkl", "C"), "rb") as f:
            assert f.read() == b"1.0\n"
        assert _read_all(os.path.join(m, "sub", "deeper")) == \
            _read_all(os.path.join(src[0], "sub", "deeper"))
        assert os.listdir(os.path.join(m, "sub", "nested.pkl"))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_sigterm_while_readers_are_busy(src):
    """Shutdown under load: the daemon still unmounts and exits 0, and readers get
    an error (ENOTCONN and the like), never a hang."""
    with mount_process(src[0]) as (m, proc):
        stop = threading.Event()

        def reader():
            while not stop.is_set():
                try:
                    _read_all(m)
                except OSError:
                    return
        threads = [threading.Thread(target=reader) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(timeout=15) == 0
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=30)
        assert not any(t.is_alive() for t in threads)
        assert not os.path.ismount(m)


def test_target_option_answers_in_compat_json(src):
    """-o target=... (commas and all, as issue 8 writes it) reaches compat.json."""
    import sklearn
    here = sklearn.__version__
    with mounted(src[0], "-o", "target=sklearn=%s,numpy=2.1,python=3.12" % here) as m:
        same = json.load(open(os.path.join(m, "logreg.pkl", "compat.json")))
    assert same["target"] == {"sklearn": here, "numpy": "2.1", "python": "3.12"}
    assert same["verdict"] == "loads", same["reasons"]
    with mounted(src[0], "-o", "target=sklearn=0.21,python=3.12") as m:
        old = json.load(open(os.path.join(m, "logreg.pkl", "compat.json")))
    assert old["verdict"] == "fails", old["reasons"]
    with mounted(src[0]) as m:
        none = json.load(open(os.path.join(m, "logreg.pkl", "compat.json")))
    assert none.get("target") is None
