"""PyTorch checkpoints (zip and legacy layouts) and safetensors files (issue 17).

Fixtures are written during the run by scripts/make_torch_fixtures.py with the real
torch (python3-torch); the safetensors files by scripts/safetensors_write.py, checked
against the torch tensors.  The truth for every array is numpy.save of
tensor.numpy() (float32 for bfloat16), and every check reads through a real mount.
"""
import io
import json
import os
import shutil
import subprocess

import numpy as np
import pytest

from conftest import MODELFS, TESTDATA, cat, cli, diff_names, mounted, run_script

TORCHDATA = os.path.join(TESTDATA, "torch")
# What differs between layouts of the same state_dict: facts about the container.
CONTAINER_FACTS = {"meta.json", "types.txt", "untrusted.txt", "compat.json", "summary.txt"}


@pytest.fixture(scope="module")
def tdir(tmp_path_factory):
    out = tmp_path_factory.mktemp("torch")
    run_script("make_torch_fixtures.py", out)
    return str(out)


@pytest.fixture(scope="module")
def manifest(tdir):
    with open(os.path.join(tdir, "manifest.json")) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def mnt(tdir):
    with mounted(tdir) as m:
        yield m


def meta(path):
    with open(os.path.join(path, "meta.json")) as f:
        return json.load(f)


NAMES = ["state.pt", "state_legacy.pt", "state.safetensors", "tied.pt", "tied_legacy.pt",
         "ckpt.pt", "ckpt_legacy.pt", "meta.safetensors", "state_p5.pt", "state_legacy_p1.pt",
         "state_legacy_p4.pt"]


@pytest.mark.parametrize("name", NAMES)
def test_every_array_equals_torch(tdir, mnt, manifest, name):
    """numpy.load of every .npy equals tensor.numpy(), and the bytes are numpy.save's."""
    entry = manifest["files"][name]
    assert entry["arrays"], name
    m = meta(os.path.join(mnt, name))
    assert m["status"] == "ok", m
    assert m["format"] == entry["format"]
    for npy, truth in entry["arrays"].items():
        got_path = os.path.join(mnt, name, npy)
        want_path = os.path.join(tdir, truth)
        want = np.load(want_path)
        got = np.load(got_path)
        assert got.dtype == want.dtype and got.shape == want.shape, (name, npy, got.dtype, got.shape)
        assert np.array_equal(got, want, equal_nan=want.dtype.kind == "f"), (name, npy)
        with open(got_path, "rb") as g, open(want_path, "rb") as w:
            assert g.read() == w.read(), (name, npy)
        txt = os.path.join(mnt, name, npy[:-4] + ".txt")
        assert os.path.exists(txt), txt


@pytest.mark.parametrize("name", NAMES)
def test_meta_and_object_json(mnt, manifest, name):
    entry = manifest["files"][name]
    d = os.path.join(mnt, name)
    m = meta(d)
    unique = len(entry["arrays"]) - len(entry["links"])
    assert m["arrays"] == unique
    want_bytes = 0
    for npy in entry["arrays"]:
        if npy not in entry["links"]:
            want_bytes += np.load(os.path.join(d, npy)).nbytes
    assert m["array_bytes"] == want_bytes
    assert sum(m["dtypes"].values()) == unique
    if entry["stored"]:
        assert m["dtypes"]["bfloat16"] == len(entry["stored"])
    if entry["format"] == "pytorch":
        assert m["serialization_version"] == 3
        assert m["compression"] == "store"
    if entry["format"] == "pytorch-legacy":
        assert m["serialization_version"] == 1001
    assert m["verdict"] == "safe", m
    with open(os.path.join(d, "object.json")) as f:
        obj = json.load(f)
    with open(os.path.join(d, "summary.txt")) as f:
        summary = f.read()
    for npy, stored in entry["stored"].items():
        line = [ln for ln in summary.splitlines() if ln.split() and ln.split()[0] == npy[:-4]]
        assert line and line[0].endswith("stored as " + stored), (npy, summary)
        node = obj
        for part in npy[:-4].split("/"):
            node = node[part]
        assert node["stored_dtype"] == stored and node["dtype"] == "<f4", node


@pytest.mark.parametrize("name", ["tied.pt", "tied_legacy.pt", "ckpt.pt", "ckpt_legacy.pt"])
def test_tied_weights_are_links(mnt, manifest, name):
    entry = manifest["files"][name]
    assert entry["links"], "fixture without tied weights"
    for npy in entry["links"]:
        p = os.path.join(mnt, name, npy)
        assert os.path.islink(p), npy
        assert os.path.islink(p[:-4] + ".txt"), npy
    for npy in set(entry["arrays"]) - set(entry["links"]):
        assert not os.path.islink(os.path.join(mnt, name, npy)), npy


@pytest.mark.parametrize("pair", [("state.pt", "state_legacy.pt"), ("state.pt", "state.safetensors"),
                                  ("state.pt", "state_p5.pt"), ("state.pt", "state_legacy_p1.pt"),
                                  ("state.pt", "state_legacy_p4.pt"),
                                  ("tied.pt", "tied_legacy.pt"), ("ckpt.pt", "ckpt_legacy.pt")])
def test_layouts_give_one_tree(mnt, pair):
    """SPEC 3.3: diff -r across layouts shows container facts only."""
    a, b = (os.path.join(mnt, n) for n in pair)
    names = diff_names(a, b)
    assert names <= CONTAINER_FACTS, names
    assert "meta.json" in names


def test_views_of_one_storage_are_separate_arrays(mnt):
    d = os.path.join(mnt, "state.pt")
    for n in ("base", "base_t", "base_step", "bf16", "bf16_t"):
        assert not os.path.islink(os.path.join(d, n + ".npy")), n
    with open(os.path.join(d, "base_t.txt")) as f:
        rows = f.read().splitlines()
    assert len(rows) == 6 and len(rows[0].split()) == 4


def test_nested_checkpoint_is_directories(mnt):
    d = os.path.join(mnt, "ckpt.pt")
    assert os.path.isdir(os.path.join(d, "model"))
    assert os.path.isdir(os.path.join(d, "optimizer", "state", "0"))
    with open(os.path.join(d, "epoch")) as f:
        assert f.read() == "3\n"
    with open(os.path.join(d, "optimizer", "param_groups", "0", "lr")) as f:
        assert f.read() == "0.001\n"
    with open(os.path.join(d, "optimizer", "param_groups", "0", "params.json")) as f:
        assert json.load(f) == [0, 1, 2]
    assert meta(d)["class"] == "builtins.dict"


def test_state_dict_keys_are_names(mnt, manifest):
    names = sorted(os.listdir(os.path.join(mnt, "state.pt")))
    assert "layer1.0.weight.npy" in names and "layer1.0.bias.txt" in names
    assert "_metadata" not in " ".join(names)


def test_safetensors_metadata(mnt):
    d = os.path.join(mnt, "meta.safetensors")
    with open(os.path.join(d, "metadata.json"), encoding="utf-8") as f:
        assert json.load(f) == {"format": "pt", "note": "Zürich"}
    assert meta(d)["format"] == "safetensors"


# ---- bad input ------------------------------------------------------------------------

def test_truncated_legacy_storage_is_an_error(tdir, tmp_path, manifest):
    src = os.path.join(tdir, "state_legacy.pt")
    data = open(src, "rb").read()
    bad = tmp_path / "cut.pt"
    bad.write_bytes(data[:-10])
    m = json.loads(cat(str(bad), "meta.json"))
    assert m["status"] == "error" and "storage" in m["error"], m
    assert m["verdict"] != "safe"
    # the tensors whose storage is whole still read; the cut one fails with a reason
    ok, failed = 0, 0
    for npy, truth in manifest["files"]["state_legacy.pt"]["arrays"].items():
        p = cli("cat", str(bad), npy)
        if p.returncode == 0:
            assert np.array_equal(np.load(io.BytesIO(p.stdout)), np.load(os.path.join(tdir, truth)))
            ok += 1
        else:
            assert b"storage" in p.stderr, p.stderr
            failed += 1
    assert ok and failed, (ok, failed)


def test_missing_storage_member_is_an_error(tdir, tmp_path):
    import zipfile
    src = zipfile.ZipFile(os.path.join(tdir, "state.pt"))
    bad = tmp_path / "missing.pt"
    with zipfile.ZipFile(bad, "w", zipfile.ZIP_STORED) as z:
        for info in src.infolist():
            if not info.filename.endswith("/data/0"):
                z.writestr(info, src.read(info.filename))
    m = json.loads(cat(str(bad), "meta.json"))
    assert m["status"] == "error" and "data/0" in m["error"], m
    p = cli("cat", str(bad), "layer1.0.weight.npy")
    assert p.returncode != 0


def test_view_outside_its_storage_is_an_error(tdir, tmp_path):
    """A size/stride reaching past the storage is refused, never read out of bounds."""
    import zipfile
    src = zipfile.ZipFile(os.path.join(tdir, "tied.pt"))
    bad = tmp_path / "outside.pt"
    with zipfile.ZipFile(bad, "w", zipfile.ZIP_STORED) as z:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.endswith("/data.pkl"):
                # emb.weight is (10, 4) with stride (4, 1): make the row stride 40
                data = data.replace(b"K\x04K\x01\x86", b"K(K\x01\x86", 1)
            z.writestr(info, data)
    m = json.loads(cat(str(bad), "meta.json"))
    assert m["status"] == "error" and "storage" in m["error"], m


def test_safetensors_offsets_checked(tdir, tmp_path):
    data = bytearray(open(os.path.join(tdir, "meta.safetensors"), "rb").read())
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    header["w"]["data_offsets"][1] += 1000
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(len(text).to_bytes(8, "little") + text + bytes(data[8 + n:]))
    m = json.loads(cat(str(bad), "meta.json"))
    assert m["status"] == "error" and "data_offsets" in m["error"], m


# ---- the peers' PyTorch cases ---------------------------------------------------------

@pytest.mark.parametrize("name,fmt,verdict", [
    ("picklescan_new_pytorch_model.bin", "pytorch", "safe"),
    ("picklescan_pytorch_model.bin", "pytorch-legacy", "safe"),
    ("modelscan_unsafe_zip_pytorch.pt", "pytorch", "dangerous"),
    ("picklescan_pytorch_magic_bypass.pt", None, "dangerous"),
])
def test_peer_pytorch_cases(name, fmt, verdict):
    m = json.loads(cat(os.path.join(TORCHDATA, name), "meta.json"))
    assert m["verdict"] == verdict, m
    if fmt:
        assert m["format"] == fmt


def test_peer_benign_checkpoints_show_tensors(tmp_path):
    for name in ("picklescan_new_pytorch_model.bin", "picklescan_pytorch_model.bin"):
        shutil.copy(os.path.join(TORCHDATA, name), tmp_path / name)
    with mounted(str(tmp_path)) as m:
        d = os.path.join(m, "picklescan_new_pytorch_model.bin")
        assert os.path.isdir(d)
        arrays = [n for n in os.listdir(d) if n.endswith(".npy")]
        assert arrays
        a = np.load(os.path.join(d, arrays[0]))
        assert a.dtype == np.float32
        d = os.path.join(m, "picklescan_pytorch_model.bin")
        assert os.path.isdir(d)
        w = np.load(os.path.join(d, "distilbert.embeddings.word_embeddings.weight.npy"))
        assert w.dtype == np.float32 and w.ndim == 2


def test_scan_finds_checkpoints_by_bytes(tdir, tmp_path):
    """.bin/.pt/.safetensors files are models for scan whatever their names say."""
    for name, as_name in (("state.pt", "weights.bin"), ("state_legacy.pt", "old.data"),
                          ("state.safetensors", "model.weights"), ("ckpt.pt", "ckpt.pt")):
        shutil.copy(os.path.join(tdir, name), tmp_path / as_name)
    (tmp_path / "notes.txt").write_text("not a model\n")
    p = cli("scan", "--json", str(tmp_path))
    assert p.returncode == 0, p.stderr
    got = {os.path.basename(r["path"]): (r["format"], r["verdict"]) for r in json.loads(p.stdout)}
    assert got == {"weights.bin": ("pytorch", "safe"), "old.data": ("pytorch-legacy", "safe"),
                   "model.weights": ("safetensors", "safe"), "ckpt.pt": ("pytorch", "safe"),
                   "notes.txt": (None, "not-model")}, got   # listed, not a failure (SPEC 1)


def test_mount_shows_checkpoints_by_bytes(tdir, tmp_path):
    for name, as_name in (("state.pt", "weights.bin"), ("state_legacy.pt", "old.data"),
                          ("state.safetensors", "model.weights")):
        shutil.copy(os.path.join(tdir, name), tmp_path / as_name)
    with mounted(str(tmp_path)) as m:
        for n in ("weights.bin", "old.data", "model.weights"):
            assert os.path.isdir(os.path.join(m, n)), n
            assert os.path.exists(os.path.join(m, n, "layer1.0.weight.npy")), n


def legacy_pickles(data):
    """(start, end) of the five pickles that open a legacy checkpoint."""
    import pickletools
    bio, spans = io.BytesIO(data), []
    for _ in range(5):
        start = bio.tell()
        for _ in pickletools.genops(bio):
            pass
        spans.append((start, bio.tell()))
    return spans


def test_legacy_storage_missing_from_key_list_is_an_error(tdir, tmp_path):
    import pickle
    data = open(os.path.join(tdir, "tied_legacy.pt"), "rb").read()
    spans = legacy_pickles(data)
    keys = pickle.loads(data[spans[4][0]:spans[4][1]])
    assert isinstance(keys, list) and len(keys) >= 2
    bad = tmp_path / "lost_key.pt"
    bad.write_bytes(data[:spans[4][0]] + pickle.dumps(keys[:-1], protocol=2) + data[spans[4][1]:])
    m = json.loads(cat(str(bad), "meta.json"))
    assert m["status"] == "error" and keys[-1] in m["error"], m
    assert m["verdict"] == "incomplete", m


def test_other_pickles_in_the_archive_are_judged(tdir, tmp_path):
    """A gadget in another .pkl record of a PyTorch zip makes the file dangerous."""
    import zipfile
    src = zipfile.ZipFile(os.path.join(tdir, "tied.pt"))
    bad = tmp_path / "extra.pt"
    gadget = b"\x80\x02cposix\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03."
    with zipfile.ZipFile(bad, "w", zipfile.ZIP_STORED) as z:
        for info in src.infolist():
            z.writestr(info, src.read(info.filename))
        z.writestr(src.infolist()[0].filename.split("/")[0] + "/constants.pkl", gadget)
    m = json.loads(cat(str(bad), "meta.json"))
    assert m["format"] == "pytorch" and m["verdict"] == "dangerous", m
    assert "posix.system" in cat(str(bad), "types.txt").decode()


@pytest.mark.parametrize("name", ["state.pt", "state_legacy.pt", "state.safetensors"])
def test_cut_anywhere_never_crashes(tdir, tmp_path, name):
    """Every cut of the file decodes to an error (or a smaller whole), never a crash."""
    data = open(os.path.join(tdir, name), "rb").read()
    step = max(1, len(data) // 25)
    for cut in list(range(1, len(data), step)) + [len(data) - 1]:
        f = tmp_path / ("cut%d%s" % (cut, os.path.splitext(name)[1]))   # a model by name
        f.write_bytes(data[:cut])
        p = cli("tree", str(f))
        assert p.returncode in (0, 1), (cut, p.stderr)
        m = json.loads(cat(str(f), "meta.json"))
        assert m["verdict"] != "dangerous", (cut, m)
        if m["status"] == "ok":
            assert m["verdict"] == "safe"


@pytest.mark.parametrize("name", ["state.pt", "state_legacy.pt", "state.safetensors"])
def test_derived_sources_are_bounded(tdir, name):
    """Past the limit of tensors served through views, the rest fail with a reason and
    the model says so; the limit is lowered by the environment for the test."""
    env = dict(os.environ, MODELFS_TEST_MAX_DERIVED_SOURCES="1")
    p = subprocess.run([MODELFS, "cat", os.path.join(tdir, name), "meta.json"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=120)
    m = json.loads(p.stdout)
    assert m["status"] == "error" and "more than 1" in m["error"], m


def test_pickle_after_legacy_storages_is_judged(tdir, tmp_path):
    data = open(os.path.join(tdir, "tied_legacy.pt"), "rb").read()
    gadget = b"\x80\x02cposix\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03."
    bad = tmp_path / "appended.pt"
    bad.write_bytes(data + gadget)
    m = json.loads(cat(str(bad), "meta.json"))
    assert m["format"] == "pytorch-legacy" and m["verdict"] == "dangerous", m
    assert m["trailing_bytes"] == len(gadget)


def test_diff_of_two_training_checkpoints(tdir, manifest):
    """`modelfs diff` names every tensor that changed between two steps, by how much."""
    d = manifest["diff"]
    assert d["changed"]
    p = cli("diff", os.path.join(tdir, d["a"]), os.path.join(tdir, d["b"]))
    assert p.returncode == 1, p.stderr
    lines = p.stdout.decode().splitlines()
    links = manifest["files"][d["a"]]["links"]    # a tied name is the same tensor
    for path, maxabs in d["changed"].items():
        if path + ".npy" in links:
            continue
        line = [ln for ln in lines if ln.startswith(path + ":")]
        assert line, (path, lines)
        got = float(line[0].split("max abs ")[1].split(",")[0])
        assert abs(got - maxabs) <= 1e-5 * max(1.0, abs(maxabs)), (path, got, maxabs)
    assert "epoch: 3 → 4" in lines


def test_repacked_archive_is_still_pytorch(tdir, manifest, tmp_path):
    """A checkpoint unzipped and zipped again (members in another order, deflated) is still
    a PyTorch archive with the same arrays."""
    import zipfile
    src = zipfile.ZipFile(os.path.join(tdir, "state.pt"))
    repacked = tmp_path / "repacked.pt"
    with zipfile.ZipFile(repacked, "w", zipfile.ZIP_DEFLATED) as z:
        for name in sorted(src.namelist(), reverse=True):
            z.writestr(name, src.read(name))
    assert not zipfile.ZipFile(repacked).namelist()[0].endswith("/data.pkl")
    m = json.loads(cat(str(repacked), "meta.json"))
    assert m["format"] == "pytorch" and m["status"] == "ok" and m["verdict"] == "safe", m
    assert m["compression"] == "deflate"
    for npy, truth in manifest["files"]["state.pt"]["arrays"].items():
        got = np.load(io.BytesIO(cat(str(repacked), npy)))
        assert np.array_equal(got, np.load(os.path.join(tdir, truth))), npy
