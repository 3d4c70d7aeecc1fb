"""Issue 18, frugal with the source: what the mount reads of SOURCE, per operation.

The counters (user.modelfs.source_reads / source_bytes, on every node) count
each pread of a file under SOURCE.  The bounds follow from the file's own
structure, found by Python: joblib.load is run over the file with its array
reader watched, which gives every array payload's extent; what a decode must
read is the rest (the pickle stream).  The reader's window (source.h) reads a
run of g bytes between two payloads of READER_MIN bytes or more in fewer than
2g + READER_MIN bytes and at most 6 + g / (READER_BUF - READER_MIN) reads,
plus the format's look at the first MFS_IDENT_BYTES.  Nothing here is timed.
"""
import math
import os
import pickle
import subprocess

import numpy as np
import pytest

import re

from conftest import mount_process, mounted

READER_MIN = 4096          # include/modelfs/source.h
READER_BUF = 65536
IDENT_BYTES = 4096         # MFS_IDENT_BYTES, include/modelfs/limits.h


def counters(path):
    return (int(os.getxattr(path, "user.modelfs.source_reads")),
            int(os.getxattr(path, "user.modelfs.source_bytes")))


def payloads(path):
    """[(start, end)] of every array payload of a joblib file, as joblib.load
    reads them (the alignment padding before each counts as pickle)."""
    code = r"""
import sys, joblib
from joblib import numpy_pickle as npk
spans = []
orig = npk.NumpyArrayWrapper.read_array
def watched(self, unpickler):
    out = orig(self, unpickler)
    if not self.dtype.hasobject:
        end = unpickler.file_handle.tell()
        spans.append((end - out.nbytes, end))
    return out
npk.NumpyArrayWrapper.read_array = watched
with open(sys.argv[1], "rb") as f:
    joblib.load(f)
for s, e in spans:
    print(s, e)
"""
    out = subprocess.run(["/usr/bin/python3", "-c", code, path], check=True,
                         stdout=subprocess.PIPE).stdout.decode().split("\n")
    return [tuple(map(int, line.split())) for line in out if line]


def runs(path):
    """Lengths of the stretches a decode reads: the file minus array payloads
    of READER_MIN bytes or more (smaller ones are stepped over inside the
    reader's buffer, so they count as read)."""
    size = os.path.getsize(path)
    gaps, at = [], 0
    for s, e in payloads(path):
        if e - s < READER_MIN:
            continue
        gaps.append(s - at)
        at = e
    gaps.append(size - at)
    return gaps


def bounds(path):
    gaps = runs(path)
    nbytes = IDENT_BYTES + sum(2 * g + READER_MIN for g in gaps)
    nreads = 1 + sum(6 + g // (READER_BUF - READER_MIN) for g in gaps)
    return nbytes, nreads, gaps


@pytest.fixture(scope="module")
def frugal_models(tmp_path_factory):
    """The forest (joblib.dump of a 100-tree RandomForestClassifier) and a
    128 MiB float64 array, uncompressed joblib."""
    d = tmp_path_factory.mktemp("frugal")
    code = r"""
import sys, joblib, numpy as np
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
X, y = make_classification(n_samples=20000, n_features=5, n_informative=3, random_state=0)
rf = RandomForestClassifier(n_estimators=100, random_state=0, n_jobs=2).fit(X, y)
joblib.dump(rf, sys.argv[1] + "/rf.joblib")
a = np.random.default_rng(0).standard_normal(128 * 2**20 // 8)
joblib.dump(a, sys.argv[1] + "/a.none.joblib")
"""
    subprocess.run(["/usr/bin/python3", "-c", code, str(d)], check=True, timeout=600)
    return str(d)


def test_counters_on_every_node_count_what_is_read(tmp_path):
    """One mount-wide pair on the root and on any node; a plain file passed
    through costs at least its bytes, and the counters never go back."""
    data = os.urandom(300_000)
    (tmp_path / "data.bin").write_bytes(data)
    with open(tmp_path / "m.pkl", "wb") as f:
        pickle.dump({"w": np.arange(1000.0)}, f, protocol=4)
    with mounted(str(tmp_path), "-o", "frugal") as m:
        r0, b0 = counters(m)
        with open(os.path.join(m, "data.bin"), "rb") as f:
            assert f.read() == data
        r1, b1 = counters(m)
        assert b1 - b0 >= len(data) and r1 > r0
        assert b1 - b0 <= len(data) + 2 * 131072, "read %d bytes of a %d-byte file" % (
            b1 - b0, len(data))
        assert counters(os.path.join(m, "data.bin")) == (r1, b1)
        for node in ("m.pkl", "m.pkl/meta.json", "m.pkl/w.npy"):
            assert counters(os.path.join(m, node))[0] >= r1
        names = os.listxattr(os.path.join(m, "m.pkl", "meta.json"))
        assert "user.modelfs.source_reads" in names and "user.modelfs.source_bytes" in names


def test_stats_at_unmount_are_the_counters(tmp_path):
    """-o stats (README, man page): at unmount the daemon's stderr says how often
    and how much SOURCE was read, the same figures the counters gave last."""
    with open(tmp_path / "m.pkl", "wb") as f:
        pickle.dump({"w": np.arange(1000.0)}, f, protocol=4)
    with mount_process(str(tmp_path), "-o", "stats") as (m, proc):
        with open(os.path.join(m, "m.pkl", "w.npy"), "rb") as f:
            f.read()
        reads, nbytes = counters(m)
        subprocess.run(["fusermount3", "-u", m], check=True)
        proc.wait(timeout=30)
        err = proc.stderr.read().decode()
    said = re.search(r"SOURCE read (\d+) times, (\d+) bytes", err)
    assert said, err
    assert (int(said.group(1)), int(said.group(2))) == (reads, nbytes) and reads > 0, err


@pytest.mark.parametrize("name", ["rf.joblib", "a.none.joblib"])
@pytest.mark.parametrize("frugal", [True, False], ids=["frugal", "default"])
def test_cat_meta_json_reads_the_pickle_not_the_arrays(frugal_models, name, frugal):
    """cat meta.json after the model was looked up: at most the pickle stream's
    bound in bytes and reads (-o frugal), or that plus one pass of 1 MiB reads
    for the sums taken at open (default, files up to 64 MiB)."""
    path = os.path.join(frugal_models, name)
    size = os.path.getsize(path)
    nbytes, nreads, gaps = bounds(path)
    assert sum(gaps) < size // 10, "the file is mostly arrays: %d of %d" % (sum(gaps), size)
    if not frugal and size <= 64 << 20:
        nbytes += size
        nreads += math.ceil(size / (1 << 20))
    opts = ("-o", "frugal") if frugal else ()
    with mounted(frugal_models, *opts) as m:
        model = os.path.join(m, name)
        os.stat(model)
        r0, b0 = counters(m)
        with open(os.path.join(model, "meta.json")) as f:
            assert '"status": "ok"' in f.read()
        r1, b1 = counters(m)
    assert b1 - b0 <= nbytes, "%s: read %d bytes, bound %d (%d runs, %d bytes of pickle)" % (
        name, b1 - b0, nbytes, len(gaps), sum(gaps))
    assert r1 - r0 <= nreads, "%s: %d reads, bound %d" % (name, r1 - r0, nreads)


def test_looking_models_up_reads_their_heads_only(frugal_models):
    """ls -l of SOURCE identifies each file from its first bytes: no sums."""
    with mounted(frugal_models) as m:
        r0, b0 = counters(m)
        names = sorted(os.listdir(m))
        for n in names:
            os.stat(os.path.join(m, n))
        r1, b1 = counters(m)
    assert names == ["a.none.joblib", "rf.joblib"]
    assert b1 - b0 <= len(names) * 2 * IDENT_BYTES, "identifying read %d bytes" % (b1 - b0)


def test_frugal_cat_of_the_array_reads_it_once(frugal_models):
    """-o frugal, cat value.npy of the 128 MiB array: its payload once (no sums),
    in large reads."""
    path = os.path.join(frugal_models, "a.none.joblib")
    (start, end), = payloads(path)
    with mounted(frugal_models, "-o", "frugal") as m:
        npy = os.path.join(m, "a.none.joblib", "value.npy")
        os.stat(npy)
        r0, b0 = counters(m)
        with open(npy, "rb") as f:
            n = 0
            while True:
                chunk = f.read(1 << 20)
                if not chunk:
                    break
                n += len(chunk)
        r1, b1 = counters(m)
    assert n > end - start
    assert end - start <= b1 - b0 <= (end - start) + (1 << 20), (b1 - b0, end - start)
    assert r1 - r0 <= (end - start) // (64 << 10) + 16, r1 - r0
