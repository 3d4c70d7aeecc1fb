#!/usr/bin/python3
"""bench-unpickle.py MODE FILE [ROUNDS] -- Python's own decoding speed, for scripts/bench.

MODE stub: pickle.load with every class stubbed -- a custom Unpickler whose
find_class returns one dummy class that accepts any constructor arguments, state
and items, so the pickle VM runs every opcode and builds every container and
string but never imports or runs scikit-learn or numpy.  This is the fastest a
Python tool can walk a pickle without executing it.
MODE dis: pickletools.dis to /dev/null (what `python3 -m pickletools` does).
MODE load: joblib.load (imports and builds the real objects).

Prints the best in-process seconds of ROUNDS runs (interpreter start-up and
imports excluded: the most favourable figure for Python).
"""
import io
import os
import pickle
import pickletools
import sys
import time


class Dummy:
    """Stands for every global: callable with anything, takes any state."""

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass

    def __call__(self, *args, **kwargs):
        return Dummy()

    def append(self, x):
        pass

    def extend(self, xs):
        pass

    def __setitem__(self, k, v):
        pass


class StubUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        return Dummy


def run(mode, path):
    if mode == "stub":
        with open(path, "rb") as f:
            data = f.read()
        t = time.perf_counter()
        StubUnpickler(io.BytesIO(data)).load()
        return time.perf_counter() - t
    if mode == "dis":
        with open(path, "rb") as f, open(os.devnull, "w") as out:
            data = f.read()
            t = time.perf_counter()
            pickletools.dis(io.BytesIO(data), out=out)
            return time.perf_counter() - t
    if mode == "load":
        import joblib
        t = time.perf_counter()
        joblib.load(path)
        return time.perf_counter() - t
    raise SystemExit("unknown mode %s" % mode)


def main():
    mode, path = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    print("%.6f" % min(run(mode, path) for _ in range(rounds)))


if __name__ == "__main__":
    main()
