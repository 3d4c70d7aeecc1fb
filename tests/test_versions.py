"""test_versions.py -- issue 13 point 3 beyond what test_reliability.py covers:
replaced versions' trees evicted while the kernel still holds their inodes.

Through a real mount (the sanitized daemon under `make check`).  The truth is
what the mount listed before the change.
"""
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
