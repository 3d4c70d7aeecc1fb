#!/usr/bin/python3
"""churn.py -- readers and a writer side by side over a mounted SOURCE (issue 13).

The writer keeps changing the models of SOURCE in every way a model file
changes: re-saved through a temporary name and renamed over, rewritten in place
(truncated, then written), touched, appended to; and names come and go.  Readers meanwhile read whole
`coef_.npy` files and load them with numpy: each must be exactly one of the
versions the writer ever wrote (the truth: numpy's own arrays) or fail with EIO
-- never a mix, never ESTALE.  Walkers run `find` over the mount the whole time.

`tests/test_reliability.py` runs it for seconds under `make check`;
`scripts/stress.py` (`make stress`) for minutes with a small cache, and prints
the figures.

    churn.py SOURCE MOUNTPOINT DAEMON_PID SECONDS   (SOURCE already holds the models)
"""
import errno
import io
import os
import pickle
import random
import subprocess
import sys
import threading
import time

import numpy as np


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


class Figures:
    def __init__(self):
        self.lock = threading.Lock()
        self.reads = self.wrong = self.estale = self.eio = self.absent = self.other = 0
        self.walks = self.walk_stale = self.walk_errors = 0
        self.changes = {}
        self.slowest = 0.0
        self.rss_peak_kib = self.fd_peak = 0
        self.examples = []

    def add(self, **kw):
        with self.lock:
            for k, v in kw.items():
                setattr(self, k, getattr(self, k) + v)

    def note(self, what):
        with self.lock:
            if len(self.examples) < 5:
                self.examples.append(what)

    def as_dict(self):
        return {k: v for k, v in self.__dict__.items() if k != "lock"}


def writer(source, blobs, models, stop, fig, rng):
    kinds = ["rename", "inplace", "touch", "append", "create-delete"]
    serial = 0
    while not stop.is_set():
        path = os.path.join(source, "m%02d.pkl" % rng.randrange(models))
        kind = rng.choice(kinds)
        blob = rng.choice(blobs)
        if kind == "rename":
            serial += 1
            tmp = os.path.join(source, ".tmp.%06d" % serial)
            with open(tmp, "wb") as f:
                f.write(blob)
            os.replace(tmp, path)
        elif kind == "inplace":
            with open(path, "r+b") as f:
                f.truncate(0)
                f.write(blob[: len(blob) // 2])
                f.flush()
                time.sleep(0.005)                  # readers may catch it half written
                f.write(blob[len(blob) // 2:])
        elif kind == "create-delete":           # a name that comes and goes
            serial += 1
            tmp = os.path.join(source, ".tmp.%06d" % serial)
            with open(tmp, "wb") as f:
                f.write(blob if serial % 2 else b"not a model\n")
            time.sleep(0.005)
            os.unlink(tmp)
        elif kind == "touch":
            os.utime(path)
        else:
            with open(path, "ab") as f:
                f.write(b"\0" * rng.randrange(1, 4096))
        with fig.lock:
            fig.changes[kind] = fig.changes.get(kind, 0) + 1
        time.sleep(rng.uniform(0.01, 0.06))


def matches(got, truths):
    return any(got.shape == t.shape and got.dtype == t.dtype and np.array_equal(got, t)
               for t in truths)


def reader(mnt, truths, models, stop, fig, rng):
    while not stop.is_set():
        path = os.path.join(mnt, "m%02d.pkl" % rng.randrange(models), "coef_.npy")
        t0 = time.monotonic()
        try:
            with open(path, "rb", buffering=0) as f:
                if rng.random() < 0.5:
                    os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
                data = b""
                while True:
                    chunk = f.read(rng.choice([4096, 65536, 1 << 20]))
                    if not chunk:
                        break
                    data += chunk
        except OSError as e:
            if e.errno == errno.ESTALE:
                fig.add(estale=1)
                fig.note("ESTALE reading %s" % path)
            elif e.errno == errno.EIO:
                fig.add(eio=1)
            elif e.errno == errno.ENOENT:
                # Opened while rewritten in place: the half-written file is a
                # broken model (meta.json says why), without a coef_.npy.
                fig.add(absent=1)
            else:
                fig.add(other=1)
                fig.note("%s reading %s" % (e, path))
            continue
        took = time.monotonic() - t0
        with fig.lock:
            fig.slowest = max(fig.slowest, took)
        try:
            ok = matches(np.load(io.BytesIO(data)), truths)
        except ValueError:
            ok = False
        fig.add(reads=1, wrong=0 if ok else 1)
        if not ok:
            fig.note("wrong bytes in %s (%d bytes)" % (path, len(data)))


def walker(mnt, stop, fig):
    while not stop.is_set():
        p = subprocess.run(["find", mnt], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        err = p.stderr.decode(errors="replace")
        stale = "Stale file handle" in err
        # A temporary name renamed away during the walk vanishes, as on any
        # filesystem ("No such file or directory"); anything else is an error.
        others = [l for l in err.splitlines()
                  if "Stale" in l or ("/.tmp." not in l and "No such file" not in l)]
        fig.add(walks=1, walk_stale=1 if stale else 0, walk_errors=1 if others else 0)
        if stale or others:
            fig.note("find: " + (err.strip().splitlines() or ["?"])[0])


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


def run(source, mnt, pid, seconds, truths, blobs, models=4, readers=4, walkers=1, seed_=1):
    """Churn for SECONDS; returns the Figures."""
    fig = Figures()
    stop = threading.Event()
    rng = random.Random(seed_)
    threads = [threading.Thread(target=writer,
                                args=(source, blobs, models, stop, fig, random.Random(rng.random())))]
    threads += [threading.Thread(target=reader,
                                 args=(mnt, truths, models, stop, fig, random.Random(rng.random())))
                for _ in range(readers)]
    threads += [threading.Thread(target=walker, args=(mnt, stop, fig)) for _ in range(walkers)]
    threads += [threading.Thread(target=sample, args=(pid, stop, fig))]
    for t in threads:
        t.start()
    try:
        time.sleep(seconds)
    finally:
        stop.set()
        for t in threads:
            t.join()
    return fig


if __name__ == "__main__":
    src, mnt, pid, secs = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    truths, blobs = make_versions()
    print(run(src, mnt, pid, secs, truths, blobs).as_dict())
