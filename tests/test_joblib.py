"""joblib, complete: every file joblib.dump writes, the old formats it still loads,
and zip archives of pickles.

Truth is Python's: fixtures are written by the real joblib (scripts/
make_joblib_fixtures.py) and each array served must equal numpy.save of the array
joblib.load returns.  joblib.load byteswaps non-native arrays; modelfs serves bytes
as stored (SPEC 3), so for those only values and dtype kind/size are compared, and
the stored byte order is checked to be big-endian.

Real-world files: every file the manifest calls complete must decode with status ok
and list at least the manifest's globals in types.txt -- from the small copy under
tests/data/realworld and, when present, from ../shared/fixtures/realworld.
"""
import csv
import io
import json
import os
import shutil
import warnings
import zipfile
import _compat_pickle

import numpy as np
import pytest

from conftest import (MODELFS, ROOT, SHARED_FIXTURES, TESTDATA, cat, cli, mount_process, mounted,
                      run_script)


# ---- fixtures -------------------------------------------------------------------------

@pytest.fixture(scope="session")
def jobdir(tmp_path_factory):
    out = tmp_path_factory.mktemp("joblib")
    run_script("make_joblib_fixtures.py", out)
    return str(out)


def manifest(jobdir):
    with open(os.path.join(jobdir, "manifest.json")) as f:
        return json.load(f)["files"]


def meta(path):
    return json.loads(cat(path, "meta.json"))


def types(path):
    return cat(path, "types.txt").decode().splitlines()


def npy_bytes(arr):
    b = io.BytesIO()
    np.save(b, arr, allow_pickle=False)
    return b.getvalue()


def load_npy(data):
    return np.load(io.BytesIO(data), allow_pickle=False)


FIXTURE_NAMES = [
    "arrays.%s.joblib" % t for t in
    ("c0", "z1", "z3", "z9", "gzip3", "bz23", "xz3", "lzma3", "lz43", "p2", "p5", "z3p2")
] + ["%s.%s.joblib" % (m, t) for m in ("forest", "pipeline") for t in ("c0", "z3", "lz43")]


def entry_of(jobdir, name):
    for f in manifest(jobdir):
        if f["file"] == name:
            return f
    raise AssertionError("fixture %s not written" % name)


# ---- files written by joblib 1.2 ---------------------------------------------------------

@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_meta(jobdir, name):
    f = entry_of(jobdir, name)
    path = os.path.join(jobdir, name)
    m = meta(path)
    assert m["status"] == "ok", m.get("error")
    assert m["format"] == "joblib"
    assert m["compression"] == f["compression"]
    if f["protocol"] is not None:
        assert m["protocol"] == f["protocol"]
    else:
        assert m["protocol"] == 4          # Python 3.11's DEFAULT_PROTOCOL
    t = types(path)
    for g in f["globals"]:
        assert g in t, g
    assert t == sorted(set(t))


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_arrays_equal_python(jobdir, name):
    f = entry_of(jobdir, name)
    path = os.path.join(jobdir, name)
    assert f["arrays"], "fixture without arrays"
    for entry, truth in f["arrays"].items():
        want = open(os.path.join(jobdir, truth), "rb").read()
        got = cat(path, entry)
        if entry in f["swapped"]:
            a, b = load_npy(got), load_npy(want)
            assert a.dtype.byteorder == ">", entry
            assert (a.dtype.kind, a.dtype.itemsize, a.shape) == (b.dtype.kind, b.dtype.itemsize, b.shape)
            assert np.array_equal(a, b), entry
        else:
            assert got == want, entry


@pytest.mark.parametrize("name", [n for n in FIXTURE_NAMES if n.startswith("arrays")] +
                         ["pipeline.c0.joblib", "pipeline.z3.joblib"])
def test_object_arrays_nested_pickle(jobdir, name):
    """Object arrays are a nested pickle; the arrays after them must still line up."""
    f = entry_of(jobdir, name)
    path = os.path.join(jobdir, name)
    for entry, value in f["json"].items():
        assert json.loads(cat(path, entry)) == value, entry


def test_text_view_of_fortran_array(jobdir):
    path = os.path.join(jobdir, "arrays.z3.joblib")
    rows = [list(map(float, line.split())) for line in cat(path, "fortran_i2.txt").decode().splitlines()]
    assert rows == [[0, 1, 2], [3, 4, 5]]


def test_truncated_compressed_stream_is_an_error(jobdir, tmp_path):
    for name, kind in (("arrays.z3.joblib", "zlib"), ("arrays.bz23.joblib", "bz2"),
                       ("arrays.xz3.joblib", "xz"), ("arrays.lz43.joblib", "lz4"),
                       ("arrays.gzip3.joblib", "gzip")):
        data = open(os.path.join(jobdir, name), "rb").read()
        bad = tmp_path / name
        bad.write_bytes(data[: len(data) // 2])
        m = meta(str(bad))
        assert m["status"] == "error", name
        assert m["compression"] == kind
        assert "compressed offset" in m["error"], m["error"]


def test_corrupt_compressed_stream_is_an_error(jobdir, tmp_path):
    data = bytearray(open(os.path.join(jobdir, "arrays.z3.joblib"), "rb").read())
    for i in range(len(data) // 2, len(data) // 2 + 200):
        data[i] ^= 0xA5
    bad = tmp_path / "bad.joblib"
    bad.write_bytes(bytes(data))
    m = meta(str(bad))
    assert m["status"] == "error"
    assert "compressed offset" in m["error"]


def test_plain_pickle_stays_pickle(tmp_path):
    import pickle
    p = tmp_path / "plain.pkl"
    p.write_bytes(pickle.dumps({"a": np.arange(3.0)}, protocol=4))
    m = meta(str(p))
    assert m["status"] == "ok" and m["format"] == "pickle" and m["compression"] == "none"
    assert cat(str(p), "a.npy") == npy_bytes(np.arange(3.0))


# ---- zip archives of pickles --------------------------------------------------------------

def test_zip_archive_members(jobdir, tmp_path):
    z = tmp_path / "models.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(os.path.join(jobdir, "arrays.c0.joblib"), "stored.joblib",
                 compress_type=zipfile.ZIP_STORED)
        zf.write(os.path.join(jobdir, "arrays.c0.joblib"), "sub/deflated.joblib",
                 compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr("README.txt", b"not a model\n", compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr("../evil.pkl", open(os.path.join(jobdir, "forest.z3.joblib"), "rb").read())
    m = meta(str(z))
    assert m["status"] == "ok", m.get("error")
    assert m["format"] == "joblib"
    f = entry_of(jobdir, "arrays.c0.joblib")
    for member in ("stored.joblib", "sub/deflated.joblib"):   # member folders are folders
        for entry in ("f8.npy", "big.npy", "tail.npy", "fortran_f4.npy"):
            want = open(os.path.join(jobdir, f["arrays"][entry]), "rb").read()
            assert cat(str(z), member + "/" + entry) == want, (member, entry)
    assert cat(str(z), "README.txt") == b"not a model\n"      # served as the file it is
    t = types(str(z))
    assert "sklearn.tree._tree.Tree" in t
    assert "joblib.numpy_pickle.NumpyArrayWrapper" in t
    assert not os.path.exists(tmp_path.parent / "evil.pkl")


def test_corrupt_zip_member_is_reported(jobdir, tmp_path):
    data = open(os.path.join(jobdir, "arrays.c0.joblib"), "rb").read()
    z = tmp_path / "broken.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("good.pkl", open(os.path.join(jobdir, "forest.c0.joblib"), "rb").read())
        zf.writestr("cut.joblib", data[: len(data) // 3])
    m = meta(str(z))
    assert m["status"] == "error"
    assert "cut.joblib" in m["error"]
    # The good member stays browsable.
    assert cat(str(z), "good.pkl/classes_.npy")


# ---- real-world files ------------------------------------------------------------------------

def manifest_rows():
    path = os.path.join(SHARED_FIXTURES, "realworld", "manifest.tsv")
    if not os.path.exists(path):
        path = os.path.join(TESTDATA, "realworld", "manifest.tsv")
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def realworld_cases():
    cases = []
    dirs = [os.path.join(TESTDATA, "realworld")]
    shared = os.path.join(SHARED_FIXTURES, "realworld", "files")
    if os.path.isdir(shared):
        dirs.append(shared)
    for row in manifest_rows():
        if row["static_walk"] != "complete" or row["container"].startswith("zip(skops)"):
            continue
        for d in dirs:
            p = os.path.join(d, row["filename"])
            if os.path.exists(p):
                cases.append(pytest.param(p, row, id="%s:%s" % (os.path.basename(d), row["filename"])))
    return cases


def py3_name(g):
    """A global as Python 3's unpickler maps Python-2 names (SPEC types.txt)."""
    mod, _, name = g.rpartition(".")
    if (mod, name) in _compat_pickle.NAME_MAPPING:
        mod, name = _compat_pickle.NAME_MAPPING[(mod, name)]
    elif mod in _compat_pickle.IMPORT_MAPPING:
        mod = _compat_pickle.IMPORT_MAPPING[mod]
    return mod + "." + name


def test_realworld_copy_is_small_and_complete():
    d = os.path.join(TESTDATA, "realworld")
    total = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
    assert total < 6 << 20
    kinds = {row["container"] for row in manifest_rows()
             if os.path.exists(os.path.join(d, row["filename"]))}
    for k in ("zlib>pickle-p3", "gzip>pickle-p4", "bz2>pickle-p3", "xz>pickle-p2", "lzma>pickle-p3",
              "lz4>pickle-p3", "joblib-ZF>pickle-p2", "joblib-ZF>pickle-p3", "zip(pickle)"):
        assert k in kinds, k


@pytest.mark.parametrize("path,row", realworld_cases())
def test_realworld_complete_files_decode(path, row):
    m = meta(path)
    assert m["status"] == "ok", m.get("error")
    t = set(types(path))
    want = [g for g in row["globals"].split(";") if g and g != "-" and not g.startswith("nested:")]
    missing = [g for g in want if g not in t and py3_name(g) not in t]
    assert not missing, missing
    fmt = row["format"]
    compressed = row["compression"] != "-" and not row["compression"].startswith("zip")
    if "NumpyArrayWrapper" in fmt or "NDArrayWrapper" in fmt or compressed:
        assert m["format"] == "joblib"
    if "<0.10" in fmt or row["compression"] == "joblib-ZF":
        assert m.get("joblib_format") == "legacy"


# The list joblib's own tests expect from its old test files (joblib/test/test_numpy_pickle.py).
# Those files hold an np.matrix; numpy warns that the class is deprecated whenever one is made.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", PendingDeprecationWarning)
    JOBLIB_TEST_ARRAYS = {
        "0.npy": np.arange(5, dtype=np.dtype("<i8")),
        "1.npy": np.arange(5, dtype=np.dtype("<f8")),
        "4.npy": np.matrix([0, 1, 2], dtype=np.dtype("<i8")),
    }


@pytest.mark.parametrize("name", [
    "joblib__joblib__joblib__test__data__joblib_0.10.0_pickle_py27_np17.pkl.xz",
    "joblib__joblib__joblib__test__data__joblib_0.10.0_pickle_py34_np19.pkl.lzma",
    "joblib__joblib__joblib__test__data__joblib_0.10.0_pickle_py35_np19.pkl.bz2",
    "joblib__joblib__joblib__test__data__joblib_0.11.0_pickle_py36_np111.pkl.gzip",
    "joblib__joblib__joblib__test__data__joblib_0.12.2_pickle_py36_np114.pkl.lz4",
    "joblib__joblib__joblib__test__data__joblib_0.11.0_pickle_py36_np111.pkl",
    "joblib__joblib__joblib__test__data__joblib_0.10.0_compressed_pickle_py35_np19.gz",
    "joblib__joblib__joblib__test__data__joblib_0.9.2_compressed_pickle_py35_np19.gz",
    "joblib__joblib__joblib__test__data__joblib_0.8.4_compressed_pickle_py27_np17.gz",
    "joblib__joblib__joblib__test__data__joblib_0.9.4.dev0_compressed_cache_size_pickle_py35_np19.gz",
])
def test_joblib_own_test_files(name):
    path = os.path.join(TESTDATA, "realworld", name)
    m = meta(path)
    assert m["status"] == "ok", m.get("error")
    for entry, arr in JOBLIB_TEST_ARRAYS.items():
        assert cat(path, entry) == npy_bytes(arr), entry


def test_legacy_companions(tmp_path):
    """NDArrayWrapper (joblib < 0.10): arrays in model.pkl_NN.npy beside the pickle, also
    when the dump was renamed; a missing companion fails that array only."""
    src = os.path.join(TESTDATA, "realworld")
    stem = "christine2623__Mao__model.pkl"
    path = os.path.join(src, stem)
    m = meta(path)
    assert m["status"] == "ok" and m["format"] == "joblib" and m["joblib_format"] == "legacy"
    companions = [npy_bytes(np.load(os.path.join(src, "%s_%02d.npy" % (stem, i)), allow_pickle=False))
                  for i in range(1, 5)]
    assert cat(path, "coef_.npy") in companions
    # Alone, without its companions.
    lone = tmp_path / "model.pkl"
    shutil.copy(path, lone)
    m = meta(str(lone))
    assert m["status"] == "ok"
    assert m["joblib_missing_files"] >= 1
    p = cli("cat", str(lone), "coef_.npy")
    assert p.returncode != 0
    assert b"companion" in p.stderr or b"model.pkl_" in p.stderr


def test_legacy_znd_companions_checked(tmp_path):
    """ZNDArrayWrapper: the .npy.z Z-file holds raw data; a wrong one is an array error."""
    src = os.path.join(TESTDATA, "realworld")
    stem = "joblib__joblib__joblib__test__data__joblib_0.9.4.dev0_compressed_cache_size_pickle_py35_np19.gz"
    main = tmp_path / "m.gz"
    shutil.copy(os.path.join(src, stem), main)
    shutil.copy(os.path.join(src, stem + "_01.npy.z"), str(main) + "_01.npy.z")
    shutil.copy(os.path.join(src, stem + "_03.npy.z"), str(main) + "_02.npy.z")   # wrong size
    m = meta(str(main))
    assert m["status"] == "ok"
    assert m["joblib_missing_files"] >= 1
    assert cat(str(main), "0.npy") == npy_bytes(JOBLIB_TEST_ARRAYS["0.npy"])
    assert cli("cat", str(main), "1.npy").returncode != 0


# ---- through the mount ------------------------------------------------------------------------

def test_mount_serves_compressed_arrays(jobdir, tmp_path):
    d = tmp_path / "src"
    d.mkdir()
    for n in ("arrays.z3.joblib", "arrays.xz3.joblib", "arrays.c0.joblib"):
        shutil.copy(os.path.join(jobdir, n), d / n)
    with mounted(str(d)) as mnt:
        for n in ("arrays.z3.joblib", "arrays.xz3.joblib", "arrays.c0.joblib"):
            f = entry_of(jobdir, n)
            for entry in ("tail.npy", "big.npy", "f8.npy"):   # backwards after the first pass
                want = open(os.path.join(jobdir, f["arrays"][entry]), "rb").read()
                with open(os.path.join(mnt, n, entry), "rb") as fh:
                    assert fh.read() == want, (n, entry)


# ---- big compressed models: decompressed once, bounded memory ------------------------------

BIG_COMPRESSIONS = [("zlib", 1), ("gzip", ("gzip", 1)), ("bz2", ("bz2", 1)), ("xz", ("xz", 1)),
                    ("lz4", ("lz4", 1))]


@pytest.fixture(scope="module")
def bigdir(tmp_path_factory):
    """One model of ~26 MiB decompressed per compression: a dense array that spills past
    the in-memory head, 8 MiB of zeros with two values (holes in the spill file), a
    small array last.  Returns (dir, {entry: numpy.save bytes})."""
    out = tmp_path_factory.mktemp("big")
    rng = np.random.default_rng(7)
    dense = rng.standard_normal(2 << 20)
    dense[::3] = np.round(dense[::3], 2)
    sparse = np.zeros(1 << 20)
    sparse[12345] = 1.5
    sparse[-1] = -2.0
    model = {"dense": dense, "sparse": sparse, "tail": np.arange(10, dtype=np.int32)}
    import joblib
    for name, comp in BIG_COMPRESSIONS:
        sub = out / name
        sub.mkdir()
        joblib.dump(model, sub / ("big.%s.joblib" % name), compress=comp)
    want = {"dense.npy": npy_bytes(dense), "sparse.npy": npy_bytes(sparse),
            "tail.npy": npy_bytes(model["tail"])}
    return out, want


def vm_hwm_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


RELEASE = os.path.join(ROOT, "modelfs")


def read_backwards(model, want):
    for entry in ("tail.npy", "sparse.npy", "dense.npy", "tail.npy"):
        with open(os.path.join(model, entry), "rb") as fh:
            assert fh.read() == want[entry], entry


@pytest.mark.parametrize("name", [c for c, _ in BIG_COMPRESSIONS])
def test_big_compressed_model(bigdir, tmp_path, name):
    """Arrays read backwards after the decode pass are served from what that pass kept
    (a spill file in cache_dir, unlinked at once; zeros as holes)."""
    src, want = bigdir
    cache = tmp_path / "cache"
    cache.mkdir()
    with mounted(str(src / name), "-o", "cache_dir=%s" % cache) as mnt:
        read_backwards(os.path.join(mnt, "big.%s.joblib" % name), want)
        assert os.listdir(cache) == []
    assert os.listdir(cache) == []


@pytest.mark.parametrize("name", [c for c, _ in BIG_COMPRESSIONS])
def test_big_compressed_model_bounded_memory(bigdir, tmp_path, name):
    """The daemon's peak RSS grows by far less than the 26 MiB the model decompresses
    to (at most the 4 MiB in-memory head of the store, decoder state and buffers)."""
    assert os.path.exists(RELEASE), "make builds ./modelfs"
    src, want = bigdir
    with mount_process(str(src / name), "-o", "cache_dir=%s" % tmp_path,
                       binary=RELEASE) as (mnt, proc):
        pid = proc.pid
        base = vm_hwm_kib(pid)
        read_backwards(os.path.join(mnt, "big.%s.joblib" % name), want)
        grew = vm_hwm_kib(pid) - base
        assert grew < 12 * 1024, "daemon peak RSS grew by %d KiB" % grew


def test_big_zlib_model_without_spill(bigdir, tmp_path):
    """When the cache dir disappears the store stops at its in-memory head and zlib
    serves the rest from restart points: same bytes, in any order."""
    src, want = bigdir
    cache = tmp_path / "cache"
    cache.mkdir()
    with mounted(str(src / "zlib"), "-o", "cache_dir=%s" % cache) as mnt:
        cache.rmdir()
        model = os.path.join(mnt, "big.zlib.joblib")
        for entry in ("sparse.npy", "tail.npy", "dense.npy", "sparse.npy"):
            with open(os.path.join(model, entry), "rb") as fh:
                assert fh.read() == want[entry], entry
