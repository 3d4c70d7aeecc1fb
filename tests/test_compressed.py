"""Compressed joblib models: one fitted forest dumped with every compressor joblib
offers (zlib, gzip, bz2, lzma, xz, lz4), each at a low and a high level.

Truth is Python's: scripts/make_compressed_fixtures.py saves every array joblib.load
gives back.  Through a real mount, every .npy of each model must be one of those
arrays, byte for byte, and all of them must be there; every other file of the tree
must equal the uncompressed dump's (meta.json and summary.txt name the compression).
The small forest's zlib and gzip streams are inflated whole by libdeflate, the big
one's by zlib as a stream (source_decompress.c): both are covered.

A stream cut short or with bytes flipped is an error with its place (meta.json
status "error"), never a crash and never a wrong array: whatever .npy the tree of a
broken file still lists reads as Python's array or fails to read.  lz4 frames and
.lzma (alone) streams as joblib writes them carry no checksum: a flipped byte there
is noticed by nobody, Python included, until the pickle breaks; for them only the
status is checked.
"""
import json
import os

import pytest

from conftest import cat_many, cli, mounted, parse_entry_line, run_script


@pytest.fixture(scope="module")
def cdir(tmp_path_factory):
    out = tmp_path_factory.mktemp("compressed")
    run_script("make_compressed_fixtures.py", out)
    return str(out)


def manifest(cdir):
    with open(os.path.join(cdir, "manifest.json")) as f:
        return json.load(f)["files"]


def truth(cdir, name):
    """Entry -> numpy.save bytes of the array joblib.load holds there."""
    root = os.path.join(cdir, "truth", name)
    res = {}
    for d, _, fs in os.walk(root):
        for f in fs:
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                res[os.path.relpath(p, root)] = fh.read()
    return res


def walk(root):
    """Every entry under a mounted model: path -> bytes (files) or ('link', target)."""
    res = {}
    for d, dirs, fs in os.walk(root):
        for f in fs + [x for x in dirs if os.path.islink(os.path.join(d, x))]:
            p = os.path.join(d, f)
            rel = os.path.relpath(p, root)
            if os.path.islink(p):
                res[rel] = ("link", os.readlink(p))
            else:
                with open(p, "rb") as fh:
                    res[rel] = fh.read()
    return res


def test_fixture_sizes_cover_both_inflate_paths(cdir):
    size = lambda n: os.path.getsize(os.path.join(cdir, n))
    assert 32 * 1024 < size("small.c0.joblib") <= 4 << 20 < size("big.c0.joblib")
    assert {f["compression"] for f in manifest(cdir)} == {
        "none", "zlib", "gzip", "bz2", "lzma", "xz", "lz4"}


def test_every_array_and_file_equal_python(cdir):
    files = manifest(cdir)
    with mounted(cdir) as mnt:
        plain = {}
        for f in files:
            got = walk(os.path.join(mnt, f["file"]))
            meta = json.loads(got["meta.json"])
            assert meta["status"] == "ok", (f["file"], meta.get("error"))
            assert meta["compression"] == f["compression"], f["file"]
            want = truth(cdir, f["file"])
            npys = {p for p in got if p.endswith(".npy")}
            assert npys == set(want), f["file"]
            for p in sorted(npys):
                assert got[p] == want[p], (f["file"], p)
            if f["plain"] not in plain:
                plain[f["plain"]] = walk(os.path.join(mnt, f["plain"]))
            base = plain[f["plain"]]
            assert set(got) == set(base), f["file"]
            for p in got:
                if p not in ("meta.json", "summary.txt"):
                    assert got[p] == base[p], (f["file"], p)


UNCHECKED = ("lz4", "lzma")     # no checksum over the data as joblib writes them


def listed(path):
    """The entries `modelfs tree` lists (path -> (kind, size)), also when it exits 1
    because some views of a broken model cannot be made."""
    p = cli("tree", path)
    res = {}
    for line in p.stdout.split(b"\n")[:-1]:
        kind, size, entry, _ = parse_entry_line(line)
        res[entry] = (kind, size)
    return res


def test_broken_streams_are_errors_not_wrong_arrays(cdir):
    """Python decides what a broken file holds: where joblib.load fails, modelfs says
    why (status "error") and serves no array that differs from the intact file's;
    where it loads (a codec without a checksum), modelfs serves what it loaded or
    says why it cannot.  A stream cut short is always an error with its place."""
    broken = json.load(open(os.path.join(cdir, "manifest.json")))["broken"]
    assert len(broken) == 7 * 12
    for b in broken:
        path = os.path.join(cdir, b["file"])
        label = b["file"]
        p = cli("cat", path, "meta.json")
        assert p.returncode == 0, label                # the tree is served, with the reason
        meta = json.loads(p.stdout)
        assert meta["compression"] == b["compression"], label
        if b["python"] != "ok" or ".cut-" in label:
            assert meta["status"] == "error", (label, b["python"])
        if ".cut-" in label:
            assert "compressed offset" in meta["error"], (label, meta["error"])
        entries = listed(path)
        npys = [e for e, (kind, _) in entries.items() if kind == "f" and e.endswith(".npy")]
        got = cat_many(path, npys, [entries[e][1] for e in npys])
        want = truth(cdir, b["file"] if meta["status"] == "ok" else b["of"])
        if meta["status"] == "ok":
            assert set(npys) == set(want), label
        if ".flip-" in label and b["compression"] in UNCHECKED:
            continue
        for e in npys:
            assert isinstance(got[e], AssertionError) or got[e] == want.get(e), (label, e)
