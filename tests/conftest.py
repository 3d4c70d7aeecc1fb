"""Shared pytest fixtures for modelfs.

The binary under test is $MODELFS_BIN (make check points it at the sanitized
build) or ./modelfs.  Fixtures are written during the run by scripts/ with the
real scikit-learn; the truth a test compares with is always what Python computes.
"""
import contextlib
import os
import subprocess
import sys
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELFS = os.environ.get("MODELFS_BIN", os.path.join(ROOT, "modelfs"))
SHARED_FIXTURES = os.path.join(ROOT, "..", "shared", "fixtures")
TESTDATA = os.path.join(ROOT, "tests", "data")

# Sanitizer reports must fail the test, not scroll past.
os.environ.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=99")
os.environ.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1:exitcode=99")


def cli(*args, check=False, input=None, timeout=120):
    """Run `modelfs ARGS...` and return the CompletedProcess (bytes stdout)."""
    p = subprocess.run([MODELFS, *map(str, args)], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, input=input, timeout=timeout)
    assert p.returncode != 99, "sanitizer report:\n" + p.stderr.decode(errors="replace")
    if check and p.returncode != 0:
        raise AssertionError("modelfs %s failed (%d): %s" %
                             (" ".join(map(str, args)), p.returncode,
                              p.stderr.decode(errors="replace")))
    return p


def cat(path_to_model, entry):
    """Bytes of ENTRY inside a model, through the offline CLI."""
    return cli("cat", path_to_model, entry, check=True).stdout


def run_script(name, *args, timeout=600):
    """Run scripts/NAME with the system python (the one that sees python3-sklearn)."""
    subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "scripts", name), *map(str, args)],
                   check=True, timeout=timeout)


@contextlib.contextmanager
def mounted(source, *options, timeout=30):
    """Mount SOURCE with modelfs in the foreground; always unmount and reap it."""
    mnt = tempfile.mkdtemp(prefix="modelfs-mnt-")
    args = [MODELFS, "-f", *options, source, mnt]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + timeout
        while not os.path.ismount(mnt):
            if proc.poll() is not None:
                raise AssertionError("modelfs exited %d before mounting: %s" %
                                     (proc.returncode, proc.stderr.read().decode(errors="replace")))
            if time.time() > deadline:
                raise AssertionError("modelfs did not mount within %ds" % timeout)
            time.sleep(0.05)
        yield mnt
    finally:
        subprocess.run(["fusermount3", "-u", "-z", mnt], stderr=subprocess.DEVNULL)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        os.rmdir(mnt)
        assert proc.returncode != 99, "sanitizer report from the daemon:\n" + err


@pytest.fixture(scope="session")
def hostile(tmp_path_factory):
    """The adversarial suite of scripts/make_hostile.py (once per run): its files in
    "models", the gadgets' marker directory, and the manifest saying what each is."""
    import json
    base = tmp_path_factory.mktemp("hostile")
    models, markers = str(base / "models"), str(base / "markers")
    run_script("make_hostile.py", models, markers, timeout=900)
    with open(str(base / "hostile_manifest.json")) as f:
        manifest = json.load(f)
    return {"base": str(base), "models": models, "markers": markers, "manifest": manifest}


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory):
    """Directory of sklearn models written by scripts/make_fixtures.py (once per run)."""
    out = tmp_path_factory.mktemp("models")
    run_script("make_fixtures.py", out)
    return str(out)


# ---- the offline CLI's tree, parsed (added by the CLI/core-tests helper) -----------

import re as _re

_TREE_LINE = _re.compile(rb"^([dfl]) +(\d+|\?) (.*)$", _re.S)


def unescape_name(raw):
    """Undo the CLI's escaping of names (GNU ls -b style: \\\\ \\n \\t \\r \\xHH)."""
    out, i = bytearray(), 0
    while i < len(raw):
        c = raw[i:i + 1]
        if c != b"\\":
            out += c
            i += 1
            continue
        nxt = raw[i + 1:i + 2]
        if nxt == b"x":
            out.append(int(raw[i + 2:i + 4], 16))
            i += 4
            continue
        out += {b"\\": b"\\", b"n": b"\n", b"t": b"\t", b"r": b"\r"}[nxt]
        i += 2
    return out.decode("utf-8", "surrogateescape")


def parse_entry_line(line):
    """One `KIND SIZE PATH [-> TARGET]` line of `modelfs tree` / `ls -l`:
    (kind, size or None, path, target or None)."""
    m = _TREE_LINE.match(line)
    assert m, "malformed tree line: %r" % line
    kind, size, rest = m.group(1).decode(), m.group(2), m.group(3)
    target = None
    if kind == "l":
        rest, _, target = rest.partition(b" -> ")
        target = unescape_name(target)
    return kind, None if size == b"?" else int(size), unescape_name(rest), target


def tree_entries(model):
    """`modelfs tree MODEL` as an ordered dict path -> (kind, size, target)."""
    p = cli("tree", model)
    assert p.returncode == 0, "modelfs tree %s failed (%d): %s" % (
        model, p.returncode, p.stderr.decode(errors="replace"))
    entries = {}
    for line in p.stdout.split(b"\n")[:-1]:
        kind, size, path, target = parse_entry_line(line)
        entries[path] = (kind, size, target)
    return entries


def cat_many(model, paths, sizes):
    """Bytes of many file entries: one `modelfs cat MODEL -- P...` split by the sizes
    `tree` gave; when that fails, entry by entry.  Returns path -> bytes, or an
    AssertionError text for an entry that could not be read."""
    out = {}
    if paths and None not in sizes:
        p = cli("cat", model, "--", *paths)
        if p.returncode == 0 and len(p.stdout) == sum(sizes):
            at = 0
            for path, size in zip(paths, sizes):
                out[path] = p.stdout[at:at + size]
                at += size
            return out
    for path in paths:
        p = cli("cat", model, "--", path)
        if p.returncode == 0:
            out[path] = p.stdout
        else:
            out[path] = AssertionError("cat %s failed (%d): %s" % (
                path, p.returncode, p.stderr.decode(errors="replace").strip()))
    return out


def diff_names(a, b):
    """Names `diff -r -q` reports between two directories (relative to them)."""
    p = subprocess.run(["diff", "-r", "-q", a, b], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120)
    assert p.returncode in (0, 1), p.stderr
    names = set()
    for line in p.stdout.decode().splitlines():
        if line.startswith("Files "):
            names.add(os.path.relpath(line.split(" ")[1], a))
        elif line.startswith("Only in "):
            where, _, what = line[len("Only in "):].partition(": ")
            root = a if where.startswith(a) else b
            names.add(os.path.relpath(os.path.join(where, what), root))
        elif line.startswith("File ") and " while file " in line:   # a file and a folder
            names.add(os.path.relpath(line.split(" ")[1], a))
        else:
            names.add(line)
    return names

# ---- mount helpers (test_mount.py) ------------------------------------------------

@contextlib.contextmanager
def mount_process(source, *options, timeout=30, binary=MODELFS, log=None):
    """Like mounted(), but yields (mountpoint, Popen) so a test can signal the daemon
    or read its memory; `binary` the build to mount with (the release build, for RSS
    bounds: ASan's shadow memory and quarantine would make them meaningless); `log`
    a file path the daemon's stderr goes to (read it after the block: a daemon that
    writes much never blocks on a pipe nobody reads while the test runs).

    Always unmounts and reaps the daemon, even when the test failed or killed it."""
    mnt = tempfile.mkdtemp(prefix="modelfs-mnt-")
    err_to = open(log, "wb") if log else subprocess.PIPE
    proc = subprocess.Popen([binary, "-f", *options, source, mnt],
                            stdout=subprocess.DEVNULL, stderr=err_to)
    if log:
        err_to.close()
    try:
        deadline = time.time() + timeout
        while not os.path.ismount(mnt):
            if proc.poll() is not None:
                raise AssertionError("modelfs exited %d before mounting: %s" %
                                     (proc.returncode, proc.stderr.read().decode(errors="replace")))
            if time.time() > deadline:
                raise AssertionError("modelfs did not mount within %ds" % timeout)
            time.sleep(0.05)
        yield mnt, proc
    finally:
        if os.path.ismount(mnt):
            subprocess.run(["fusermount3", "-u", "-z", mnt], stderr=subprocess.DEVNULL)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if log:
            with open(log, "rb") as f:
                err = f.read().decode(errors="replace")
        else:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        os.rmdir(mnt)
        assert proc.returncode != 99, "sanitizer report from the daemon:\n" + err


def mount_counter(path, name="decodes"):
    """A modelfs counter xattr (user.modelfs.NAME) of the mount root or a model directory."""
    return int(os.getxattr(path, "user.modelfs." + name))
