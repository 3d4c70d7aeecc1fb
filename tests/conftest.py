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
def models_dir(tmp_path_factory):
    """Directory of sklearn models written by scripts/make_fixtures.py (once per run)."""
    out = tmp_path_factory.mktemp("models")
    run_script("make_fixtures.py", out)
    return str(out)
