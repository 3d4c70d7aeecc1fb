#!/usr/bin/python3
"""churn.py -- readers and a writer side by side over a mounted SOURCE (issue 13).

The writer keeps changing the files of SOURCE in every way a model file changes:
re-saved through a temporary name and renamed over, rewritten in place (truncated,
then written), touched, appended to, cut short, deleted and written again; and
names come and go.  Readers meanwhile read whole entries (a model's `coef_.npy`,
a plain file itself) and compare them with the truth Python computed for every
version the writer ever wrote: each read is exactly one version, or fails with
EIO (or ENOENT while the name is gone or the model is broken) -- never a mix,
never ESTALE.  Walkers run `find` over the churned names the whole time.

Beside them, hostile walkers read the hostile suite (scripts/make_hostile.py)
mounted in the same SOURCE: every model's meta.json, its whole tree and the head
of every file in it.  Those files never change, so every reading of one must give
the same answer (the same bytes, or the same error) as its first: a decode
evicted, redone or run beside the churn changes nothing.

`tests/test_reliability.py` and `tests/test_churn.py` run it for seconds under
`make check` (the ASan/UBSan daemon); `scripts/stress.py` (`make stress`) for
minutes with a small cache and big models, and prints the figures.

    churn.py SOURCE MOUNTPOINT DAEMON_PID SECONDS   (SOURCE already holds the models)
"""
import errno
import hashlib
import io
import json
import os
import pickle
import random
import subprocess
import sys
import threading
import time

import numpy as np

# What the ASan/UBSan daemon's stderr holds when it reports (during the run, or
# LeakSanitizer's at exit).
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "SUMMARY: AddressSanitizer", "SUMMARY: UndefinedBehaviorSanitizer")

# Every kind of change the writer makes (Target.change); CLASSIC: those of the
# first churn (test_reliability.py's), without a name cut short or deleted.
KINDS = ["rename", "inplace", "touch", "append", "truncate", "delete-recreate", "create-delete"]
CLASSIC = ["rename", "inplace", "touch", "append", "create-delete"]
HOSTILE_DIR = "hostile"          # where the hostile suite lies in SOURCE (and the mount)
HOSTILE_HEAD = 65536             # bytes read of each hostile file (a 1 GiB value has a head)
HOSTILE_ENTRIES = 256            # entries walked per hostile model at most (a bomb's tree
                                 # is 1,000 levels deep: each level a lookup of the whole path)


def make_versions(n=4, features=3000):
    """N fitted models whose coef_ differ (the truth readers compare with), and
    their pickles."""
    import warnings
    from sklearn.linear_model import LogisticRegression
    warnings.filterwarnings("ignore")            # lbfgs stops early: any fit will do
    rng = np.random.RandomState(0)
    X = rng.rand(60, features)
    y = np.arange(60) % 3
    models = [LogisticRegression(C=0.1 * (i + 1), max_iter=30).fit(X, y) for i in range(n)]
    return [m.coef_ for m in models], [pickle.dumps(m, protocol=4) for m in models]


def seed(source, blobs, models):
    for i in range(models):
        with open(os.path.join(source, "m%02d.pkl" % i), "wb") as f:
            f.write(blobs[i % len(blobs)])


def npy_bytes(arr):
    out = io.BytesIO()
    np.save(out, arr)
    return out.getvalue()


# ---- what is churned: targets --------------------------------------------------------------

class Target:
    """A name in SOURCE that the writer changes and readers read through the mount.

    blobs: the bytes of each version the writer writes; entry: the path read
    inside the model directory ("" for a plain file, read as itself); check(data):
    whether bytes read whole are one version's (or, for a plain file, what the
    file held at some instant: a version, cut short or with zeros appended)."""

    def __init__(self, name, kind, blobs, entry, check, weight=1.0):
        self.name, self.kind, self.blobs, self.entry = name, kind, blobs, entry
        self.check, self.weight = check, weight

    def seed(self, source):
        with open(os.path.join(source, self.name), "wb") as f:
            f.write(self.blobs[0])


def model_targets(truths, blobs, models):
    """The small models m00.pkl...: coef_.npy loaded by numpy must equal a truth."""
    def check(data):
        try:
            got = np.load(io.BytesIO(data))
        except ValueError:
            return False
        return any(got.shape == t.shape and got.dtype == t.dtype and np.array_equal(got, t)
                   for t in truths)
    out = []
    for i in range(models):
        t = Target("m%02d.pkl" % i, "small model", blobs, "coef_.npy", check)
        t.blobs = blobs[i % len(blobs):] + blobs[:i % len(blobs)]   # seeds as seed() did
        out.append(t)
    return out


def array_target(name, kind, versions, dump, weight):
    """A model holding one array `coef_` per version (numpy arrays), written by
    DUMP(obj) -> bytes; coef_.npy must be byte for byte what numpy.save writes."""
    blobs = [dump({"coef_": a}) for a in versions]
    want = {npy_bytes(a) for a in versions}
    return Target(name, kind, blobs, "coef_.npy", lambda data: bytes(data) in want, weight)


def plain_target(name, kind, blobs, weight):
    """A file that is no model: served as itself.  It may be opened while the
    writer cuts it or writes it in halves, and zeros are appended to it, so what
    a reader gets is a version's prefix, followed by zeros or not; a mix of two
    versions (random bytes) is neither."""
    def check(data):
        for v in blobs:
            n = min(len(data), len(v))
            same = np.frombuffer(data[:n], np.uint8) == np.frombuffer(v[:n], np.uint8)
            cut = n if same.all() else int(np.argmin(same))    # first byte that differs
            if not any(data[cut:]):
                return True
        return False
    return Target(name, kind, blobs, "", check, weight)


def joblib_bytes(obj, compress=0):
    import joblib
    out = io.BytesIO()
    joblib.dump(obj, out, compress=compress)
    return out.getvalue()


def extra_targets(big=False):
    """Targets beside the small models: a compressed joblib and a plain file, and
    with BIG an array past MFS_PROVE_MAX (64 MiB, summed only in part at open) and
    a plain file past it too."""
    rng = np.random.RandomState(7)
    out = [array_target("c.joblib.z", "compressed joblib",
                        [rng.standard_normal((9, 200000 if big else 20000)) for _ in range(2)],
                        lambda o: joblib_bytes(o, ("zlib", 3)), 1.0),
           plain_target("notes.bin", "plain file",
                        [rng.bytes(300000), rng.bytes(200000)], 1.0)]
    if big:
        out.append(array_target("big.joblib", "array over 64 MiB",
                                [rng.standard_normal((9, 1000000)) for _ in range(2)],
                                joblib_bytes, 0.15))
        out.append(plain_target("big.bin", "plain file over 64 MiB",
                                [rng.bytes((66 << 20) + 4096 * i) for i in range(2)], 0.15))
    return out


# ---- figures ---------------------------------------------------------------------------------

class Figures:
    def __init__(self):
        self.lock = threading.Lock()
        self.reads = self.wrong = self.estale = self.eio = self.absent = self.other = 0
        self.walks = self.walk_stale = self.walk_errors = 0
        self.changes = {}
        self.slowest = 0.0
        self.rss_peak_kib = self.fd_peak = 0
        self.examples = []
        self.by_kind = {}                # target kind -> {reads, wrong, eio, absent, estale, slowest}
        self.hostile_reads = self.hostile_files = self.hostile_errors = 0
        self.hostile_changed = self.hostile_stale = self.hostile_bad_meta = 0
        self.hostile_models = self.hostile_passes = 0
        self.hostile_slowest = 0.0
        self.hostile_slowest_name = None
        self.hung = 0

    def add(self, **kw):
        with self.lock:
            for k, v in kw.items():
                setattr(self, k, getattr(self, k) + v)

    def kind(self, kind, what, took=0.0):
        with self.lock:
            k = self.by_kind.setdefault(kind, {"reads": 0, "wrong": 0, "eio": 0, "absent": 0,
                                               "estale": 0, "other": 0, "slowest": 0.0})
            k[what] += 1
            k["slowest"] = max(k["slowest"], took)

    def note(self, what):
        with self.lock:
            if len(self.examples) < 8:
                self.examples.append(what)

    def as_dict(self):
        return {k: v for k, v in self.__dict__.items() if k != "lock"}


# ---- the writer ------------------------------------------------------------------------------

class Writer:
    """Changes a random target in a random way every 10-60 ms."""

    def __init__(self, source, targets, fig, rng, kinds=KINDS):
        self.source, self.targets, self.fig, self.rng, self.kinds = source, targets, fig, rng, kinds
        self.serial = 0

    def tmp(self):
        self.serial += 1
        return os.path.join(self.source, ".tmp.%06d" % self.serial)

    def write_new(self, path, blob):
        with open(path, "wb") as f:
            f.write(blob)

    def change(self, t, kind):
        path = os.path.join(self.source, t.name)
        blob = self.rng.choice(t.blobs)
        if kind == "rename":                      # how joblib/pickle users save safely
            tmp = self.tmp()
            self.write_new(tmp, blob)
            os.replace(tmp, path)
        elif kind == "inplace":                   # `open(path, "wb")`: truncated, then written
            with open(path, "r+b") as f:
                f.truncate(0)
                f.write(blob[: len(blob) // 2])
                f.flush()
                time.sleep(0.005)                 # readers may catch it half written
                f.write(blob[len(blob) // 2:])
        elif kind == "truncate":                  # cut short (a failed copy); the next change mends it
            size = os.stat(path).st_size
            os.truncate(path, self.rng.randrange(size) if size else 0)
        elif kind == "delete-recreate":           # rm, then written again: a new inode, same name
            os.unlink(path)
            time.sleep(0.005)
            self.write_new(path, blob)
        elif kind == "create-delete":             # a name that comes and goes
            tmp = self.tmp()
            small = min(self.targets, key=lambda x: len(x.blobs[0])).blobs[0]
            self.write_new(tmp, small if self.serial % 2 else b"not a model\n")
            time.sleep(0.005)
            os.unlink(tmp)
        elif kind == "touch":                     # touch, rsync -t
            os.utime(path)
        else:                                     # an append after the model's end
            with open(path, "ab") as f:
                f.write(b"\0" * self.rng.randrange(1, 4096))

    def run(self, stop):
        weights = [t.weight for t in self.targets]
        while not stop.is_set():
            t = self.rng.choices(self.targets, weights)[0]
            kind = self.rng.choice(self.kinds)
            self.change(t, kind)
            with self.fig.lock:
                self.fig.changes[kind] = self.fig.changes.get(kind, 0) + 1
            time.sleep(self.rng.uniform(0.01, 0.06))


# ---- readers, walkers ------------------------------------------------------------------------

def read_whole(path, rng):
    """A file's bytes, read to its end in chunks of random size, the kernel's
    cached pages dropped half of the time (so the daemon serves them)."""
    data = bytearray()
    with open(path, "rb", buffering=0) as f:
        if rng.random() < 0.5:
            os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        while True:
            chunk = f.read(rng.choice([4096, 65536, 1 << 20]))
            if not chunk:
                return data
            data += chunk


def reader(mnt, targets, stop, fig, rng):
    weights = [t.weight for t in targets]
    while not stop.is_set():
        t = rng.choices(targets, weights)[0]
        path = os.path.join(mnt, t.name, t.entry) if t.entry else os.path.join(mnt, t.name)
        t0 = time.monotonic()
        try:
            data = read_whole(path, rng)
        except OSError as e:
            if e.errno == errno.ESTALE:
                fig.add(estale=1)
                fig.kind(t.kind, "estale")
                fig.note("ESTALE reading %s" % path)
            elif e.errno == errno.EIO:
                fig.add(eio=1)
                fig.kind(t.kind, "eio")
            elif e.errno in (errno.ENOENT, errno.ENOTDIR):
                # Opened while deleted, or while rewritten or cut: the model is
                # broken (meta.json says why), without a coef_.npy, or its bytes
                # are no model at all (cut to nothing), a plain file.
                fig.add(absent=1)
                fig.kind(t.kind, "absent")
            else:
                fig.add(other=1)
                fig.kind(t.kind, "other")
                fig.note("%s reading %s" % (e, path))
            continue
        took = time.monotonic() - t0
        ok = t.check(data)
        with fig.lock:
            if t.kind == "small model":
                fig.slowest = max(fig.slowest, took)
        fig.add(reads=1, wrong=0 if ok else 1)
        fig.kind(t.kind, "reads", took)
        if not ok:
            fig.kind(t.kind, "wrong")
            fig.note("wrong bytes in %s (%d bytes)" % (path, len(data)))


def walker(mnt, stop, fig):
    hostile = os.path.join(mnt, HOSTILE_DIR)
    while not stop.is_set():
        # The hostile suite is walked by the hostile walkers, file by file.
        p = subprocess.run(["find", mnt, "-path", hostile, "-prune", "-o", "-print"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        err = p.stderr.decode(errors="replace")
        stale = "Stale file handle" in err
        # A temporary name renamed away during the walk vanishes, as on any
        # filesystem ("No such file or directory"); anything else is an error.
        others = [l for l in err.splitlines()
                  if "Stale" in l or ("/.tmp." not in l and "No such file" not in l)]
        fig.add(walks=1, walk_stale=1 if stale else 0, walk_errors=1 if others else 0)
        if stale or others:
            fig.note("find: " + (err.strip().splitlines() or ["?"])[0])


def hostile_reading(top):
    """What the mount answers for one hostile model: a digest of its meta.json,
    its tree (names, kinds) and the head of every file (or the error each gave),
    the meta.json parsed (or None), files read, errors met, and ESTALE seen."""
    h = hashlib.sha256()
    meta, files, errors, stale = None, 0, 0, False

    def err(what, e):
        nonlocal errors, stale
        errors += 1
        stale = stale or e.errno == errno.ESTALE
        h.update(("%s:E%d\n" % (what, e.errno)).encode())

    try:
        with open(os.path.join(top, "meta.json"), "rb") as f:
            raw = f.read()
        h.update(raw)
        meta = json.loads(raw)
    except OSError as e:
        err("meta.json", e)
    except ValueError:
        pass
    stack, seen = [top], 0
    while stack and seen < HOSTILE_ENTRIES:
        d = stack.pop()
        try:
            with os.scandir(d) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as e:
            err(os.path.relpath(d, top), e)
            continue
        for e in entries:
            seen += 1
            rel = os.path.relpath(e.path, top)
            try:
                if e.is_dir(follow_symlinks=False):
                    h.update(("d %s\n" % rel).encode())
                    stack.append(e.path)
                elif e.is_symlink():
                    h.update(("l %s %s\n" % (rel, os.readlink(e.path))).encode())
                else:
                    with open(e.path, "rb") as f:
                        data = f.read(HOSTILE_HEAD)
                    files += 1
                    h.update(("f %s %d\n" % (rel, len(data))).encode())
                    h.update(data)
            except OSError as x:
                err(rel, x)
    return h.hexdigest(), meta, files, errors, stale


def meta_is_sane(meta):
    """meta.json of any file, however hostile: a status, a verdict, and never
    "safe" for a file not decoded to its end (anchor 15)."""
    if not isinstance(meta, dict) or meta.get("status") not in ("ok", "error"):
        return False
    if meta.get("verdict") not in ("safe", "untrusted", "dangerous", "incomplete"):
        return False
    if meta["status"] == "error":
        return meta["verdict"] in ("incomplete", "dangerous") and bool(meta.get("error"))
    return meta["verdict"] != "incomplete"


class HostileWalk:
    """Hands out the hostile models in turns (one pass = every model once); the
    first reading of each is the one every later reading must equal."""

    def __init__(self, names, rng):
        self.names = list(names)
        rng.shuffle(self.names)
        self.lock = threading.Lock()
        self.next = 0
        self.first = {}

    def take(self):
        with self.lock:
            i = self.next
            self.next += 1
            return self.names[i % len(self.names)], i // len(self.names)

    def passes_done(self):
        with self.lock:
            return self.next // len(self.names)


def hostile_walker(mnt, walk, stop, fig):
    while not stop.is_set():
        name, _ = walk.take()
        t0 = time.monotonic()
        digest, meta, files, errors, stale = hostile_reading(os.path.join(mnt, HOSTILE_DIR, name))
        took = time.monotonic() - t0
        with walk.lock:
            first = walk.first.setdefault(name, digest)
        with fig.lock:
            if took > fig.hostile_slowest:
                fig.hostile_slowest, fig.hostile_slowest_name = took, name
        fig.add(hostile_models=1, hostile_files=files, hostile_errors=errors,
                hostile_stale=1 if stale else 0, hostile_changed=0 if first == digest else 1,
                hostile_bad_meta=0 if meta_is_sane(meta) else 1)
        if stale or first != digest or not meta_is_sane(meta):
            fig.note("hostile %s: %s" % (name, "ESTALE" if stale else
                                         "answers differ" if first != digest else
                                         "meta.json %r" % (meta,)))


def sample(pid, stop, fig):
    while not stop.is_set():
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss = int(line.split()[1])
                        with fig.lock:
                            fig.rss_peak_kib = max(fig.rss_peak_kib, rss)
            fds = len(os.listdir("/proc/%d/fd" % pid))
            with fig.lock:
                fig.fd_peak = max(fig.fd_peak, fds)
        except OSError:
            pass
        time.sleep(0.1)


def run(source, mnt, pid, seconds, truths, blobs, models=4, readers=4, walkers=1, seed_=1,
        extra=(), hostile=(), hostile_walkers=0, hostile_passes=1, join_seconds=300,
        kinds=CLASSIC):
    """Churn for SECONDS -- and, with HOSTILE (names in SOURCE/hostile), until the
    hostile walkers have read every hostile model HOSTILE_PASSES times; returns
    the Figures.  EXTRA: more Targets (already seeded) churned beside the models;
    KINDS: the changes the writer makes.  Threads still running JOIN_SECONDS after
    the end are counted as hung."""
    fig = Figures()
    stop = threading.Event()
    rng = random.Random(seed_)
    targets = model_targets(truths, blobs, models) + list(extra)
    walk = HostileWalk(hostile, random.Random(rng.random())) if hostile else None

    def thread(fn, *args):
        return threading.Thread(target=fn, args=args, daemon=True)
    threads = [thread(Writer(source, targets, fig, random.Random(rng.random()), kinds).run, stop)]
    threads += [thread(reader, mnt, targets, stop, fig, random.Random(rng.random()))
                for _ in range(readers)]
    threads += [thread(walker, mnt, stop, fig) for _ in range(walkers)]
    if walk:
        threads += [thread(hostile_walker, mnt, walk, stop, fig) for _ in range(hostile_walkers)]
    threads += [thread(sample, pid, stop, fig)]
    for t in threads:
        t.start()
    try:
        end = time.monotonic() + seconds
        while time.monotonic() < end or (walk and walk.passes_done() < hostile_passes
                                         and time.monotonic() < end + join_seconds):
            time.sleep(0.1)
    finally:
        stop.set()
        deadline = time.monotonic() + join_seconds
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        fig.hung = sum(t.is_alive() for t in threads)
        if walk:
            fig.hostile_passes = walk.passes_done()
    return fig


if __name__ == "__main__":
    src, mnt, pid, secs = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    truths, blobs = make_versions()
    print(run(src, mnt, pid, secs, truths, blobs).as_dict())
