"""Hostile input: the adversarial suite of scripts/make_hostile.py, crashers, gadgets.

For every generated file (truncations, bit flips, bombs, limit probes, gadgets,
cycles): meta.json is readable (CLI and a real mount), `ls -R` finishes, the daemon
stays up with its peak RSS under 256 MiB, status/verdict are what the case demands,
and nothing is ever executed (gadgets would create files in the marker directory).
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from conftest import ROOT, MODELFS, TESTDATA, cat, cat_many, cli, mount_process, mounted, run_script

sys.path.insert(0, os.path.join(ROOT, "scripts"))
import make_hostile  # noqa: E402  (the suite's generator: crashers, bombs, gzip streams)

# The RSS bound is checked on the release build (ASan inflates RSS); override for dev.
RELEASE = os.environ.get("MODELFS_RELEASE_BIN", os.path.join(ROOT, "modelfs"))
RSS_LIMIT_KIB = 256 * 1024
CRASHERS = os.path.join(TESTDATA, "crashers")


# The suite itself is conftest.py's `hostile` fixture (test_churn.py mounts it too).


def cases(h, *kinds):
    return sorted(n for n, c in h["manifest"].items() if not kinds or c["kind"] in kinds)


def check_meta(name, case, meta):
    assert meta["status"] in ("ok", "error"), (name, meta)
    assert meta["verdict"] in ("safe", "untrusted", "dangerous", "incomplete"), (name, meta)
    # anchor 15: a file not decoded to its end is never called safe
    assert meta["verdict"] in ("incomplete", "dangerous") if meta["status"] == "error" \
        else meta["verdict"] != "incomplete", (name, meta)
    if case["status"] != "any":
        assert meta["status"] == case["status"], (name, case["note"], meta)
    if case["verdict"]:
        assert meta["verdict"] == case["verdict"], (name, case["note"], meta)
    if meta["status"] == "error":
        assert meta.get("error"), (name, meta)


# ---- the generator ------------------------------------------------------------------


def test_suite_has_every_kind(hostile):
    kinds = {}
    for c in hostile["manifest"].values():
        kinds[c["kind"]] = kinds.get(c["kind"], 0) + 1
    for k in ("good", "truncated", "bitflip", "bomb", "limit", "gadget", "cycle"):
        assert kinds.get(k, 0) > 0, kinds
    assert kinds["truncated"] >= 150 and kinds["gadget"] >= 30
    for n in hostile["manifest"]:
        assert os.path.isfile(os.path.join(hostile["models"], n)), n
    big = os.path.getsize(os.path.join(hostile["models"], "bomb_gzip_zeros_1g.pkl.gz"))
    assert big < 4 << 20          # 1 GiB of zeros, written streaming, ~1 MiB on disk


# ---- modelfs scan over the whole suite --------------------------------------------


def test_scan_whole_suite(hostile):
    p = cli("scan", "--json", hostile["models"], timeout=900)
    doc = json.loads(p.stdout.decode("utf-8"))
    got = {os.path.basename(m["path"]): m for m in doc}
    man = hostile["manifest"]
    assert sorted(got) == sorted(man), set(got) ^ set(man)
    bad = []
    for name, case in man.items():
        m = got[name]
        if case["verdict"] == "dangerous" and m["verdict"] != "dangerous":
            bad.append((name, "want dangerous", m["verdict"], m["error"]))
        if case["status"] == "error" and m["verdict"] not in ("incomplete", "dangerous"):
            bad.append((name, "want incomplete", m["verdict"]))
        if case["kind"] == "good" and m["verdict"] != "safe":
            bad.append((name, "want safe", m["verdict"], m["untrusted"], m["error"]))
        if m["verdict"] == "safe" and m["status"] != "ok":
            bad.append((name, "safe but incomplete"))
    assert not bad, "\n".join(map(str, bad))
    assert p.returncode == 2


# ---- offline CLI, one process per case ------------------------------------------------

CLI_KINDS = ("bomb", "limit", "gadget", "cycle", "good")


def test_cli_bombs_limits_gadgets_cycles(hostile):
    bad = []
    for name in cases(hostile, *CLI_KINDS):
        try:
            cli_case(hostile, name)
        except AssertionError as e:
            bad.append((name, str(e)[:400]))
    assert not bad, "\n".join(map(str, bad))


def cli_case(hostile, name):
    case = hostile["manifest"][name]
    path = os.path.join(hostile["models"], name)
    t0 = time.time()
    p = cli("cat", path, "meta.json", timeout=300)
    assert p.returncode == 0, (name, p.stderr[-300:])
    meta = json.loads(p.stdout)
    check_meta(name, case, meta)
    if meta["status"] == "error" and name.endswith(".pkl"):
        assert re.search(r"offset \d+", meta["error"]), (name, meta["error"])
    if case["verdict"] == "dangerous":
        # meta.json also says which globals made the verdict: every one scan names
        p = cli("scan", "--json", path, timeout=300)
        names = json.loads(p.stdout)[0]["dangerous"]
        assert names and all(json.dumps(n) in json.dumps(meta) for n in names), (names, meta)
    for entry, text in (case["browse"] or {}).items():
        p = cli("cat", path, entry, timeout=300)
        assert p.returncode == 0 and p.stdout.decode() == text, (name, entry, p.stdout[:100])
    p = cli("tree", path, timeout=300)
    assert p.returncode in (0, 1), (name, p.stderr[-300:])
    assert time.time() - t0 < 300


def test_cli_damaged_files(hostile):
    """Every 3rd truncation and bit flip through the CLI (the mount test reads all)."""
    names = cases(hostile, "truncated", "bitflip")[::3]
    bad = []
    for name in names:
        path = os.path.join(hostile["models"], name)
        p = cli("cat", path, "meta.json", timeout=120)
        if p.returncode != 0:
            bad.append((name, p.returncode, p.stderr[-300:]))
            continue
        try:
            check_meta(name, hostile["manifest"][name], json.loads(p.stdout))
        except AssertionError as e:
            bad.append((name, str(e)[:300]))
        p = cli("tree", path, timeout=120)
        if p.returncode not in (0, 1):
            bad.append((name, "tree", p.returncode))
    assert not bad, "\n".join(map(str, bad))


# ---- a real mount ----------------------------------------------------------------------


def daemon_pid(mnt):
    """The modelfs process serving mnt (started by this test), from /proc."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if mnt.encode() in argv and any(a.endswith(b"modelfs") for a in argv[:1]):
            return int(d)
    return None


def vm_hwm_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


def walk_with_deadline(top, seconds):
    """os.walk (ls -R) in a thread, so a hung daemon fails the test instead of hanging it."""
    out = {"n": 0, "err": None}

    def run():
        # iterative: a model may be rendered MFS_MAX_DEPTH directories deep, deeper
        # than Python's recursion limit (os.walk recurses)
        stack = [top]
        try:
            while stack:
                with os.scandir(stack.pop()) as it:
                    for e in it:
                        out["n"] += 1
                        if e.is_dir(follow_symlinks=False):
                            stack.append(e.path)
        except Exception as e:       # noqa: BLE001 -- reported below
            out["err"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), "ls -R of %s did not finish in %ds" % (top, seconds)
    assert out["err"] is None, out["err"]
    return out["n"]


def read_with_deadline(path, seconds, limit=1 << 20):
    res = {}

    def run():
        try:
            with open(path, "rb") as f:
                res["data"] = f.read(limit)
        except OSError as e:
            res["err"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), "reading %s hung" % path
    return res


def mount_and_check(hostile, mnt, pid):
    man = hostile["manifest"]
    bad = []
    for name in sorted(man):
        d = os.path.join(mnt, name)
        assert os.path.isdir(d), (name, "not shown as a model directory")
        r = read_with_deadline(os.path.join(d, "meta.json"), 300)
        if "err" in r:
            bad.append((name, "meta.json", r["err"]))
            continue
        try:
            check_meta(name, man[name], json.loads(r["data"]))
        except (AssertionError, ValueError) as e:
            bad.append((name, str(e)[:300]))
        walk_with_deadline(d, 300)
        for entry, text in (man[name]["browse"] or {}).items():
            r = read_with_deadline(os.path.join(d, entry), 60)
            if r.get("data", b"").decode(errors="replace") != text:
                bad.append((name, entry, r))
        assert pid is None or os.path.exists("/proc/%d" % pid), "daemon died at " + name
    walk_with_deadline(mnt, 600)
    # the good models are unaffected by everything read before
    for name in cases(hostile, "good"):
        meta = json.loads(read_with_deadline(os.path.join(mnt, name, "meta.json"), 60)["data"])
        assert meta["status"] == "ok" and meta["verdict"] == "safe", (name, meta)
    return bad


def test_mount_suite_sanitized(hostile):
    with mounted(hostile["models"], timeout=60) as mnt:
        pid = daemon_pid(mnt)
        assert pid is not None
        bad = mount_and_check(hostile, mnt, pid)
        assert os.path.exists("/proc/%d" % pid)
    assert not bad, "\n".join(map(str, bad))


def test_mount_suite_peak_rss(hostile):
    assert os.path.exists(RELEASE), "make builds ./modelfs"
    with mount_process(hostile["models"], binary=RELEASE) as (mnt, proc):
        bad = mount_and_check(hostile, mnt, proc.pid)
        # the 1 GiB bytes value behind gzip: its end can be read, by offset
        big = os.path.join(mnt, "bomb_gzip_bytes_1g.pkl.gz")
        meta = json.loads(read_with_deadline(os.path.join(big, "meta.json"), 120)["data"])
        if meta["status"] == "ok":
            value = [e for e in os.listdir(big) if e.startswith("value")]
            assert value, os.listdir(big)
            with open(os.path.join(big, value[0]), "rb") as f:
                f.seek((1 << 30) - 16)
                assert f.read(64) == bytes(16)
        assert proc.poll() is None, "daemon exited"
        hwm = vm_hwm_kib(proc.pid)
        assert hwm < RSS_LIMIT_KIB, "daemon peak RSS %d MiB" % (hwm // 1024)
    assert not bad, "\n".join(map(str, bad))


# ---- nothing executed --------------------------------------------------------------------


def test_gadgets_dangerous_and_never_executed(hostile):
    names = cases(hostile, "gadget")
    for name in names:
        path = os.path.join(hostile["models"], name)
        p = cli("scan", path, timeout=120)
        assert p.returncode == 2, (name, p.stdout, p.stderr)
        cli("cat", path, "meta.json", timeout=120)
        cli("tree", path, timeout=120)
    assert os.listdir(hostile["markers"]) == []


# ---- the dangerous list is at least as broad as the public scanners' -----------------


def gadget_names():
    with open(os.path.join(TESTDATA, "scanner_gadgets.txt")) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                module, name = line.split()
                yield module, name


def test_dangerous_list_covers_picklescan_and_fickling(tmp_path):
    """One pickle per gadget global (STACK_GLOBAL + REDUCE); all must be dangerous."""
    d = tmp_path / "g"
    d.mkdir()
    want = {}
    for i, (module, name) in enumerate(gadget_names()):
        m, n = module.encode(), name.encode()
        data = (b"\x80\x04\x8c" + bytes([len(m)]) + m + b"\x8c" + bytes([len(n)]) + n + b"\x93)R.")
        fn = "g%03d.pkl" % i
        (d / fn).write_bytes(data)
        want[fn] = "%s.%s" % (module, name)
    assert len(want) > 100
    p = cli("scan", "--json", str(d), timeout=600)
    doc = json.loads(p.stdout)
    missing = sorted(want[os.path.basename(m["path"])] for m in doc if m["verdict"] != "dangerous")
    assert not missing, "not dangerous: " + " ".join(missing)
    assert len(doc) == len(want)


# ---- crashers found by the fuzzers ------------------------------------------------------


def crasher_files():
    out = []
    for target in ("pickle", "render", "joblib", "skops"):
        d = os.path.join(CRASHERS, target)
        if os.path.isdir(d):
            out += [(target, os.path.join(d, n)) for n in sorted(os.listdir(d))
                    if not n.startswith(".") and n != "README.md"]
    return out


def test_crashers_directory_documented():
    assert os.path.isfile(os.path.join(CRASHERS, "README.md"))


@pytest.mark.parametrize("target,path", crasher_files() or [("none", None)])
def test_crasher_replays_cleanly(tmp_path, target, path):
    if path is None:
        return
    model = make_hostile.crasher_to_model(target, open(path, "rb").read(), str(tmp_path))
    p = cli("cat", model, "meta.json", timeout=120)
    assert p.returncode == 0, p.stderr
    json.loads(p.stdout)
    p = cli("tree", model, timeout=120)
    assert p.returncode in (0, 1), p.stderr
    cli("scan", model, timeout=120)


# ---- limits fire, and what was decoded before them stays browsable (SPEC 6) ----------

# {'a': 7, 'l': [[1]]} as a protocol-2 pickle without its STOP: 'a' must survive any
# fault that comes after it.
PREFIX_DICT = (b"\x80\x02}q\x00X\x01\x00\x00\x00aK\x07sX\x01\x00\x00\x00l]]K\x01aas")


def meta_of(path):
    p = cli("cat", path, "meta.json", timeout=300)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_opcode_limit_fires_at_its_real_value(tmp_path):
    """200M opcodes that create no value (DUP+POP) behind gzip: MFS_MAX_OPCODES."""
    path = str(tmp_path / "opcodes.pkl.gz")
    make_hostile.gzip_stream(path, [PREFIX_DICT + b"N"] + [b"20" * (1 << 20)] * 96 + [b"20" * 2500000, b"0."])
    meta = meta_of(path)
    assert meta["status"] == "error", meta
    assert re.search(r"^offset 200000\d+: more than 200000000 opcodes$", meta["error"]), meta
    assert cat(path, "a") == b"7\n"


def test_opcode_limit_lowered_for_tests(tmp_path, monkeypatch):
    """MODELFS_TEST_MAX_OPCODES lowers the limit (never raises it); the prefix stays."""
    path = str(tmp_path / "small.pkl")
    with open(path, "wb") as f:
        f.write(PREFIX_DICT + b"N0" * 50 + b".")
    assert meta_of(path)["status"] == "ok"
    monkeypatch.setenv("MODELFS_TEST_MAX_OPCODES", "40")
    meta = meta_of(path)
    assert meta["status"] == "error" and meta["error"] == "offset 54: more than 40 opcodes", meta
    assert cat(path, "a") == b"7\n"
    assert cat(path, "l/0.json") == b"[\n  1\n]\n"
    monkeypatch.setenv("MODELFS_TEST_MAX_OPCODES", "999999999999")
    assert meta_of(path)["status"] == "ok"


def test_decompressed_size_limit_fires(tmp_path):
    """A joblib Z-file declaring more than MFS_MAX_DECOMPRESSED (64 GiB) is refused
    before anything is inflated."""
    import zlib
    path = str(tmp_path / "huge.pkl")
    body = zlib.compress(PREFIX_DICT + b".")
    with open(path, "wb") as f:
        f.write(b"ZF" + (b"%#x" % (64 << 30 | 1)).ljust(19) + body)
    meta = meta_of(path)
    assert meta["status"] == "error" and "Z-file declares 68719476737 bytes" in meta["error"], meta
    with open(path, "wb") as f:   # the same at the limit is fine (the stream is short)
        f.write(b"ZF" + (b"%#x" % len(PREFIX_DICT + b".")).ljust(19) + body)
    assert meta_of(path)["status"] == "ok"


@pytest.mark.parametrize("compress", ["zlib", "gzip", "bz2", "xz", "lzma", "lz4"])
def test_decompressed_size_limit_fires_while_streaming(tmp_path, monkeypatch, compress):
    """A stream that inflates past MFS_MAX_DECOMPRESSED is cut there with an error
    naming the offset (lowered for the test: nobody can write 64 GiB here), and
    what was decoded before the limit stays browsable."""
    import joblib
    import numpy as np
    path = str(tmp_path / ("model.joblib." + compress))
    joblib.dump({"n": 7, "big": np.zeros(1 << 20), "after": 1}, path, compress=(compress, 3))
    assert meta_of(path)["status"] == "ok"
    monkeypatch.setenv("MODELFS_TEST_MAX_DECOMPRESSED", str(1 << 20))
    meta = meta_of(path)
    assert meta["status"] == "error", meta
    assert re.search(r"offset \d+: %s stream decompresses to more than 1048576 bytes"
                     % ("gzip" if compress == "gzip" else "\\w+"), meta["error"]), meta
    assert cat(path, "n") == b"7\n"
    names = cli("ls", path, check=True).stdout.decode().split()
    assert "after" not in names, names


def run_measured(args, timeout):
    """Run args; returns (returncode, stdout, seconds, peak RSS in KiB) of that child.
    The peak comes from GNU time, which forks the command itself: a child forked
    from this (large) pytest process would count the parent's pages in its own
    ru_maxrss."""
    fd, rssfile = tempfile.mkstemp(prefix="rss")
    os.close(fd)
    t0 = time.time()
    try:
        p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rssfile, *args],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=timeout)
        with open(rssfile) as f:
            rss = int(f.read().split()[-1])
    finally:
        os.unlink(rssfile)
    return p.returncode, p.stdout, time.time() - t0, rss


GROWTH = {   # case: (status, seconds) -- each was a hang or a GiB of RSS
    "bomb_build_merge_quadratic.pkl": ("ok", 20),
    "bomb_dtype_rebuild_fields.pkl": ("error", 20),
    "bomb_gzip_append_memo_flood.pkl.gz": ("error", 20),
    "bomb_zip_members_graph.pkl.zip": ("error", 20),
    "bomb_zip_gzip_nesting.pkl.zip": ("ok", 20),
    "bomb_skops_json_values.skops": ("error", 20),
    "bomb_skops_shared_member_small.skops": ("error", 20),
    "bomb_skops_shared_member_streamed.skops": ("error", 20),
    "bomb_skops_npz_many_members.skops": ("error", 20),
}


def test_growth_bombs_fast_and_bounded(tmp_path):
    """Work or memory that no per-value limit sees: each case decodes in seconds
    under the 256 MiB bound (release build), with the status the suite expects."""
    s = make_hostile.Suite(str(tmp_path))
    make_hostile.add_growth_bombs(s)
    assert sorted(s.manifest) == sorted(GROWTH)
    for name, (status, seconds) in GROWTH.items():
        path = s.path(name)
        rc, out, took, rss = run_measured([RELEASE, "tree", path], seconds * 3)
        assert rc in (0, 1) and took < seconds and rss < RSS_LIMIT_KIB, (name, rc, took, rss)
        rc, out, took, rss = run_measured([RELEASE, "cat", path, "meta.json"], seconds * 3)
        meta = json.loads(out)
        assert meta["status"] == status, (name, meta)
        assert took < seconds and rss < RSS_LIMIT_KIB, (name, took, rss // 1024)
        for entry, text in (s.manifest[name]["browse"] or {}).items():
            assert cat(path, entry).decode() == text, (name, entry)
    # a compressed member holding a zip is shown as the file it is, never decoded
    names = cli("ls", s.path("bomb_zip_gzip_nesting.pkl.zip"), check=True).stdout.decode().split()
    assert "m.pkl.gz" in names, names


# ---- names the kernel can look up ---------------------------------------------------------


def test_entry_names_fit_name_max(tmp_path):
    """Every name in a model directory is at most NAME_MAX (255) bytes, so that what
    readdir lists can be opened (a longer name gets ENAMETOOLONG from the kernel).
    Keys of 300 bytes, and keys whose NULs escape to %00 (3 bytes each), must be
    shortened.  Found by fuzz_render (crashers/render/key_name_longer_than_name_max): render_path
    could not find the name render_lookup had laid out."""
    import struct
    src = tmp_path / "models"
    src.mkdir()
    for tag, key in (("long", b"a" * 300), ("nul", b"b" + b"\0" * 100)):
        body = b"\x80\x02cm\nC\n)\x81}X" + struct.pack("<I", len(key)) + key + b"K\x01sb."
        (src / ("key_%s.pkl" % tag)).write_bytes(body)
    with open(os.path.join(CRASHERS, "render", "key_name_longer_than_name_max"), "rb") as f:
        (src / "fuzz_render.pkl").write_bytes(f.read())
    with mounted(str(src)) as mnt:
        bad = []
        for model in sorted(os.listdir(mnt)):
            for name in os.listdir(os.path.join(mnt, model)):
                if len(os.fsencode(name)) > 255:
                    bad.append((model, len(os.fsencode(name))))
                    continue
                path = os.path.join(mnt, model, name)
                if os.path.isfile(path):
                    with open(path, "rb") as f:
                        f.read(64)
        assert not bad, "names longer than NAME_MAX: %r" % bad
        # cut at 240 bytes, never inside a %00 escape (b + 79 x %00 = 238 bytes)
        assert "a" * 240 in os.listdir(os.path.join(mnt, "key_long.pkl"))
        assert "b" + "%00" * 79 in os.listdir(os.path.join(mnt, "key_nul.pkl"))


def test_companion_fifo_does_not_hang(tmp_path):
    """A legacy joblib pickle names companion files (model.pkl_01.npy); a FIFO of
    that name next to it must not block the decoder (open() without O_NONBLOCK
    waits for a writer forever: in the mount, one daemon thread per lookup)."""
    src = os.path.join(TESTDATA, "realworld", "christine2623__Mao__model.pkl")
    model = tmp_path / "model.pkl"
    with open(src, "rb") as f:
        model.write_bytes(f.read())
    os.mkfifo(str(tmp_path / "model.pkl_01.npy"))
    try:
        p = cli("cat", str(model), "meta.json", timeout=20)
    except subprocess.TimeoutExpired:
        raise AssertionError("decoding hung on a FIFO companion")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["status"] in ("ok", "error")   # the array alone is missing


# ---- a cut file keeps what precedes the cut --------------------------------------------

TOP = {"meta.json", "types.txt", "untrusted.txt", "object.json", "compat.json", "summary.txt"}


def tree_of(path):
    p = cli("tree", path)   # 1 when an entry cannot be read: its size is "?"
    assert p.returncode in (0, 1) and p.stdout, p.stderr
    out = {}
    for line in p.stdout.decode().splitlines():
        kind, size, name = line.split()[:3]
        out[name] = (kind, size)
    return out


def sizes_of(tree, names):
    return [int(tree[n][1]) if tree[n][1].isdigit() else None for n in names]


def cut_model(kind):
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    X = np.random.RandomState(0).rand(200, 4)
    y = (X[:, 0] > .5).astype(int)
    if kind == "forest":   # a list of objects with structured arrays
        return RandomForestClassifier(n_estimators=4, max_depth=3, random_state=0).fit(X, y)
    if kind == "pipeline":   # a list of (name, estimator) tuples
        return make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    return HistGradientBoostingClassifier(max_iter=3).fit(X, y)   # lists of lists


@pytest.mark.parametrize("kind", ["forest", "pipeline", "hgb"])
@pytest.mark.parametrize("how", ["pickle0", "pickle2", "pickle4", "pickle5", "joblib"])
def test_cut_file_keeps_what_precedes_the_cut(tmp_path, how, kind):
    """SPEC 6: a file cut anywhere is an error, and what was decoded before the cut
    stays browsable: every entry of the cut file is an entry of the whole file with
    the same bytes (an array the cut went through fails, never other bytes).  Near the
    end, most is there: the pickle VM closes what the cut left open (items above a
    mark, a state waiting for BUILD, a tuple like its siblings) and drops what may
    be the parts of an unfinished value."""
    import pickle
    import joblib
    model = cut_model(kind)
    whole = tmp_path / "whole.pkl"
    if how == "joblib":
        joblib.dump(model, str(whole))
    else:
        whole.write_bytes(pickle.dumps(model, protocol=int(how[-1])))
    data = whole.read_bytes()
    full = tree_of(str(whole))
    every = [n for n, (k, _) in full.items() if k == "f" and n not in TOP]
    want = cat_many(str(whole), every, sizes_of(full, every))
    cut = tmp_path / "cut.pkl"
    for i in range(1, 60):
        cut.write_bytes(data[:len(data) * i // 60])
        meta = json.loads(cli("cat", cut, "meta.json", check=True).stdout)
        assert meta["status"] == "error" and "offset" in meta["error"], (i, meta)
        part = tree_of(str(cut))
        extra = sorted(set(part) - set(full))
        assert not extra, (i, extra[:5])
        if i % 10:
            continue
        files = [n for n, (k, _) in part.items() if k == "f" and n not in TOP]
        got = cat_many(str(cut), files, sizes_of(part, files))
        for name in files:
            if isinstance(got[name], bytes):
                assert got[name] == want[name], (i, name)
            else:
                assert "ends inside" in str(got[name]), (i, name, got[name])
    kept = [n for n in part if n not in TOP]
    assert len(kept) >= 0.75 * (len(full) - len(TOP)), (len(kept), len(full))
