"""What a file is comes from its bytes (SPEC 1, issue 12): one identification for the
mount, `scan`, `check` and `ls/cat/tree`.

The hostile files are the peer scanners' own test inputs (tests/data/ident, copied from
../shared/fixtures/peers: picklescan f15d54d), renamed the way people name files; the
compressed joblib files are written by joblib itself or are joblib's own test data.
"""
import json
import os
import pickle
import shutil

import numpy
import pytest

from conftest import cli, mounted, TESTDATA

IDENT = os.path.join(TESTDATA, "ident")


def scan_json(*paths):
    p = cli("scan", "--json", *paths)
    return p.returncode, {os.path.basename(d["path"]): d for d in json.loads(p.stdout)}


def model_dirs(mnt):
    """Names the mount shows as directories (model directories at the top level)."""
    return {n for n in os.listdir(mnt) if os.path.isdir(os.path.join(mnt, n))}


def copy(src, dst):
    shutil.copyfile(src, dst)
    return dst


@pytest.fixture
def hostile(tmp_path):
    """The issue's folder: four hostile files with names no extension list knows,
    plus two that are really not models."""
    d = tmp_path / "hostile"
    d.mkdir()
    copy(os.path.join(IDENT, "malicious1.zip"), d / "malicious1.zip")
    copy(os.path.join(IDENT, "pytorch_model.bin"), d / "pytorch_model.bin")
    copy(os.path.join(IDENT, "malicious1_v0.pkl"), d / "weights.bin")
    # numpy's own writer: an object array holding a reference to os.system
    numpy.savez(d / "x.npz", a=numpy.array([os.system, 1], dtype=object))
    (d / "notes").write_bytes(b"hi\n")                  # BINGET: CPython refuses it at once
    (d / "data.dat").write_bytes(bytes(range(256)) * 4)
    return str(d)


HOSTILE = {"malicious1.zip", "pytorch_model.bin", "weights.bin", "x.npz"}


def test_scan_reports_every_file_of_a_hostile_folder(hostile):
    rc, got = scan_json(hostile)
    assert set(got) == HOSTILE | {"notes", "data.dat"}
    for name in ("notes", "data.dat"):
        assert got[name]["verdict"] == "not-model", got[name]
        assert got[name]["format"] is None
    for name in HOSTILE:
        assert got[name]["verdict"] != "not-model", got[name]
    for name in ("malicious1.zip", "weights.bin", "x.npz"):
        assert got[name]["verdict"] == "dangerous", got[name]
    assert rc == 2


def test_scan_text_output_lists_not_models_and_they_do_not_fail(tmp_path):
    (tmp_path / "README").write_bytes(b"Notes about the model\n")
    (tmp_path / "hi.txt").write_bytes(b"hi")
    p = cli("scan", str(tmp_path))
    assert p.returncode == 0, p.stderr
    lines = p.stdout.decode().splitlines()
    assert len(lines) == 2
    assert all(line.split("\t")[1] == "not-model" for line in lines), lines
    # named on the command line: still "not a model", not "incomplete"
    p = cli("scan", str(tmp_path / "README"))
    assert p.returncode == 0
    assert p.stdout.decode().split("\t")[1] == "not-model"


def test_mount_shows_as_models_exactly_what_scan_judges(hostile):
    _, got = scan_json(hostile)
    judged = {n for n, d in got.items() if d["verdict"] != "not-model"}
    with mounted(hostile) as mnt:
        assert model_dirs(mnt) == judged
        assert open(os.path.join(mnt, "notes"), "rb").read() == b"hi\n"
        for name in judged:
            meta = json.load(open(os.path.join(mnt, name, "meta.json")))
            assert meta["verdict"] == got[name]["verdict"], name


def joblib_compressed(path, compress):
    import joblib
    from sklearn.linear_model import LogisticRegression
    m = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    joblib.dump(m, path, compress=compress)
    return m


@pytest.mark.parametrize("compress", [3, ("gzip", 3), ("bz2", 3), ("xz", 3), ("lzma", 3),
                                      ("lz4", 3)])
def test_compressed_joblib_named_bin_is_a_model_in_mount_and_scan(tmp_path, compress):
    m = joblib_compressed(str(tmp_path / "model.bin"), compress)
    rc, got = scan_json(str(tmp_path))
    assert got["model.bin"]["format"] == "joblib", got
    assert got["model.bin"]["verdict"] in ("safe", "untrusted")
    with mounted(str(tmp_path)) as mnt:
        assert model_dirs(mnt) == {"model.bin"}
        coef = numpy.load(os.path.join(mnt, "model.bin", "coef_.npy"))
        assert coef.tobytes() == m.coef_.tobytes()


@pytest.mark.parametrize("name", [
    "joblib__joblib__joblib__test__data__joblib_0.10.0_compressed_pickle_py35_np19.gz",
    "joblib__joblib__joblib__test__data__joblib_0.11.0_pickle_py36_np111.pkl.gzip"])
def test_realworld_gzip_files_are_model_directories(tmp_path, name):
    copy(os.path.join(IDENT, name), tmp_path / name)
    with mounted(str(tmp_path)) as mnt:
        assert model_dirs(mnt) == {name}
        meta = json.load(open(os.path.join(mnt, name, "meta.json")))
        assert meta["compression"] in ("gzip", "zlib")   # joblib 0.10 wrote zlib into ".gz"
        assert meta["format"] == "joblib" and meta["status"] == "ok", meta


def test_pickles_without_proto_header(tmp_path):
    """CPython starts on any opcode: protocol 0/1 streams and hand-made ones that begin
    with a protocol-2+ opcode are pickles; text it refuses at once is not."""
    cases = {
        "p0": pickle.dumps({"a": [1, 2]}, protocol=0),
        "p1": pickle.dumps({"a": [1, 2]}, protocol=1),
        "noproto": pickle.dumps([1, "x"], protocol=4)[2:],          # starts with FRAME
        "binunicode": b"\x8c\x02os\x8c\x06system\x93\x8c\x04true\x85R.",  # SHORT_BINUNICODE
        "cut_after_import": b"cposix\nsystem\n(S'true'\n",          # no STOP: still runs an import
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    texts = {"hi": b"hi\n", "readme": b"README\n", "version": b"Version 2\n", "csv": b"a,b\n1,2\n",
             "n": b"N", "empty": b""}
    for name, data in texts.items():
        (tmp_path / name).write_bytes(data)
    _, got = scan_json(str(tmp_path))
    for name in cases:
        assert got[name]["verdict"] != "not-model", (name, got[name])
    for name in ("binunicode", "cut_after_import"):
        assert got[name]["verdict"] == "dangerous", got[name]
    for name in texts:
        assert got[name]["verdict"] == "not-model", (name, got[name])
    # the loader agrees: each "case" is something pickle.loads starts executing
    assert pickle.loads(cases["p0"]) == {"a": [1, 2]}
    assert pickle.loads(cases["noproto"]) == [1, "x"]
    for data in texts.values():
        with pytest.raises(Exception):
            pickle.loads(data)


def test_model_extension_that_cannot_be_decoded_is_still_a_directory(tmp_path):
    (tmp_path / "broken.pkl").write_bytes(b"this is not a pickle\n")
    rc, got = scan_json(str(tmp_path))
    assert got["broken.pkl"]["verdict"] == "incomplete"
    assert rc == 3
    with mounted(str(tmp_path)) as mnt:
        meta = json.load(open(os.path.join(mnt, "broken.pkl", "meta.json")))
        assert meta["status"] == "error" and meta["error"]


def test_offline_commands_use_the_same_identification(tmp_path):
    (tmp_path / "README").write_bytes(b"hi\n")
    p = cli("ls", str(tmp_path / "README"))
    assert p.returncode != 0 and b"not a model" in p.stderr
    m = joblib_compressed(str(tmp_path / "model.bin"), 3)
    p = cli("cat", str(tmp_path / "model.bin"), "coef_.txt", check=True)
    assert numpy.array_equal(numpy.loadtxt(p.stdout.splitlines(), ndmin=2), m.coef_)
    p = cli("check", str(tmp_path / "README"), "--sklearn", "1.5")
    assert p.returncode == 0
    assert b"saved by" not in p.stdout and b"not a model" in p.stdout


# ---- .npy and .npz: object arrays hold pickles ----------------------------------------


def test_object_npy_is_a_model_and_numeric_npy_is_a_file(tmp_path):
    numpy.save(tmp_path / "obj.npy", numpy.array([{"a": 1}, "x"], dtype=object),
               allow_pickle=True)
    with open(tmp_path / "evil.bin", "wb") as f:          # numpy.save would add ".npy"
        numpy.save(f, numpy.array([os.system], dtype=object), allow_pickle=True)
    numpy.save(tmp_path / "nums.npy", numpy.arange(6.0).reshape(2, 3))
    rc, got = scan_json(str(tmp_path))
    assert got["obj.npy"]["format"] == "npy" and got["obj.npy"]["verdict"] == "safe", got
    assert got["evil.bin"]["verdict"] == "dangerous"
    assert got["nums.npy"]["verdict"] == "not-model"
    with mounted(str(tmp_path)) as mnt:
        assert model_dirs(mnt) == {"obj.npy", "evil.bin"}
        with open(os.path.join(mnt, "nums.npy"), "rb") as f:
            assert f.read() == (tmp_path / "nums.npy").read_bytes()
        assert open(os.path.join(mnt, "obj.npy", "1")).read() == "x\n"


def test_npz_object_member_is_judged_numeric_member_is_its_bytes(tmp_path):
    numpy.savez(tmp_path / "w.npz", a=numpy.array([os.system], dtype=object),
                b=numpy.arange(4, dtype=numpy.int32))
    rc, got = scan_json(str(tmp_path))
    assert got["w.npz"]["verdict"] == "dangerous" and rc == 2
    with mounted(str(tmp_path)) as mnt:
        b = numpy.load(os.path.join(mnt, "w.npz", "b.npy"))
        assert b.dtype == numpy.int32 and b.tolist() == [0, 1, 2, 3]
        with numpy.load(tmp_path / "w.npz") as z, open(os.path.join(mnt, "w.npz", "b.npy"), "rb") as f:
            assert numpy.array_equal(numpy.load(f), z["b"])


# ---- zips: bundles, nesting, the encrypted flag -----------------------------------------


def write_zip(path, members):
    import zipfile
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)


def test_zip_bundle_members_are_identified_like_files(tmp_path):
    """Issue 16 point 5: text members are served as they are, names kept, folders are
    folders, and a non-model member does not make the bundle an error."""
    write_zip(tmp_path / "bundle.zip", {
        "model.pkl": pickle.dumps({"C": 1.0, "coef": [0.5, 0.25]}, protocol=4),
        "notes.txt": b"hi",
        "metadata.json": b'{"trained": "2024-01-01"}',
        "inner/model.pkl": pickle.dumps({"k": 3}, protocol=2),
        "inner/readme.md": b"# readme\n"})
    with mounted(str(tmp_path)) as mnt:
        b = os.path.join(mnt, "bundle.zip")
        meta = json.load(open(os.path.join(b, "meta.json")))
        assert meta["status"] == "ok" and meta["verdict"] == "safe", meta
        assert open(os.path.join(b, "notes.txt"), "rb").read() == b"hi"
        assert json.load(open(os.path.join(b, "metadata.json"))) == {"trained": "2024-01-01"}
        assert os.path.isdir(os.path.join(b, "inner"))
        assert open(os.path.join(b, "inner", "readme.md"), "rb").read() == b"# readme\n"
        assert os.path.isdir(os.path.join(b, "model.pkl"))
        assert open(os.path.join(b, "model.pkl", "C")).read() == "1.0\n"
        assert set(os.listdir(os.path.join(b, "inner"))) >= {"readme.md"}
        assert any(n.startswith("model.pkl") for n in os.listdir(os.path.join(b, "inner")))


def test_nested_zips_are_judged_and_bounded(tmp_path):
    evil = b"cposix\nsystem\n(S'true'\ntR."
    inner = tmp_path / "inner.zip"
    write_zip(inner, {"w.bin": evil})
    write_zip(tmp_path / "outer.zip", {"a/inner.zip": inner.read_bytes()})
    inner.unlink()
    data = pickle.dumps([1], protocol=2)
    for level in range(8):                       # deeper than any archive is opened
        write_zip(tmp_path / "deep.tmp", {"m%d.zip" % level if level else "m.pkl": data})
        data = (tmp_path / "deep.tmp").read_bytes()
    (tmp_path / "deep.tmp").rename(tmp_path / "deep.zip")
    rc, got = scan_json(str(tmp_path))
    assert got["outer.zip"]["verdict"] == "dangerous"
    assert got["deep.zip"]["verdict"] == "incomplete"      # never "safe": not read to the end
    assert "nested" in got["deep.zip"]["error"]


def test_encrypted_flag_on_a_member_in_the_clear(tmp_path):
    """picklescan's malicious1_0x1.zip: the flag says encrypted, the bytes are a plain
    pickle (libzip reads them raw).  A really encrypted member stays unjudged: never safe."""
    copy(os.path.join(IDENT, "malicious1_0x1.zip"), tmp_path / "flag.zip")
    copy(os.path.join(IDENT, "benign_password_protected.zip"), tmp_path / "locked.zip")
    rc, got = scan_json(str(tmp_path))
    assert got["flag.zip"]["verdict"] == "dangerous", got["flag.zip"]
    assert got["locked.zip"]["verdict"] == "incomplete"
    assert "encrypted" in got["locked.zip"]["error"]


# ---- 7z: libarchive reads it, as picklescan does -----------------------------------------


def test_pickle_inside_7z_is_judged(tmp_path):
    import subprocess
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "weights.bin").write_bytes(b"cposix\nsystem\n(S'true'\ntR.")
    (src / "README").write_bytes(b"hi\n")
    (src / "ok.pkl").write_bytes(pickle.dumps({"a": 1.5}, protocol=4))
    # libarchive's own writer (scripts/deps.sh: libarchive-tools)
    subprocess.run(["bsdtar", "--format", "7zip", "-cf", str(tmp_path / "bundle.data"),
                    "-C", str(src), "sub", "README", "ok.pkl"], check=True)
    copy(os.path.join(IDENT, "malicious1.7z"), tmp_path / "picklescan.7z")
    shutil.rmtree(src)
    rc, got = scan_json(str(tmp_path))
    assert got["bundle.data"]["verdict"] == "dangerous", got["bundle.data"]
    assert got["bundle.data"]["format"] is not None
    assert got["picklescan.7z"]["verdict"] == "dangerous"
    with mounted(str(tmp_path)) as mnt:
        b = os.path.join(mnt, "bundle.data")
        assert model_dirs(mnt) == {"bundle.data", "picklescan.7z"}
        assert open(os.path.join(b, "README"), "rb").read() == b"hi\n"
        assert os.path.isdir(os.path.join(b, "sub", "weights.bin"))
        assert open(os.path.join(b, "ok.pkl", "a")).read() == "1.5\n"
        meta = json.load(open(os.path.join(b, "meta.json")))
        assert meta["container"] == "7z" and meta["verdict"] == "dangerous"


def test_libarchive_is_loaded_by_the_first_7z_only():
    """libarchive (and the libxml2, ICU, libstdc++ it brings) is not linked: it is
    opened when a 7z is first decoded (the test above), so a start loads none of it."""
    import subprocess
    from conftest import MODELFS
    needed = subprocess.run(["objdump", "-p", MODELFS], check=True, stdout=subprocess.PIPE).stdout
    libs = [l.split()[1] for l in needed.decode().splitlines() if l.split()[:1] == ["NEEDED"]]
    assert "libfuse3.so.3" in libs
    assert not [l for l in libs if l.startswith(("libarchive", "libxml2", "libicu", "libstdc++"))], libs


# ---- pre-0.10 joblib companions, check DIR, unreadable files (issue 16 point 7) -----------

COMPAT = os.path.join(TESTDATA, "compat")
ZF_MAIN = "joblib__joblib__joblib__test__data__joblib_0.9.4.dev0_compressed_cache_size_pickle_py35_np19.gz"


def test_joblib_companions_are_judged_with_their_main_file(tmp_path):
    main = "christine2623__Mao__model.pkl"
    for n in os.listdir(COMPAT):
        if n.startswith(main):
            copy(os.path.join(COMPAT, n), tmp_path / n)
    for n in os.listdir(IDENT):
        if n.startswith(ZF_MAIN):
            copy(os.path.join(IDENT, n), tmp_path / n)
    rc, got = scan_json(str(tmp_path))
    companions = [n for n in got if n not in (main, ZF_MAIN)]
    assert len(companions) == 7, sorted(got)             # 4 *.npy and 3 *.npy.z
    for n in companions:
        assert got[n]["verdict"] == "not-model", got[n]
        assert got[n]["note"].startswith("joblib companion of "), got[n]
    for n in (main, ZF_MAIN):
        assert got[n]["verdict"] in ("safe", "untrusted"), got[n]
        assert got[n]["status"] == "ok"
    assert rc in (0, 1)
    with mounted(str(tmp_path)) as mnt:
        assert model_dirs(mnt) == {main, ZF_MAIN}


def test_check_dir_works_like_scan_dir(tmp_path):
    for n in os.listdir(COMPAT):
        if n.startswith("christine2623__Mao__model.pkl"):
            copy(os.path.join(COMPAT, n), tmp_path / n)
    (tmp_path / "README").write_bytes(b"Model of the Mao project\n")
    p = cli("check", str(tmp_path), "--sklearn", "1.5")
    out = p.stdout.decode()
    assert p.returncode != 3 and "README: not a model" in out, out
    assert "christine2623__Mao__model.pkl: " in out
    assert out.count("not a model") == 5                  # README and the 4 companions


def test_check_of_an_unreadable_file_prints_no_facts(tmp_path):
    (tmp_path / "empty.pkl").write_bytes(b"")
    os.symlink(str(tmp_path / "gone"), str(tmp_path / "dangling.pkl"))
    for name in ("empty.pkl", "dangling.pkl"):
        p = cli("check", str(tmp_path / name), "--sklearn", "1.5")
        out = p.stdout.decode()
        assert p.returncode == 3, (name, out)
        assert "unreadable" in out and "saved by" not in out, out


def test_zip_member_with_a_bad_crc_is_judged_on_its_bytes(tmp_path):
    """Members are read by offset, not through the CRC check: what a loader that ignores
    the CRC would run is judged (dangerous), not skipped."""
    import zipfile
    evil = b"cposix\nsystem\n(S'true'\ntR."
    p = tmp_path / "crc.zip"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_STORED) as z:
        z.writestr("w.pkl", evil)
    data = bytearray(p.read_bytes())
    crc = zipfile.ZipFile(p).getinfo("w.pkl").CRC.to_bytes(4, "little")
    assert data.count(crc) == 2                          # local header and central directory
    data = data.replace(crc, bytes(b ^ 0xFF for b in crc))
    p.write_bytes(bytes(data))
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(p).read("w.pkl")
    rc, got = scan_json(str(p))
    assert got["crc.zip"]["verdict"] == "dangerous", got
