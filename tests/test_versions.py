"""test_versions.py -- issue 13 beyond what test_reliability.py covers: replaced
versions' trees evicted while the kernel still holds their inodes (point 3), and
open files of a source too big to be summed whole at open (points 1-2).

Through a real mount (the sanitized daemon under `make check`).  The truth is
what the mount listed before the change, or what numpy.save writes.
"""
import contextlib
import errno
import io
import os
import pickle
import time

import numpy as np
import pytest

from conftest import mount_counter, mounted

# ---- point 3: a replaced version's tree stays while the kernel holds it ---------------------

def _logreg(c, features=4):
    from sklearn.linear_model import LogisticRegression
    rng = np.random.RandomState(int(c * 1000) % 2**31)
    X = rng.rand(60, features)
    y = np.arange(60) % 3
    return LogisticRegression(C=c, max_iter=50).fit(X, y)


def _dump(obj, path):
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=4)


def _pipeline(seed=0):
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    X = np.random.RandomState(seed).rand(30, 4 + seed)
    return Pipeline([("scale", StandardScaler())]).fit(X)


def _crowd(m, names):
    """Read the .txt view of other models' big arrays: each tree then holds over
    1 MiB of text, so with -o cache_mb=1 the cache evicts."""
    for name in names:
        with open(os.path.join(m, name, "coef_.txt"), "rb") as f:
            f.read()


def _drop_kernel_caches():
    """The kernel's cached listings, pages and unused dentries go (root only, as
    test_mount does), so what follows reaches the daemon."""
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


@pytest.mark.parametrize("change", ["touch", "rewrite"])
def test_old_versions_answer_after_eviction(tmp_path, change):
    """Open a directory inside a model, change the model, crowd the cache (the
    replaced version's tree was evicted like any other, and its inodes said
    "Stale file handle"), three times over; then list, stat and go up through
    every open descriptor: each answers as the version it was opened in."""
    path = tmp_path / "m.pkl"
    _dump(_pipeline(), path)
    others = ["o%d.pkl" % i for i in range(3)]
    for i, name in enumerate(others):
        _dump(_logreg(1.0 + i, features=20000), tmp_path / name)
    held = []
    with mounted(str(tmp_path), "-o", "cache_mb=1") as m:
        try:
            for version in range(3):
                steps = os.path.join(m, "m.pkl", "steps")
                step = sorted(os.listdir(steps))[0]
                fd = os.open(os.path.join(steps, step), os.O_RDONLY | os.O_DIRECTORY)
                held.append((fd, step, sorted(os.listdir(fd))))
                time.sleep(0.02)
                if change == "touch":
                    os.utime(path)
                else:
                    _dump(_pipeline(version + 1), path)           # in place
                time.sleep(0.3)
                os.listdir(os.path.join(m, "m.pkl"))      # the new version
                _crowd(m, others)
            assert mount_counter(m, "evictions") >= 6
            _drop_kernel_caches()                       # listings and attributes: asked again
            for fd, step, before in held:
                assert sorted(os.listdir(fd)) == before
                os.fstat(fd)
                up = os.open("..", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
                try:
                    assert step in os.listdir(up)
                    os.fstat(up)
                finally:
                    os.close(up)
        finally:
            for fd, _, _ in held:
                os.close(fd)


def _new_version(model, ino):
    """Wait until the mount shows MODEL (a path) as another version than inode
    number INO: the writer's change was noticed."""
    deadline = time.time() + 20
    while os.stat(model).st_ino == ino:
        assert time.time() < deadline, "the change was never noticed"
        time.sleep(0.02)


def _small_tree(v):
    return {"sub": {"a": np.arange(3) + v}}


def _wide_tree(v):
    """~7 MB of decoded graph (100,000 distinct floats) and a directory inside."""
    return {"sub": {"a": np.arange(3)}, "big": [float(i) + v for i in range(100000)]}


HELD_CAPS = {"trees": (_small_tree, 66), "bytes": (_wide_tree, 12)}


@pytest.mark.parametrize("cap", sorted(HELD_CAPS))
def test_held_trees_stay_within_their_caps(tmp_path, cap):
    """Replaced versions the kernel holds a directory of keep their trees beside
    -o cache_mb (1 MiB here), at most 64 trees (MFS_MAX_HELD_TREES) and 64 MiB
    (MFS_HELD_TREES_BYTES): past a cap the least recently used goes and its
    directories list as removed ones do (empty: ENOENT, which readdir(3) takes
    for the end; it was ESTALE, which reached the application); every newer one
    lists as it did."""
    make, n = HELD_CAPS[cap]
    path = tmp_path / "m.pkl"
    _dump(make(0), path)
    held, answers = [], []
    with mounted(str(tmp_path), "-o", "cache_mb=1") as m:
        model = os.path.join(m, "m.pkl")
        try:
            for version in range(n):
                ino = os.stat(model).st_ino
                fd = os.open(os.path.join(model, "sub"), os.O_RDONLY | os.O_DIRECTORY)
                held.append((fd, sorted(os.listdir(fd))))
                time.sleep(0.01)                  # a new mtime
                _dump(make(version + 1), path)
                _new_version(model, ino)
            os.listdir(os.path.join(model, "sub"))          # the current version decoded
            cached = mount_counter(m, "cached_bytes")
            _drop_kernel_caches()
            for fd, before in held:
                listed = sorted(os.listdir(fd))
                answers.append(True if listed == before else None if listed == [] else listed)
        finally:
            for fd, _ in held:
                os.close(fd)
    gone = answers.count(None)
    assert answers == [None] * gone + [True] * (n - gone), answers
    if cap == "trees":
        assert gone == n - 64
    else:
        assert 0 < gone < n - 1, answers
        per_tree = cached / (n - gone + 1)      # the trees held, and the current one
        assert cached - per_tree <= (64 + 1) << 20, cached     # held + cache_mb


# ---- points 1-2 for a source past the 64 MiB summed at open ---------------------------------

BIG_SHAPE = (9, 1000000)      # 72 MB of float64: past MFS_PROVE_MAX (64 MiB) with its pickle


def _big_joblib(seed, shape=BIG_SHAPE):
    """A joblib file (uncompressed: the array's bytes lie in the file, read lazily)
    holding one big fitted-size array, and the .npy numpy.save writes for it."""
    import joblib
    arr = np.random.RandomState(seed).standard_normal(shape)
    out = io.BytesIO()
    np.save(out, arr)
    raw = io.BytesIO()
    joblib.dump({"coef_": arr}, raw)
    return raw.getvalue(), out.getvalue()


@pytest.fixture(scope="module")
def big_versions():
    """The opened version, and versions written over it in place (bigger, smaller)."""
    return {"old": _big_joblib(1), "bigger": _big_joblib(2, (9, 1100000)),
            "smaller": _big_joblib(3, (9, 100000))}


def _read_on(f):
    """Read an open file to its end, dropping its cached pages before each read
    so every byte comes from the daemon; None when the daemon said EIO."""
    out = bytearray()
    try:
        while True:
            os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
            chunk = f.read(1 << 20)
            if not chunk:
                return bytes(out)
            out += chunk
    except OSError as e:
        assert e.errno == errno.EIO, e
        return None


def _open_read_change(tmp_path, data, watch, change):
    """Mount a source holding DATA, open coef_.npy, read 64 KiB, CHANGE(path),
    read on: (head, rest), rest None for EIO."""
    from test_reliability import WATCH
    path = tmp_path / "m.joblib"
    path.write_bytes(data)
    with mounted(str(tmp_path), *WATCH[watch]) as m:
        with open(os.path.join(m, "m.joblib", "coef_.npy"), "rb", buffering=0) as f:
            head = f.read(65536)
            time.sleep(0.02)                      # a new mtime
            with change(path):
                time.sleep(0.2)
                return head, _read_on(f)


@contextlib.contextmanager
def _touched(path):
    os.utime(path)
    yield


@contextlib.contextmanager
def _appended(path):
    with open(path, "ab") as f:
        f.write(b"appended after the pickle's STOP\n")
    yield


@contextlib.contextmanager
def _same_bytes(path):
    data = path.read_bytes()
    with open(path, "r+b") as f:
        f.write(data)
    yield


def _rewriting(data):
    """A change: DATA written over the file in place, the writer keeping it open
    while the reader goes on (no close event for inotify)."""
    @contextlib.contextmanager
    def rewrite(path):
        with open(path, "r+b") as w:
            w.truncate(0)
            w.write(data)
            w.flush()
            yield
    return rewrite


BIG_CHANGES = {"touch": _touched, "append": _appended, "rewrite-same-bytes": _same_bytes}


@pytest.mark.parametrize("watch", ["inotify", "nowatch"])
@pytest.mark.parametrize("change", sorted(BIG_CHANGES))
def test_touch_or_append_keeps_a_big_source_reading(tmp_path, big_versions, watch, change):
    """Issue 13 point 2 past 64 MiB: a touch, an append or the same bytes written
    again leave the opened array's bytes as they were, so the reader goes on and
    gets exactly what numpy.save writes for the array."""
    data, npy = big_versions["old"]
    assert len(data) > 64 << 20
    head, rest = _open_read_change(tmp_path, data, watch, BIG_CHANGES[change])
    assert rest is not None, "EIO although the bytes did not change"
    assert head + rest == npy


@pytest.mark.parametrize("watch", ["inotify", "nowatch"])
@pytest.mark.parametrize("new", ["bigger", "smaller"])
def test_inplace_rewrite_of_a_big_source_fails_the_handle(tmp_path, big_versions, watch, new):
    """Issue 13 point 1 past 64 MiB: another version written in place (the writer
    keeps the file open) fails the open handle with EIO: never the new bytes
    after the old ones, never a guess."""
    data, npy = big_versions["old"]
    head, rest = _open_read_change(tmp_path, data, watch, _rewriting(big_versions[new][0]))
    assert head == npy[:65536]
    assert rest is None, "read on after an in-place rewrite"


@pytest.mark.parametrize("watch", ["inotify", "nowatch"])
def test_compressed_source_reads_the_version_decoded(tmp_path, watch):
    """A compressed joblib's decompressed bytes are kept by the decode's one pass
    (memory, then the spill file), each proven when read: an open .npy reads on
    with the version decoded whatever is written over the file since."""
    import joblib
    arr = np.random.RandomState(4).standard_normal((9, 100000))
    npy = io.BytesIO()
    np.save(npy, arr)
    data, new = io.BytesIO(), io.BytesIO()
    joblib.dump({"coef_": arr}, data, compress=("zlib", 3))
    joblib.dump({"coef_": arr * 2}, new, compress=("zlib", 3))
    head, rest = _open_read_change(tmp_path, data.getvalue(), watch, _rewriting(new.getvalue()))
    assert rest is not None and head + rest == npy.getvalue()


# ---- point 2 past 64 MiB: plain files and zip members --------------------------------------

BIG_PLAIN = 72 << 20         # past MFS_PROVE_MAX (64 MiB): not summed whole at open before


@pytest.fixture(scope="module")
def big_plain():
    """A plain file's versions: the opened one and one of other bytes, same size."""
    rng = np.random.RandomState(5)
    return {"old": rng.bytes(BIG_PLAIN), "new": rng.bytes(BIG_PLAIN)}


def _open_read_change_at(tmp_path, name, data, inside, change, watch="nowatch"):
    """Mount a source holding NAME = DATA, open NAME/INSIDE (NAME itself when
    INSIDE is None), read 64 KiB, CHANGE(path), read on: (head, rest), rest None
    for EIO."""
    from test_reliability import WATCH
    path = tmp_path / name
    path.write_bytes(data)
    with mounted(str(tmp_path), *WATCH[watch]) as m:
        at = os.path.join(m, name) if inside is None else os.path.join(m, name, inside)
        with open(at, "rb", buffering=0) as f:
            head = f.read(65536)
            time.sleep(0.02)                      # a new mtime
            with change(path):
                time.sleep(0.2)
                return head, _read_on(f)


@contextlib.contextmanager
def _cut_and_grown(path):
    """Cut to half, past what the reader has read, then grown past the size it
    opened: every byte read is still there, the rest is no version of it."""
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size // 2)
        f.seek(0, os.SEEK_END)
        f.write(b"\x01" * (size // 2 + 4096))
    yield


@pytest.mark.parametrize("watch", ["inotify", "nowatch"])
@pytest.mark.parametrize("change", ["touch", "rewrite-same-bytes"])
def test_touch_keeps_a_big_plain_file_reading(tmp_path, big_plain, watch, change):
    """Issue 13 point 2 for a plain file past 64 MiB served as itself: a touch or
    the same bytes written again leave the opened bytes as they were, so the
    reader goes on and gets exactly the file's bytes."""
    data = big_plain["old"]
    head, rest = _open_read_change_at(tmp_path, "data.bin", data, None, BIG_CHANGES[change],
                                      watch)
    assert rest is not None, "EIO although the bytes did not change"
    assert head + rest == data


@pytest.mark.parametrize("change", ["append", "cut-and-grown"])
def test_a_grown_big_plain_file_fails_a_reader_midway(tmp_path, big_plain, change):
    """A plain file past 64 MiB is not summed at open (that would read all of it
    for `head`), so once it is longer than opened the bytes not read yet cannot be
    told from those opened: an append and a file cut and grown again look alike,
    and the second served on would be the start of no version of it (make check's
    churn read such bytes from a 51 KB file before small files were summed at open
    again).  The reader midway gets EIO, after the bytes it had."""
    data = big_plain["old"]
    how = _appended if change == "append" else _cut_and_grown
    head, rest = _open_read_change_at(tmp_path, "data.bin", data, None, how)
    assert head == data[:65536]
    assert rest is None, "served on after a change it cannot tell from a rewrite"


@pytest.mark.parametrize("change", ["append", "cut-and-grown"])
def test_a_small_plain_file_tells_an_append_from_a_cut_and_grown_one(tmp_path, change):
    """A plain file up to 64 MiB is summed whole at open, so an append under a
    reader midway is proven harmless (it reads the bytes opened) and a file cut
    and grown again is not (EIO): the churn's wrong bytes in a 51 KB file, when
    plain files were proven only by what they had served."""
    import numpy as np
    data = np.random.RandomState(7).bytes(1 << 20)
    how = _appended if change == "append" else _cut_and_grown
    head, rest = _open_read_change_at(tmp_path, "notes.bin", data, None, how)
    assert head == data[:65536]
    if change == "append":
        assert rest is not None and head + rest == data
    else:
        assert rest is None, "served bytes of no version of the file"


@pytest.mark.parametrize("new", ["other-bytes", "bigger"])
def test_inplace_rewrite_of_a_big_plain_file_fails_the_handle(tmp_path, big_plain, new):
    """Another version of a big plain file written in place fails the open
    handle: never the new bytes after the old ones."""
    data = big_plain["old"]
    other = big_plain["new"] + (b"more" if new == "bigger" else b"")
    head, rest = _open_read_change_at(tmp_path, "data.bin", data, None, _rewriting(other))
    assert head == data[:65536]
    assert rest is None, "read on after an in-place rewrite"


def _source_bytes(m):
    return mount_counter(m, "source_bytes")


def test_open_of_a_big_plain_file_reads_nothing(tmp_path, big_plain):
    """Issue 13 point 2, its cost: a plain file is proven by the bytes a reader
    was served (source_file.c, SOURCE_PROVE_SERVED), so its open reads nothing
    of SOURCE and `head -c 100` reads a few pages, not the 72 MiB."""
    data = big_plain["old"]
    (tmp_path / "data.bin").write_bytes(data)
    with mounted(str(tmp_path)) as m:
        at = os.path.join(m, "data.bin")
        assert os.stat(at).st_size == len(data)
        before = _source_bytes(m)
        with open(at, "rb", buffering=0) as f:
            opened = _source_bytes(m)
            assert f.read(100) == data[:100]
            read = _source_bytes(m)
        assert opened == before, "the open read %d bytes" % (opened - before)
        assert read - opened < 4 << 20, "head -c 100 read %d bytes" % (read - opened)


PLAIN = (64 << 20) + (4 << 20)  # past MFS_PROVE_MAX: a smaller file is summed whole at open
PLAIN_HEAD = 65536           # read before the change (the kernel may read ahead to 1 MiB)
PLAIN_AT = 3 << 20           # a byte far past what the daemon served before the change


@pytest.fixture(scope="module")
def plain():
    return np.random.RandomState(6).bytes(PLAIN)


@contextlib.contextmanager
def _patched(path, at, data):
    """DATA written over the file at AT in place, size kept, the writer still
    holding the file open while the reader goes on."""
    with open(path, "r+b") as w:
        w.seek(at)
        w.write(data)
        w.flush()
        yield


@pytest.mark.parametrize("first", [0, PLAIN_AT - (1 << 20) + 12345])
def test_touch_after_a_partial_read_keeps_a_plain_file_reading(tmp_path, plain, first):
    """A touch after 64 KiB read at the start or in the middle of a block (the
    daemon proves the block's bytes before them too): the reader goes on, from
    its first byte to its last, with the file's bytes."""
    path = tmp_path / "data.bin"
    path.write_bytes(plain)
    with mounted(str(tmp_path)) as m:
        with open(os.path.join(m, "data.bin"), "rb", buffering=0) as f:
            f.seek(first)
            assert f.read(PLAIN_HEAD) == plain[first:first + PLAIN_HEAD]
            time.sleep(0.02)                      # a new mtime
            os.utime(path)
            time.sleep(0.2)
            f.seek(0)
            assert _read_on(f) == plain


@pytest.mark.parametrize("where", ["unread", "read"])
def test_inplace_change_of_a_plain_file_where_read_or_not(tmp_path, plain, where):
    """Issue 13 point 2: bytes written in place, size kept, where the reader has
    not read yet: every byte it got is still in the file, so it reads on and gets
    the file as it is now (exactly the new file's bytes).  Where it has read: EIO,
    never the new bytes after the old ones."""
    at = PLAIN_AT if where == "unread" else 1000
    patch = np.random.RandomState(7).bytes(4096)
    new = plain[:at] + patch + plain[at + len(patch):]
    assert new != plain and len(new) == len(plain)
    head, rest = _open_read_change_at(tmp_path, "data.bin", plain, None,
                                      lambda path: _patched(path, at, patch))
    assert head == plain[:65536]
    if where == "read":
        assert rest is None, "read on after bytes it had read were rewritten"
    else:
        assert rest is not None, "EIO although no byte read had changed"
        assert head + rest == new


def test_plain_file_cut_short_fails_the_handle(tmp_path, plain):
    """Every byte read still in place but the file cut below the size opened:
    EIO, never a short file where the opened one went on."""
    @contextlib.contextmanager
    def cut(path):
        os.truncate(path, PLAIN_AT)
        yield
    head, rest = _open_read_change_at(tmp_path, "data.bin", plain, None, cut)
    assert head == plain[:65536]
    assert rest is None, "read on after the file was cut short"


def _npy(arr):
    out = io.BytesIO()
    np.save(out, arr)
    return out.getvalue()


SKOPS_SCHEMA = {"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode",
                "content": {"a": {"__class__": "ndarray", "__module__": "numpy",
                                  "__loader__": "NdArrayNode", "type": "numpy", "file": "1.npy",
                                  "__id__": 1}},
                "key_types": {"__class__": "list", "__module__": "builtins",
                              "__loader__": "ListNode",
                              "content": [{"__class__": "str", "__module__": "builtins",
                                           "__loader__": "TypeNode", "__id__": 2}]},
                "protocol": 2, "_skops_version": "0.11.0", "__id__": 3}


def _skops(arr, method):
    """A skops file as skops writes it (zipfile; stored is skops' default): the
    array as 1.npy, schema.json naming it as key 'a'."""
    import json
    import zipfile
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=method) as z:
        z.writestr("1.npy", _npy(arr))
        z.writestr("schema.json", json.dumps(SKOPS_SCHEMA))
    return out.getvalue()


def _npz(arr, compressed):
    out = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(out, w=arr)
    return out.getvalue()


def _big_zip(kind, seed, rows=9):
    """(file name, bytes, path of the array inside the mount, numpy.save bytes)
    of a zip past 64 MiB holding one big array, written by the real library."""
    import zipfile
    arr = np.random.RandomState(seed).standard_normal((rows, 1000000))
    if kind == "skops-stored":
        return "m.skops", _skops(arr, zipfile.ZIP_STORED), "a.npy", _npy(arr)
    if kind == "skops-deflated":
        return "m.skops", _skops(arr, zipfile.ZIP_DEFLATED), "a.npy", _npy(arr)
    if kind == "npz-compressed":
        return "m.npz", _npz(arr, True), "w.npy", _npy(arr)
    if kind == "torch":
        import torch
        out = io.BytesIO()
        torch.save({"w": torch.from_numpy(arr)}, out)
        return "m.pt", out.getvalue(), "w.npy", _npy(arr)
    raise AssertionError(kind)


BIG_ZIPS = ["skops-stored", "skops-deflated", "npz-compressed", "torch"]


@pytest.fixture(scope="module")
def big_zips():
    return {k: (_big_zip(k, 6), _big_zip(k, 7)) for k in BIG_ZIPS}


@pytest.mark.parametrize("change", sorted(BIG_CHANGES))
@pytest.mark.parametrize("kind", BIG_ZIPS)
def test_touch_or_append_keeps_a_big_zip_member_reading(tmp_path, big_zips, kind, change):
    """Issue 13 point 2 for members of a zip past 64 MiB (skops, npz, torch): a
    touch, an append or the same bytes written again leave the member's bytes
    as they were: the reader goes on and gets exactly numpy.save's bytes."""
    name, data, inside, npy = big_zips[kind][0]
    assert len(data) > 64 << 20
    head, rest = _open_read_change_at(tmp_path, name, data, inside, BIG_CHANGES[change])
    assert rest is not None, "EIO although the bytes did not change"
    assert head + rest == npy


@pytest.mark.parametrize("kind", BIG_ZIPS)
def test_inplace_rewrite_of_a_big_zip_fails_its_members(tmp_path, big_zips, kind):
    """Another zip written in place fails an open member: never a mix."""
    name, data, inside, npy = big_zips[kind][0]
    head, rest = _open_read_change_at(tmp_path, name, data, inside,
                                      _rewriting(big_zips[kind][1][1]))
    assert head == npy[:65536]
    assert rest is None, "read on after an in-place rewrite"
