#!/usr/bin/python3
"""stress.py -- `make stress`: scripts/churn.py for minutes over a small cache.

One SOURCE holds what the writer churns -- 8 small models, an array past 64 MiB
(MFS_PROVE_MAX: summed only in part at open) in an uncompressed joblib, a
compressed joblib, a small plain file and a plain file past 64 MiB -- and the
whole hostile suite (scripts/make_hostile.py) in SOURCE/hostile.  It is mounted
with `-o cache_mb=1` by the release build (RSS figures mean something there), or
with --asan by the ASan/UBSan build (`make stress ASAN=1`: then any sanitizer
report in the daemon's stderr, or its exit status 99, fails the run).  8 readers,
2 `find` walkers, 2 hostile walkers and a writer making every kind of change run
side by side; it prints the figures the README quotes: reads checked per kind,
wrong bytes, ESTALE and EIO counts, RSS and fd peaks, the slowest read, the
hostile models read and whether any answered differently, the slots left.

    stress.py [--asan] [SECONDS]          (default $STRESS_SECONDS or 180)
"""
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import churn  # noqa: E402

def mount(binary, src, mnt, log):
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=99")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1:exitcode=99")
    with open(log, "wb") as err:
        proc = subprocess.Popen([binary, "-f", "-o", "cache_mb=1", src, mnt],
                                stdout=subprocess.DEVNULL, stderr=err, env=env)
    deadline = time.time() + 60
    while not os.path.ismount(mnt):
        if proc.poll() is not None or time.time() > deadline:
            raise SystemExit("modelfs did not mount: %s" % open(log).read())
        time.sleep(0.05)
    return proc


def unmount(proc, mnt):
    subprocess.run(["fusermount3", "-u", "-z", mnt], stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def table(f, seconds, load0, load1, binary, hostile_count, slots, names):
    print("| measure | value |\n|---|---|")
    print("| run | %.0f s, %s build, 8 readers, 2 `find` walkers, 2 hostile walkers, 1 writer, "
          "cache_mb=1; load average %.1f at the start, %.1f at the end |"
          % (seconds, binary, load0, load1))
    print("| source changes | %s |" % ", ".join("%s %d" % kv for kv in sorted(f["changes"].items())))
    print("| reads checked against the versions Python wrote | %d |" % f["reads"])
    print("| wrong bytes (a mix, or no version) | %d |" % f["wrong"])
    print("| ESTALE to readers / `find` walks with ESTALE (of %d) | %d / %d |"
          % (f["walks"], f["estale"], f["walk_stale"]))
    print("| EIO (read while rewritten or cut) | %d |" % f["eio"])
    print("| ENOENT (opened while deleted, or half written: a broken model) | %d |" % f["absent"])
    print("| other errors (readers / walks) | %d / %d |" % (f["other"], f["walk_errors"]))
    for kind, k in sorted(f["by_kind"].items()):
        print("| %s: reads / wrong / EIO / ESTALE / ENOENT / slowest | %d / %d / %d / %d / %d / %.2f s |"
              % (kind, k["reads"], k["wrong"], k["eio"], k["estale"], k["absent"], k["slowest"]))
    print("| hostile models read (of %d) / passes / files read in them | %d / %d / %d |"
          % (hostile_count, f["hostile_models"], f["hostile_passes"], f["hostile_files"]))
    print("| hostile: answered differently / ESTALE / bad meta.json / errors (the same each time) "
          "| %d / %d / %d / %d |" % (f["hostile_changed"], f["hostile_stale"],
                                     f["hostile_bad_meta"], f["hostile_errors"]))
    print("| slowest hostile model (meta.json, tree, every file's head) | %.1f s (%s) |"
          % (f["hostile_slowest"], f["hostile_slowest_name"]))
    print("| daemon RSS peak / open fds peak | %.1f MiB / %d |" % (f["rss_peak_kib"] / 1024, f["fd_peak"]))
    print("| slowest read of a small model's whole `coef_.npy` | %.3f s |" % f["slowest"])
    print("| threads still in a call at the end (hung) | %d |" % f["hung"])
    print("| slots at the end (names that exist: %d) | %s |" % (names, slots))


def main():
    args = sys.argv[1:]
    asan = "--asan" in args
    args = [a for a in args if a != "--asan"]
    seconds = float(args[0] if args else os.environ.get("STRESS_SECONDS", "180"))
    binary = os.environ.get("MODELFS_BIN", os.path.join(ROOT, "build/asan/modelfs" if asan else "modelfs"))
    work = tempfile.mkdtemp(prefix="modelfs-stress-")
    src, mnt, log = os.path.join(work, "src"), os.path.join(work, "mnt"), os.path.join(work, "daemon.log")
    os.makedirs(mnt)
    subprocess.run(["/usr/bin/python3", os.path.join(HERE, "make_hostile.py"),
                    os.path.join(src, churn.HOSTILE_DIR), os.path.join(work, "markers")], check=True)
    hostile = sorted(os.listdir(os.path.join(src, churn.HOSTILE_DIR)))
    truths, blobs = churn.make_versions()
    churn.seed(src, blobs, 8)
    extra = churn.extra_targets(big=True)
    for t in extra:
        t.seed(src)
    proc = mount(binary, src, mnt, log)
    try:
        load0 = os.getloadavg()[0]
        t0 = time.time()
        fig = churn.run(src, mnt, proc.pid, seconds, truths, blobs, models=8, readers=8, walkers=2,
                        extra=extra, hostile=hostile, hostile_walkers=2,
                        kinds=churn.KINDS)
        took = time.time() - t0
        load1 = os.getloadavg()[0]
        try:
            slots = int(os.getxattr(mnt, "user.modelfs.slots"))
        except OSError as e:
            slots = "? (%s)" % e
        alive = proc.poll() is None
    finally:
        unmount(proc, mnt)
    with open(log, errors="replace") as fl:
        text = fl.read()
    reports = [l for l in text.splitlines() if any(m in l for m in churn.SANITIZER_MARKS)]
    f = fig.as_dict()
    names = 8 + len(extra) + 1 + len(hostile)      # + the hostile directory
    table(f, took, load0, load1, "ASan/UBSan" if asan else "release", len(hostile), slots, names)
    for e in f["examples"]:
        print("example:", e)
    if reports or proc.returncode == 99:
        print("sanitizer report (exit status %s):\n%s" % (proc.returncode, text[-20000:]))
    bad = (f["wrong"] or f["walk_stale"] or f["other"] or f["walk_errors"] or
           f["hostile_changed"] or f["hostile_stale"] or f["hostile_bad_meta"] or f["hung"] or
           not alive or reports or proc.returncode == 99)
    subprocess.run(["rm", "-rf", work])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
