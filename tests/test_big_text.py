"""Text views of arrays bigger than MFS_TEXT_WHOLE (1 MiB of data) are made by
blocks through an index of offsets: they must be byte-identical to the whole
text Python computes, whatever offsets and sizes readers ask for, and arrays
beyond the old 64 MiB whole-view limit must get a view at all.
"""
import os
import pickle
import random

import numpy as np

from conftest import cli, mounted


def text_1d(a):
    return "".join(repr(float(x)) + "\n" for x in a).encode()


def text_2d(a):
    return "".join(" ".join(repr(float(x)) for x in row) + "\n" for row in a).encode()


def text_3d(a):
    return ("# shape: %s\n" % (tuple(a.shape),)).encode() + text_2d(a.reshape(-1, a.shape[-1]))


def write(path, arrays):
    with open(path, "wb") as f:
        pickle.dump(arrays, f, protocol=5)


def test_big_views_by_offset(tmp_path):
    rng = np.random.default_rng(11)
    arrays = {"d": rng.standard_normal(200000),             # 1.6 MB of data
              "m": rng.standard_normal((3000, 77)),         # rows cross blocks
              "c": rng.standard_normal((20, 30, 400)),      # "# shape:" header
              "wide": rng.standard_normal((2, 70000))}      # one row per block
    want = {"d": text_1d(arrays["d"]), "m": text_2d(arrays["m"]),
            "c": text_3d(arrays["c"]), "wide": text_2d(arrays["wide"])}
    src = tmp_path / "src"
    src.mkdir()
    write(src / "big.pkl", arrays)
    for name, text in want.items():       # the offline CLI reads 64 KiB at a time
        assert cli("cat", src / "big.pkl", name + ".txt", check=True).stdout == text, name
    rnd = random.Random(5)
    with mounted(str(src)) as mnt:
        for name, text in want.items():
            path = os.path.join(mnt, "big.pkl", name + ".txt")
            assert os.stat(path).st_size == len(text), name
            fd = os.open(path, os.O_RDONLY)
            try:
                for _ in range(60):
                    off = rnd.randrange(0, len(text) + 10)
                    n = rnd.choice([1, 7, 4096, 65536, 200000, 1 << 20])
                    assert os.pread(fd, n, off) == text[off:off + n], (name, off, n)
                got = b"".join(iter(lambda: os.read(fd, 131072), b""))
            finally:
                os.close(fd)
            assert got == b"" or got == text, name     # read() after the preads: at EOF
            with open(path, "rb") as f:
                assert f.read() == text, name


def test_view_beyond_whole_limit(tmp_path):
    """72 MiB of float64: past MFS_MAX_TEXT_VIEW, which used to refuse it."""
    a = np.arange(9 * (1 << 20), dtype=np.float64) / 8.0
    write(tmp_path / "huge.pkl", {"a": a})
    p = cli("cat", tmp_path / "huge.pkl", "a.txt")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.split(b"\n")
    assert len(lines) == a.size + 1 and lines[-1] == b""
    for i in (0, 1, 7, 12345, a.size // 2, a.size - 1):
        assert lines[i].decode() == repr(float(a[i])), i
