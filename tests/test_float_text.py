"""Floats in .txt views are Python's shortest round-trip text, digit for digit.

text.c prints most doubles and float32s with an exact-integer shortest-digits
routine and falls back to a printf/strtod search elsewhere; both must give what
Python prints: repr(float) for float64 elements, str(numpy.float32) for float32.
The values cover the places such routines go wrong: powers of two (the interval
is lopsided there), their neighbours, short decimals, exact ties, integers around
2^53, subnormals, the extremes and random bit patterns.
"""
import pickle

import numpy as np

from conftest import cli


def doubles():
    rng = np.random.default_rng(20251123)
    bits = rng.integers(0, 2**63, 40000, dtype=np.uint64)
    parts = [bits.view(np.float64)]
    parts.append(rng.standard_normal(20000) * 10.0 ** rng.integers(-30, 30, 20000))
    parts.append(np.round(rng.uniform(-1000, 1000, 20000), rng.integers(0, 12, 20000)[0]))
    parts.append(np.array([np.round(x, k) for k, x in
                           zip(rng.integers(0, 16, 5000), rng.uniform(-10, 10, 5000))]))
    powers = np.ldexp(1.0, np.arange(-1074, 1024))
    parts.append(powers)
    parts.append(np.nextafter(powers, np.inf))
    parts.append(np.nextafter(powers, 0))
    parts.append(np.nextafter(np.nextafter(powers, 0), 0))
    ints = np.arange(2.0**53 - 50, 2.0**53 + 50)
    parts.append(np.concatenate([ints, 10.0 ** np.arange(0, 23), 10.0 ** np.arange(-23, 0)]))
    parts.append(np.array([5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 0.1, 0.2,
                           0.3, 1 / 3, 2 / 3, 9007199254740993.0, 123456789012345678.0,
                           0.5, 1.5, 2.5, 1e23, 8.41e21, 5.0e-324, 1e-05, 1e16, 1e17]))
    a = np.concatenate(parts)
    return a[np.isfinite(a)]


def floats():
    rng = np.random.default_rng(7)
    bits = rng.integers(0, 2**32, 30000, dtype=np.uint64).astype(np.uint32)
    parts = [bits.view(np.float32)]
    powers = np.ldexp(np.float32(1), np.arange(-149, 128)).astype(np.float32)
    parts += [powers, np.nextafter(powers, np.float32(np.inf)), np.nextafter(powers, np.float32(0))]
    parts.append((rng.standard_normal(10000) * 10.0 ** rng.integers(-20, 20, 10000))
                 .astype(np.float32))
    a = np.concatenate(parts).astype(np.float32)
    return a[np.isfinite(a)]


def lines(path, entry):
    p = cli("cat", path, entry, check=True)
    return p.stdout.decode().split("\n")[:-1]


def assert_txt_view(tmp_path, key, a, want):
    """The .txt view of array a, pickled under key, is want, line by line."""
    f = tmp_path / (key + ".pkl")
    with open(f, "wb") as fh:
        pickle.dump({key: a}, fh, protocol=4)
    got = lines(f, key + ".txt")
    assert len(got) == len(want)
    bad = [(i, g, w) for i, (g, w) in enumerate(zip(got, want)) if g != w]
    assert not bad, "%d of %d differ, e.g. %r" % (len(bad), len(want), bad[:5])


def test_float64_text_is_repr(tmp_path):
    a = doubles()
    assert_txt_view(tmp_path, "d", a, [repr(float(x)) for x in a])


def test_float32_text_is_numpy_str(tmp_path):
    a = floats()
    assert_txt_view(tmp_path, "f", a, [str(x) for x in a])


def test_integer_text_is_str(tmp_path):
    """Integers are written digits-first from their length (text.c udigits): every
    digit count, each side of every power of ten, and the extremes."""
    p10 = [10 ** k for k in range(20)]
    u = sorted({v for p in p10 for v in (p - 1, p, p + 1) if 0 <= v < 2**64} | {0, 2**64 - 1, 2**63})
    a = np.array(u, dtype=np.uint64)
    assert_txt_view(tmp_path, "u", a, [str(int(x)) for x in a])
    s = sorted({v for x in u for v in (x, -x) if -2**63 <= v < 2**63} | {-2**63, 2**63 - 1})
    b = np.array(s, dtype=np.int64)
    assert_txt_view(tmp_path, "i", b, [str(int(x)) for x in b])
    c = np.array([float(x) for x in u if x < 10**15] + [-0.0, 0.0, 1e15 - 1], dtype=np.float64)
    assert_txt_view(tmp_path, "d", c, [repr(float(x)) for x in c])
