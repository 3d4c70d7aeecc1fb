#!/usr/bin/python3
"""stress.py -- `make stress`: scripts/churn.py for minutes over a small cache.

Mounts a SOURCE of models with the release build (RSS figures mean something
there; the sanitized build runs the short churn in `make check`), churns it with
8 readers, 2 walkers and a writer making every kind of change, and prints the
figures the README quotes: reads checked, wrong bytes, ESTALE and EIO counts,
RSS and fd peaks, the slowest read, and the slots left at the end.

    stress.py [SECONDS]          (default $STRESS_SECONDS or 180)
"""
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import churn  # noqa: E402

BIN = os.environ.get("MODELFS_BIN", os.path.join(os.path.dirname(HERE), "modelfs"))


def main():
    seconds = float(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("STRESS_SECONDS", "180"))
    src = tempfile.mkdtemp(prefix="modelfs-stress-src-")
    mnt = tempfile.mkdtemp(prefix="modelfs-stress-mnt-")
    truths, blobs = churn.make_versions()
    churn.seed(src, blobs, 8)
    proc = subprocess.Popen([BIN, "-f", "-o", "cache_mb=1", src, mnt], stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 30
        while not os.path.ismount(mnt):
            if proc.poll() is not None or time.time() > deadline:
                raise SystemExit("modelfs did not mount: %s" % proc.stderr.read().decode())
            time.sleep(0.05)
        t0 = time.time()
        fig = churn.run(src, mnt, proc.pid, seconds, truths, blobs, models=8, readers=8, walkers=2)
        slots = int(os.getxattr(mnt, "user.modelfs.slots"))
        alive = proc.poll() is None
    finally:
        subprocess.run(["fusermount3", "-u", "-z", mnt], stderr=subprocess.DEVNULL)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        subprocess.run(["rm", "-rf", src])
        os.rmdir(mnt)
    f = fig.as_dict()
    print("| measure | value |\n|---|---|")
    print("| duration | %.0f s, 8 readers, 2 find walkers, 1 writer, cache_mb=1 |" % (time.time() - t0))
    print("| source changes | %s |" % ", ".join("%s %d" % kv for kv in sorted(f["changes"].items())))
    print("| coef_.npy reads checked | %d |" % f["reads"])
    print("| wrong bytes (a mix, or no version) | %d |" % f["wrong"])
    print("| ESTALE to readers / find walks with ESTALE | %d / %d |" % (f["estale"], f["walk_stale"]))
    print("| EIO (in-place rewrite under an open file) | %d |" % f["eio"])
    print("| ENOENT (opened while half written: a broken model) | %d |" % f["absent"])
    print("| other errors (readers / walks) | %d / %d |" % (f["other"], f["walk_errors"]))
    print("| find walks | %d |" % f["walks"])
    print("| daemon RSS peak / fd peak | %.1f MiB / %d |" % (f["rss_peak_kib"] / 1024, f["fd_peak"]))
    print("| slowest read of a whole coef_.npy | %.3f s |" % f["slowest"])
    print("| slots at the end (names that exist: 9) | %d |" % slots)
    for e in f["examples"]:
        print("example:", e)
    bad = f["wrong"] or f["estale"] or f["walk_stale"] or f["other"] or f["walk_errors"] or not alive
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
