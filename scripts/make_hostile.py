#!/usr/bin/python3
"""The adversarial suite: hostile model files for modelfs, written into OUTDIR.

usage: make_hostile.py OUTDIR MARKER_DIR [--quick]

Writes OUTDIR/<case files> and OUTDIR/../hostile_manifest.json, one entry per file:
  {"kind": truncated|bitflip|bomb|limit|gadget|cycle|good|crasher,
   "status": "ok"|"error"|"any",       what meta.json must say
   "verdict": "dangerous"|null,        when set, what meta.json and scan must say
   "browse": {entry: text} or null,    entries that must stay readable (partial decode)
   "note": why the case exists}

Gadgets would create files under MARKER_DIR (os.system('touch ...'), builtins.open,
subprocess.Popen, ...) if anything ever executed them: the tests assert that
MARKER_DIR stays empty.  This script itself never loads a pickle: gadgets are
written by pickle.dumps of objects whose __reduce__ names the gadget, or by hand.

Big inputs (1 GiB of zeros behind gzip, a zip bomb) are written streaming, so they
cost ~1 MiB of disk each.  Everything is deterministic (fixed seeds).
"""
import io
import json
import os
import random
import struct
import sys
import zipfile
import zlib

GiB = 1 << 30

# ---------------------------------------------------------------------------
# pickle byte helpers (protocol 2+ opcodes, hand-assembled)


def u32(n):
    return struct.pack("<I", n)


def u64(n):
    return struct.pack("<Q", n)


def sbu(s):
    """SHORT_BINUNICODE."""
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b


def binint(n):
    return b"J" + struct.pack("<i", n)


P2 = b"\x80\x02"
P4 = b"\x80\x04"
STOP = b"."


def glob0(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


# ---------------------------------------------------------------------------
# gadget objects: pickle.dumps writes the call, nothing runs here


class Call:
    """Pickles as fn(*args) -- written, never called."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


def gadgets(marker_dir):
    import builtins
    import os as _os
    import subprocess
    m = lambda tag: os.path.join(marker_dir, tag)  # noqa: E731
    return {
        "os_system": Call(_os.system, "touch " + m("os_system")),
        "builtins_open": Call(builtins.open, m("builtins_open"), "w"),
        "subprocess_popen": Call(subprocess.Popen, ["touch", m("subprocess_popen")]),
        "builtins_eval": Call(builtins.eval, "__import__('os').system('touch %s')" % m("eval")),
        "builtins_exec": Call(builtins.exec, "open(%r,'w')" % m("exec")),
    }


# ---------------------------------------------------------------------------
# writers


class Suite:
    def __init__(self, out):
        self.out = out
        self.manifest = {}
        os.makedirs(out, exist_ok=True)

    def add(self, name, data, kind, status="any", verdict=None, browse=None, note=""):
        with open(os.path.join(self.out, name), "wb") as f:
            f.write(data)
        self.note(name, kind, status, verdict, browse, note)

    def note(self, name, kind, status="any", verdict=None, browse=None, note=""):
        self.manifest[name] = {"kind": kind, "status": status, "verdict": verdict,
                               "browse": browse, "note": note}

    def path(self, name):
        return os.path.join(self.out, name)


def gzip_stream(path, chunks):
    """Write a gzip file from an iterator of byte chunks without holding them."""
    co = zlib.compressobj(9, zlib.DEFLATED, 31)
    with open(path, "wb") as f:
        for c in chunks:
            f.write(co.compress(c))
        f.write(co.flush())


def zeros(total, chunk=1 << 24):
    block = bytes(chunk)
    left = total
    while left > 0:
        n = min(left, chunk)
        yield block if n == chunk else bytes(n)
        left -= n


def repeat(piece, count, per=1 << 20):
    block = piece * per
    left = count
    while left > 0:
        n = min(left, per)
        yield block if n == per else piece * n
        left -= n


# ---------------------------------------------------------------------------
# base models (real sklearn), used whole ("good") and cut/flipped


def base_models():
    import pickle
    import joblib
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier
    X = np.arange(60, dtype=float).reshape(15, 4) % 7
    y = np.array([0, 1, 2] * 5)
    lr = LogisticRegression(max_iter=200).fit(X, y)
    dt = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)
    out = {}
    out["good_logreg_p2.pkl"] = pickle.dumps(lr, protocol=2)
    out["good_logreg_p5.pkl"] = pickle.dumps(lr, protocol=5)
    out["good_tree_p4.pkl"] = pickle.dumps(dt, protocol=4)
    for comp, ext in ((0, ".joblib"), (("zlib", 3), ".joblib.z"), (("gzip", 3), ".joblib.gz"),
                      (("lz4", 3), ".joblib.lz4"), (("xz", 3), ".joblib.xz")):
        bio = io.BytesIO()
        joblib.dump(dt, bio, compress=comp)
        out["good_tree" + ext] = bio.getvalue()
    return out


def shared_skops():
    d = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..",
                     "shared", "fixtures", "skops")
    out = {}
    for name in ("logreg.skops", "decision_tree_regressor.skops"):
        p = os.path.join(d, name)
        if os.path.exists(p):
            with open(p, "rb") as f:
                out["good_" + name] = f.read()
    return out


def truncations(size, count):
    offs = set(range(0, min(size, 12)))
    for i in range(count):
        offs.add(size * i // count)
    offs.update({size - 1, size - 2})
    return sorted(o for o in offs if 0 <= o < size)


# ---------------------------------------------------------------------------
# the cases


def add_good_and_damaged(s, quick):
    rng = random.Random(1234)
    models = base_models()
    models.update(shared_skops())
    for name, data in sorted(models.items()):
        s.add(name, data, "good", status="ok")
        stem, ext = name[len("good_"):].split(".", 1)
        for off in truncations(len(data), 8 if quick else 30):
            s.add("trunc_%s_at%d.%s" % (stem, off, ext), data[:off], "truncated", status="error",
                  note="cut at byte %d of %d" % (off, len(data)))
        for i in range(4 if quick else 12):
            b = bytearray(data)
            for _ in range(rng.randint(1, 8)):
                pos = rng.randrange(len(b))
                b[pos] ^= 1 << rng.randrange(8)
            s.add("flip_%s_%d.%s" % (stem, i, ext), bytes(b), "bitflip",
                  note="random bit flips (seed 1234)")


def add_pickle_bombs(s):
    # lengths that claim more than the file holds: never allocate, error with offset
    s.add("bomb_binbytes8_2e62.pkl", P4 + b"\x8e" + u64(1 << 62) + b"abc" + STOP, "bomb",
          status="error", note="BINBYTES8 claiming 2^62 bytes")
    s.add("bomb_binunicode8_huge.pkl", P4 + b"\x8d" + u64((1 << 63) - 1) + b"abc" + STOP, "bomb",
          status="error", note="BINUNICODE8 claiming 2^63-1 bytes")
    s.add("bomb_binbytes_4g.pkl", P4 + b"B" + u32(0xFFFFFFFF) + b"x" * 100 + STOP, "bomb",
          status="error", note="BINBYTES claiming 4 GiB, 100 bytes present")
    s.add("bomb_binunicode_4g.pkl", P2 + b"X" + u32(0xFFFFFFFF) + b"x" * 100 + STOP, "bomb",
          status="error", note="BINUNICODE claiming 4 GiB")
    s.add("bomb_bytearray8.pkl", b"\x80\x05\x96" + u64(1 << 62) + STOP, "bomb", status="error",
          note="BYTEARRAY8 claiming 2^62")
    s.add("bomb_long4_huge.pkl", P2 + b"\x8b" + u32(0x7FFFFFFF) + b"\x01" * 64 + STOP, "bomb",
          status="error", note="LONG4 claiming 2 GiB of digits")
    s.add("bomb_frame_huge.pkl", P4 + b"\x95" + u64(1 << 60) + b"N" + STOP, "bomb",
          status="error", note="FRAME claiming 2^60 bytes")
    # MARK and stack floods
    s.add("bomb_million_marks.pkl", P2 + b"(" * 1000000 + STOP, "bomb", status="error",
          note="a million MARKs (limit MFS_MAX_MARKS)")
    s.add("bomb_stack_flood.pkl", P2 + b"N" * 2000000 + STOP, "bomb", status="error",
          note="2M values on the stack (limit MFS_MAX_STACK)")
    # nesting: constant stack, 200000 deep
    n = 200000
    s.add("bomb_deep_lists.pkl", P2 + b"]" * n + b"a" * (n - 1) + STOP, "bomb", status="any",
          note="200000 nested lists built with EMPTY_LIST+APPEND (renderer depth limit)")
    s.add("bomb_deep_tuples.pkl", P2 + b"N" + b"\x85" * n + STOP, "bomb", status="any",
          note="200000 nested 1-tuples")
    s.add("bomb_deep_marks_lists.pkl", P2 + b"(" * 50000 + b"l" * 50000 + STOP, "bomb",
          status="any", note="50000 nested lists through MARK/LIST")
    s.add("bomb_deep_dicts.pkl",
          P2 + b"}" + (sbu("k") + b"}") * 99999 + b"s" * 99999 + STOP, "bomb", status="any",
          note="100000 nested dicts via SETITEM")
    # memo abuse
    s.add("bomb_long_binput_huge.pkl", P2 + b"N" + b"r" + u32(0xFFFFFFFF) + STOP, "bomb",
          status="any", note="LONG_BINPUT at index 2^32-1 (sparse memo, must not allocate 2^32 slots)")
    s.add("bomb_put_huge_decimal.pkl", b"Np99999999999999999999999\n.", "bomb", status="any",
          note="protocol-0 PUT with a 23-digit index")
    s.add("bomb_get_missing.pkl", P2 + b"h\x05" + STOP, "bomb", status="error",
          note="BINGET of a memo entry never PUT")
    s.add("bomb_long_binget_missing.pkl", P2 + b"j" + u32(0x7FFFFFFF) + STOP, "bomb",
          status="error", note="LONG_BINGET 2^31-1, missing")
    s.add("bomb_get_text_missing.pkl", b"g12345678901234567890\n.", "bomb", status="error",
          note="protocol-0 GET, huge missing index")
    s.add("bomb_memoize_flood.pkl.gz", b"", "bomb", status="any",
          note="2M MEMOIZE of one value")
    gzip_stream(s.path("bomb_memoize_flood.pkl.gz"),
                [P4 + b"N"] + list(repeat(b"\x94", 2000000)) + [STOP])
    # opcodes that need what is not there
    s.add("bomb_empty_stack_ops.pkl", P2 + b"a" + STOP, "bomb", status="error",
          note="APPEND on an empty stack")
    s.add("bomb_pop_mark_empty.pkl", P2 + b"1" + STOP, "bomb", status="error",
          note="POP_MARK with no MARK")
    s.add("bomb_stop_empty.pkl", P2 + STOP, "bomb", status="error", note="STOP on an empty stack")
    s.add("bomb_unknown_opcode.pkl", P2 + b"N\xff" + STOP, "bomb", status="error",
          note="opcode 0xff")
    s.add("bomb_proto_99.pkl", b"\x80\x63N.", "bomb", status="any", note="PROTO 99")
    s.add("bomb_no_stop.pkl", P2 + b"]" + sbu("abc") + b"a", "bomb", status="error",
          note="ends without STOP")
    s.add("bomb_persid.pkl", P2 + b"Pabc\n" + STOP, "bomb", status="ok", verdict="untrusted",
          note="PERSID: kept as a value naming pickle.persistent_load, a loader's hook: "
               "pickle.load refuses it, so untrusted (issue 12)")
    s.add("bomb_ext1.pkl", P2 + b"\x82\x01" + STOP, "bomb", status="ok", verdict="untrusted",
          note="EXT1: kept as a value naming copyreg._inverted_registry (issue 2)")
    s.add("bomb_next_buffer.pkl", b"\x80\x05\x97" + STOP, "bomb", status="error",
          note="NEXT_BUFFER without out-of-band buffers")
    s.add("bomb_empty.pkl", b"", "bomb", status="error", note="empty file")
    # cycles
    s.add("cycle_list_self.pkl", P2 + b"]q\x00h\x00a" + STOP, "cycle", status="ok",
          note="a list that contains itself")
    s.add("cycle_dict_self.pkl", P2 + b"}q\x00" + sbu("me") + b"h\x00s" + STOP, "cycle",
          status="ok", note="a dict that contains itself")
    s.add("cycle_object_state.pkl",
          P2 + glob0("sklearn.linear_model._logistic", "LogisticRegression") + b")\x81q\x00}q\x01"
          + sbu("self") + b"h\x00s" + b"b" + STOP, "cycle", status="ok",
          note="an object whose state refers to the object")
    s.add("cycle_mutual.pkl", P2 + b"]q\x00]q\x01h\x00ah\x01a0h\x00" + STOP, "cycle",
          status="any", note="two lists containing each other")
    # partial decode: 'a' decoded before a fault stays browsable
    s.add("partial_dict_then_bomb.pkl",
          P2 + b"}q\x00" + sbu("a") + b"K\x07s" + sbu("l") + b"]]K\x01aas" + sbu("b") + b"\x8e"
          + u64(1 << 62), "limit", status="error", browse={"a": "7\n"},
          note="dict {'a': 7, 'l': [[1]]} then BINBYTES8 2^62: 'a' must stay readable")
    # arrays whose shape claims more than the data
    import pickle
    import numpy as np
    arr = pickle.dumps(np.zeros(1), protocol=2)
    assert arr.count(b"K\x01K\x01\x85") == 1
    shape_huge = arr.replace(b"K\x01K\x01\x85", b"K\x01J\x00\x00\x00\x40J\x00\x00\x00\x40\x86")
    s.add("bomb_ndarray_shape_2e60.pkl", shape_huge, "limit", status="error",
          note="ndarray (2^30, 2^30) float64 with 8 data bytes")
    s.add("bomb_joblib_wrapper_huge.joblib", joblib_wrapper_bomb(), "limit", status="error",
          note="NumpyArrayWrapper shape (2^40,) f8 followed by 16 bytes")


def add_growth_bombs(s):
    """Inputs that cost little to write but much to decode: quadratic work or memory
    that no per-value limit sees (found by the hostile-input audit, 2026-11).  Not part
    of main(): each decodes to ~100 MiB by design (right under MFS_MAX_GRAPH_BYTES),
    and in one daemon their sum, with malloc's retention, is beyond the suite's RSS
    bound; tests/test_hostile.py::test_growth_bombs_fast_and_bounded checks them one
    process each."""
    # BUILD of a 60000-key state onto an object that already holds it, 50 times:
    # merging must not compare every key with every key (was > 10 minutes)
    n = 60000
    body = P4 + sbu("mod") + sbu("Cls") + b"\x93)\x81}q\x00("
    body += b"".join(sbu("k%07d" % i) + b"N" for i in range(n)) + b"ub" + b"h\x00b" * 50
    s.add("bomb_build_merge_quadratic.pkl", body + STOP, "bomb", status="ok",
          note="50 BUILDs of a %d-key dict state onto the same object" % n)
    # one 4096-field record dtype BUILT 20000 times from the same memoized state
    # (allowed while nothing uses it): the field lookup was n^2 per BUILD and the
    # field tables were never counted (10 s, 2.6 GB)
    body = P4 + glob0("numpy", "dtype") + sbu("V4096") + b"\x89\x88\x87R"
    body += glob0("numpy", "dtype") + sbu("u1") + b"\x89\x88\x87R\x940"
    names = ["f%04d" % i for i in range(4096)]
    body += b"(K\x03" + sbu("|") + b"N(" + b"".join(sbu(nm) for nm in names) + b"t}("
    body += b"".join(sbu(nm) + b"h\x00" + binint(i) + b"\x86"
                     for i, nm in reversed(list(enumerate(names))))
    body += b"u" + binint(4096) + b"K\x01K\x10t\x94b" + b"h\x01b" * 20000
    s.add("bomb_dtype_rebuild_fields.pkl", body + STOP, "bomb", status="error",
          note="20000 BUILDs of one 4096-field dtype (field index, MFS_MAX_GRAPH_BYTES)")
    # one list grown by GET+APPENDS: no new Value, 60M items (was 1 GiB RSS, status ok)
    gzip_stream(s.path("bomb_gzip_append_memo_flood.pkl.gz"),
                [P4 + b"Nq\x01]q\x00"] + [b"(" + b"h\x01" * 500000 + b"e"] * 120 + [STOP])
    s.note("bomb_gzip_append_memo_flood.pkl.gz", "limit", status="error",
           note="120 APPENDS of 500000 memo GETs onto one list (MFS_MAX_GRAPH_BYTES)")
    # a zip whose deflated members each decode to a ~22 MiB graph (400000 values):
    # together over the graph limit (60 MB strings: was 1.3 GiB RSS); the members
    # before the limit stay browsable
    import pickle
    import numpy as np
    member = pickle.dumps({"a": np.arange(3), "l": [None] * 400000}, protocol=4)
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(8):
            z.writestr("m%d.pkl" % i, member)
    s.add("bomb_zip_members_graph.pkl.zip", bio.getvalue(), "limit", status="error",
          browse={"m0.pkl/a.txt": "0\n1\n2\n"},
          note="8 members of ~22 MiB graph each (MFS_MAX_GRAPH_BYTES over the archive)")
    # zip -> gzip -> zip -> ...: a compressed member holding a zip is bytes, not decoded
    inner = pickle.dumps({"a": 1}, protocol=2)
    cur = skops_zip([("m.pkl", inner)])
    for _ in range(200):
        cur = skops_zip([("m.pkl.gz", gzip_bytes(cur))])
    s.add("bomb_zip_gzip_nesting.pkl.zip", cur, "bomb", status="ok",
          note="200 levels of zip(gzip(zip(...))): never recursed into")
    # schema.json of 60M tiny JSON values, deflated to ~170 KB: cJSON would spend
    # ~80 bytes on each (was 4.8 GiB RSS); refused while it is read
    path = s.path("bomb_skops_json_values.skops")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        with z.open("schema.json", "w", force_zip64=True) as f:
            f.write(b'{"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode", '
                    b'"protocol": 2, "x": [')
            for c in repeat(b"[],", 60 << 20, per=1 << 22):
                f.write(c)
            f.write(b'[]], "content": {}}')
    s.note("bomb_skops_json_values.skops", "bomb", status="error",
           note="60M JSON values in schema.json (MFS_MAX_SCHEMA_NODES)")
    # many nodes naming one deflated member: each would inflate (or stream) its own
    # copy, kept alive by its array (was 3 GB / 460 MB RSS)
    for tag, count, nodes in (("small", 130000, 3000), ("streamed", 300000, 20000)):
        bio = io.BytesIO()
        np.save(bio, np.zeros(count))
        arrs = [skops_node("ndarray", "numpy", "NdArrayNode", type="numpy", file="1.npy",
                           __id__=i + 10) for i in range(nodes)]
        root = skops_node("list", "builtins", "ListNode", content=arrs, __id__=1)
        root["protocol"] = 2
        root["_skops_version"] = "0.11.0"
        s.add("bomb_skops_shared_member_%s.skops" % tag,
              skops_zip([("1.npy", bio.getvalue()), ("schema.json", json.dumps(root))],
                        zipfile.ZIP_DEFLATED), "limit", status="error",
              note="%d NdArrayNodes naming one deflated %d-byte member" % (nodes, count * 8))
    # 300 SparseMatrixNodes naming one .npz of 20000 members: every node parsed the
    # whole npz directory again and kept it (50000 members: 4.6 GB, 66 s)
    nb = io.BytesIO()
    with zipfile.ZipFile(nb, "w", zipfile.ZIP_DEFLATED) as z:
        for name, arr in (("data", np.zeros(300000)), ("indices", np.zeros(1, dtype=np.int32)),
                          ("indptr", np.zeros(2, dtype=np.int32)),
                          ("shape", np.array([1, 1], dtype=np.int64)), ("format", np.array("csr"))):
            b = io.BytesIO()
            np.save(b, arr)
            z.writestr(name + ".npy", b.getvalue())
        for i in range(20000):
            z.writestr("pad%05d" % i, b"")
    nodes = [skops_node("csr_matrix", "scipy.sparse._csr", "SparseMatrixNode", type="scipy",
                        file="m.npz", __id__=i + 10) for i in range(300)]
    root = skops_node("list", "builtins", "ListNode", content=nodes, __id__=1)
    root["protocol"] = 2
    root["_skops_version"] = "0.11.0"
    s.add("bomb_skops_npz_many_members.skops",
          skops_zip([("m.npz", nb.getvalue()), ("schema.json", json.dumps(root))]), "limit",
          status="error", note="300 sparse nodes naming one 20005-member npz (MFS_MAX_NPZ_MEMBERS)")


def joblib_wrapper_bomb():
    """A joblib NumpyArrayWrapper whose shape asks for 8 TiB of inline data."""
    import joblib
    import numpy as np
    bio = io.BytesIO()
    joblib.dump(np.zeros(2), bio)
    data = bio.getvalue()
    key = sbu("shape") + b"\x94K\x02\x85"
    assert data.count(key) == 1, data
    data = data.replace(key, sbu("shape") + b"\x94\x8a\x06\x00\x00\x00\x00\x00\x01\x85")
    assert data[2:3] == b"\x95"   # the FRAME grew by 6 bytes
    return data[:3] + u64(struct.unpack("<Q", data[3:11])[0] + 6) + data[11:]


def add_compression_bombs(s, quick):
    size = (64 << 20) if quick else GiB
    # plain zeros: not a pickle at all, must fail fast (offset 0)
    gzip_stream(s.path("bomb_gzip_zeros_1g.pkl.gz"), zeros(size))
    s.note("bomb_gzip_zeros_1g.pkl.gz", "bomb", status="error",
           note="%d bytes of zeros behind gzip" % size)
    # a valid pickle of a 1 GiB bytes value: must stay on disk, read by offset
    gzip_stream(s.path("bomb_gzip_bytes_1g.pkl.gz"),
                [P4 + b"\x8e" + u64(size)] + list(zeros(size)) + [STOP])
    s.note("bomb_gzip_bytes_1g.pkl.gz", "bomb", status="any",
           note="valid pickle: BINBYTES8 of %d zero bytes behind gzip" % size)
    # value flood behind gzip: NONE+POP pairs (limit on values or opcodes)
    n = 2000000 if quick else 60000000
    gzip_stream(s.path("bomb_gzip_value_flood.pkl.gz"), [P2] + list(repeat(b"N0", n)) + [b"N."])
    s.note("bomb_gzip_value_flood.pkl.gz", "limit", status="any",
           note="%d NONE+POP pairs: memory must stay bounded (MFS_MAX_VALUES)" % n)


def skops_zip(members, compression=zipfile.ZIP_STORED):
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w", compression) as z:
        for name, data in members:
            z.writestr(name, data)
    return bio.getvalue()


def skops_node(cls, module, loader, **extra):
    d = {"__class__": cls, "__module__": module, "__loader__": loader}
    d.update(extra)
    return d


def skops_root(attrs):
    keys = list(attrs)
    content = skops_node("dict", "builtins", "DictNode", content=attrs,
                         key_types=skops_node("list", "builtins", "ListNode",
                                              content=[skops_node("str", "builtins", "TypeNode")
                                                       for _ in keys]))
    root = skops_node("LogisticRegression", "sklearn.linear_model._logistic", "ObjectNode",
                      content=content)
    root["protocol"] = 2
    root["_skops_version"] = "0.11.0"
    return root


def add_zip_bombs(s, quick):
    # schema.json of 1 GiB (spaces, deflated): above MFS_MAX_SCHEMA_JSON
    size = (64 << 20) if quick else GiB
    path = s.path("bomb_zip_schema_1g.skops")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        with z.open("schema.json", "w", force_zip64=True) as f:
            f.write(b'{"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode", "content": {}')
            for c in repeat(b" ", size, per=1 << 24):
                f.write(c)
            f.write(b', "protocol": 2}')
    s.note("bomb_zip_schema_1g.skops", "bomb", status="error",
           note="schema.json inflates to %d bytes" % size)
    # a member that lies: central directory says 100 bytes, the data inflates to 64 MiB
    big = b"[" + b" " * (64 << 20) + b"]"
    data = bytearray(skops_zip([("schema.json", big)], zipfile.ZIP_DEFLATED))
    for sig, off_usize in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        i = data.find(sig)
        data[i + off_usize:i + off_usize + 4] = u32(100)
    s.add("bomb_zip_lying_size.skops", bytes(data), "bomb", status="error",
          note="declared 100 bytes, inflates to 64 MiB")
    # too many members
    count = 120000
    path = s.path("bomb_zip_many_members.skops")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("schema.json", json.dumps(skops_root({})))
        for i in range(count):
            z.writestr("%x" % i, b"")
    s.note("bomb_zip_many_members.skops", "bomb", status="any",
           note="%d members (limit MFS_MAX_ZIP_MEMBERS)" % count)
    # JSON nested 200000 deep
    deep = ('{"__class__": "list", "__module__": "builtins", "__loader__": "ListNode", "content": ['
            * 200000) + "]}" * 200000
    s.add("bomb_json_deep.skops", skops_zip([("schema.json", deep)], zipfile.ZIP_DEFLATED), "bomb",
          status="error",
          note="200000-deep JSON (limit MFS_MAX_JSON_DEPTH)")
    # npy member claiming a huge shape with 8 bytes of data
    hdr = b"{'descr': '<f8', 'fortran_order': False, 'shape': (1099511627776,), }"
    hdr = hdr + b" " * (63 - (10 + len(hdr)) % 64) + b"\n"
    npy = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr + b"\x00" * 8
    root = skops_root({"coef_": skops_node("ndarray", "numpy", "NdArrayNode", type="numpy",
                                           file="1.npy")})
    s.add("bomb_skops_npy_shape.skops", skops_zip([("1.npy", npy), ("schema.json", json.dumps(root))]),
          "limit", status="any", note="npy member claims 2^40 elements, holds 8 bytes")
    # member names that try to escape
    root = skops_root({"b": skops_node("bytes", "builtins", "BytesNode", file="../../etc/passwd")})
    s.add("bomb_skops_traversal.skops",
          skops_zip([("../../etc/passwd", b"x"), ("/abs", b"y"), ("schema.json", json.dumps(root))]),
          "bomb", status="any", note="member names with ../ and absolute paths")
    # not a zip at all under a .skops name
    s.add("bomb_skops_not_zip.skops", b"PK\x03\x04" + b"\x00" * 40, "bomb", status="error",
          note="zip magic, then nothing")


def add_gadgets(s, marker_dir):
    import pickle
    import joblib
    import numpy as np
    g = gadgets(marker_dir)
    for name, obj in sorted(g.items()):
        for proto in (0, 2, 4, 5):
            s.add("gadget_%s_p%d.pkl" % (name, proto), pickle.dumps(obj, protocol=proto), "gadget",
                  status="any", verdict="dangerous", note="%s, protocol %d" % (name, proto))
    evil = g["os_system"]
    # hidden after the first joblib array, and inside a nested object-array pickle
    after = {"a": np.arange(100, dtype=np.float64), "b": evil}
    nested = {"a": np.arange(10), "objs": np.array([1, evil], dtype=object)}
    for tag, obj in (("after_array", after), ("object_array", nested)):
        for comp, ext in ((0, "joblib"), (("zlib", 3), "joblib.z"), (("gzip", 3), "joblib.gz"),
                          (("bz2", 3), "joblib.bz2"), (("xz", 3), "joblib.xz"),
                          (("lzma", 3), "joblib.lzma"), (("lz4", 3), "joblib.lz4")):
            bio = io.BytesIO()
            joblib.dump(obj, bio, compress=comp)
            s.add("gadget_joblib_%s.%s" % (tag, ext), bio.getvalue(), "gadget", status="any",
                  verdict="dangerous", note="os.system %s, compress=%r" % (tag, comp))
    touch = "touch " + os.path.join(marker_dir, "hand")
    # STACK_GLOBAL fed from the memo (picklescan bypass) and by protocol-0 STRINGs
    s.add("gadget_stack_global_memo.pkl",
          P4 + sbu("posix") + b"\x94" + sbu("system") + b"\x94" + b"h\x00h\x01\x93"
          + sbu(touch) + b"\x85R" + STOP, "gadget", verdict="dangerous",
          note="STACK_GLOBAL operands via memo GETs")
    s.add("gadget_stack_global_string.pkl",
          P4 + b"S'os'\nS'system'\n\x93" + sbu(touch) + b"\x85R" + STOP, "gadget",
          verdict="dangerous", note="STACK_GLOBAL operands from protocol-0 STRING (GHSA-9gvj)")
    s.add("gadget_py2_builtin_eval.pkl",
          glob0("__builtin__", "eval") + b"(S'1'\ntR.", "gadget", verdict="dangerous",
          note="__builtin__.eval, mapped to builtins.eval")
    s.add("gadget_inst_os_system.pkl", b"(S'%s'\nios\nsystem\n." % touch.encode(), "gadget",
          verdict="dangerous", note="INST opcode")
    s.add("gadget_truncated_after_global.pkl", glob0("os", "system") + b"(S'" + touch.encode(),
          "gadget", status="error", verdict="dangerous",
          note="truncated after a dangerous global: dangerous, not incomplete")
    s.add("gadget_after_good_object.pkl",
          P2 + b"]" + glob0("sklearn.linear_model._logistic", "LogisticRegression") + b")\x81a"
          + glob0("subprocess", "check_call") + sbu(touch) + b"\x85Ra" + STOP, "gadget",
          verdict="dangerous", note="subprocess.check_call after a benign object")
    # a protocol-0 opcode with a line argument as the last byte of the sniff window
    # (64 and 512 bytes): the file must still be recognised as a pickle
    for window in (64, 512):
        pad = window - 1 - len(b"cos\nsystem\np0\n(V") - len(b"\nt")
        cmd = b"true" + b" " * (pad - 4)
        data = b"cos\nsystem\np0\n(V" + cmd + b"\nt" + b"p1\nR."
        assert data[window - 1:window] == b"p"
        s.add("gadget_p0_sniff_boundary_%d.pkl" % window, data, "gadget", status="ok",
              verdict="dangerous", note="PUT opcode at byte %d, its line beyond the window" % (window - 1))
    # skops gadgets
    fn = skops_root({"evil": skops_node("system", "os", "FunctionNode")})
    s.add("gadget_skops_function.skops", skops_zip([("schema.json", json.dumps(fn))]), "gadget",
          verdict="dangerous", note="FunctionNode os.system")
    meth = skops_root({"evil": skops_node("method", "builtins", "MethodNode",
                                          content={"func": "system",
                                                   "obj": skops_node("module", "os", "ObjectNode")})})
    s.add("gadget_skops_method.skops", skops_zip([("schema.json", json.dumps(meth))]), "gadget",
          verdict="dangerous", note="MethodNode whose owner is os")
    op = skops_root({"evil": skops_node("attrgetter", "operator", "OperatorFuncNode",
                                        attrs=skops_node("tuple", "builtins", "TupleNode",
                                                         content=[skops_node("str", "builtins", "JsonNode",
                                                                             content='"system"', is_json=True)]))})
    s.add("gadget_skops_operator.skops", skops_zip([("schema.json", json.dumps(op))]), "gadget",
          verdict="dangerous", note="OperatorFuncNode operator.attrgetter")
    ob = skops_root({"evil": skops_node("Popen", "subprocess", "ObjectNode",
                                        content=skops_node("dict", "builtins", "DictNode", content={}))})
    s.add("gadget_skops_object.skops", skops_zip([("schema.json", json.dumps(ob))], zipfile.ZIP_DEFLATED),
          "gadget", verdict="dangerous", note="ObjectNode subprocess.Popen, deflated")


# ---------------------------------------------------------------------------
# fuzz crashers (tests/data/crashers/TARGET/*) as model files, the way the fuzz
# targets feed them to the decoder (see fuzz/fuzz_joblib.c and fuzz/fuzz_skops.c)


def crasher_to_model(target, data, outdir):
    if target in ("pickle", "render"):
        name, body = "crasher.pkl", data
    elif target == "joblib":
        import bz2
        import lzma
        import lz4.frame
        if not data:
            name, body = "crasher.joblib", b""
        else:
            mode, rest = data[0] % 8, data[1:]
            zf = b"ZF" + ("%#x" % len(rest)).encode().ljust(19) + zlib.compress(rest, 3)
            body = [rest, zlib.compress(rest, 3), gzip_bytes(rest), bz2.compress(rest, 1),
                    lzma.compress(rest, format=lzma.FORMAT_XZ, preset=0),
                    lzma.compress(rest, format=lzma.FORMAT_ALONE, preset=0),
                    lz4.frame.compress(rest), zf][mode]
            name = "crasher.joblib"
    elif target == "skops":
        name = "crasher.skops"
        if data[:1] == b"\x00" or not data:
            body = data[1:]
        else:
            schema, _, npy = data[1:].partition(b"\x00")
            bio = io.BytesIO()
            with zipfile.ZipFile(bio, "w", zipfile.ZIP_STORED) as z:
                z.writestr("1.npy", npy)
                z.writestr("schema.json", schema)
            body = bio.getvalue()
    else:
        raise ValueError(target)
    path = os.path.join(outdir, name)
    with open(path, "wb") as f:
        f.write(body)
    return path


def gzip_bytes(data):
    co = zlib.compressobj(3, zlib.DEFLATED, 31)
    return co.compress(data) + co.flush()


def main():
    out = sys.argv[1]
    marker_dir = sys.argv[2]
    quick = "--quick" in sys.argv
    os.makedirs(marker_dir, exist_ok=True)
    s = Suite(out)
    add_good_and_damaged(s, quick)
    add_pickle_bombs(s)
    add_compression_bombs(s, quick)
    add_zip_bombs(s, quick)
    add_gadgets(s, marker_dir)
    with open(os.path.join(os.path.dirname(os.path.abspath(out)), "hostile_manifest.json"), "w") as f:
        json.dump(s.manifest, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
