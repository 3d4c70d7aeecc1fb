"""Churn: a writer changing SOURCE while the kernel and readers hold its versions (issue 13).
"""
import os

from conftest import mount_process


# ---- versions the kernel holds at once ---------------------------------------------------------

def _versions_held_open(src, m, count):
    """COUNT versions of m.pkl renamed over one another, each one's coef_.npy
    opened through the mount and kept open (so the kernel holds an inode of every
    version); returns the open files, oldest first."""
    import pickle
    import numpy as np
    held = []
    try:
        for i in range(count):
            tmp = os.path.join(src, ".tmp")
            with open(tmp, "wb") as f:
                pickle.dump({"coef_": np.arange(16.0) + i}, f, protocol=4)
            os.replace(tmp, os.path.join(src, "m.pkl"))
            held.append(open(os.path.join(m, "m.pkl", "coef_.npy"), "rb", buffering=0))
    except BaseException:
        for f in held:
            f.close()
        raise
    return held


def test_more_versions_held_than_inode_numbers_has_room_for(tmp_path):
    """An inode number has 8 bits of version: with 400 versions of one model open
    at once (a reader that keeps every version it opened), the daemon looped
    forever looking for a free number, holding the cache lock, and the whole mount
    hung (found by the churn).  Now the oldest version held gives up its number
    (the kernel drops its inode: its handles fail with EIO): the mount answers,
    the current version reads as numpy wrote it, and no handle reads another
    version's bytes."""
    import io
    import threading
    import numpy as np
    src = tmp_path / "src"
    src.mkdir()
    with mount_process(str(src), "-o", "cache_mb=1") as (m, proc):
        out = {}

        def run():
            try:
                out["held"] = _versions_held_open(str(src), m, 400)
            except Exception as e:      # noqa: BLE001 -- reported below
                out["err"] = e
        t = threading.Thread(target=run, daemon=True)
        t.start()
        t.join(120)
        assert not t.is_alive(), "the mount hung at the 256th version held"
        assert "err" not in out, out["err"]
        held = out["held"]
        try:
            for i, f in enumerate(held):
                try:
                    got = np.load(io.BytesIO(f.read()))
                except OSError:
                    continue                # an old version let go: EIO/ESTALE, never bytes
                # the version this open found: the one renamed in, or (the
                # daemon not told of the rename yet) one before it
                assert any(np.array_equal(got, np.arange(16.0) + j) for j in range(i + 1)), (i, got)
            with open(os.path.join(m, "m.pkl", "coef_.npy"), "rb") as f:
                assert np.array_equal(np.load(io.BytesIO(f.read())), np.arange(16.0) + 399)
        finally:
            for f in held:
                try:
                    f.close()
                except OSError:             # the kernel fails a dropped inode's flush too
                    pass
        assert proc.poll() is None, "the daemon died"
