"""Every trick of SPEC 5 a loader falls for, in a file built by hand from raw
opcodes, judged dangerous by `modelfs scan`, and proven to run code: each file
is loaded once by the real unpickler in a throwaway subprocess whose payload
only creates a file in a temporary directory, and the test asserts that file
appeared.  Nothing here is labelled dangerous by belief.
"""
import json
import os
import pickle
import struct
import subprocess

import pytest

from conftest import cli

PY = "/usr/bin/python3"
MARKER = "pwned"
TOUCH = "touch " + MARKER


def u(s):
    """A str pushed by SHORT_BINUNICODE or BINUNICODE."""
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b if len(b) < 256 else b"X" + struct.pack("<I", len(b)) + b


def sg(mod, name):
    return u(mod) + u(name) + b"\x93"


P4 = b"\x80\x04"
STOP = b"."


def call1(callable_ops, arg_ops):
    """callable(arg) by REDUCE."""
    return callable_ops + arg_ops + b"\x85R"


def run_loader(tmp_path, data, loads=1):
    """Load the file with the real unpickler in a subprocess; True when the
    payload's file appeared."""
    d = tmp_path / "sandbox"
    d.mkdir()
    f = d / "model.pkl"
    f.write_bytes(data)
    code = ("import pickle, sys\n"
            "f = open(sys.argv[1], 'rb')\n"
            "for _ in range(int(sys.argv[2])):\n"
            "    try:\n"
            "        pickle.load(f)\n"
            "    except Exception as e:\n"
            "        print(type(e).__name__, e, file=sys.stderr)\n")
    subprocess.run([PY, "-c", code, str(f), str(loads)], cwd=str(d), timeout=120,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return (d / MARKER).exists()


def judge(tmp_path, data):
    f = tmp_path / "judged.pkl"
    f.write_bytes(data)
    p = cli("scan", "--json", str(f))
    doc = json.loads(p.stdout.decode())[0]
    return p.returncode, doc


def os_system_pickle():
    return P4 + call1(sg("os", "system"), u(TOUCH)) + STOP


TRICKS = {
    # a name walked attribute by attribute reaches os through a module that imports it
    "pathlib.os.system": (P4 + call1(sg("pathlib", "os.system"), u(TOUCH)) + STOP,
                          ["pathlib.os.system"], 1),
    "sklearn.os.system": (P4 + call1(sg("sklearn", "os.system"), u(TOUCH)) + STOP,
                          ["sklearn.os.system"], 1),
    # a nested pickle handed to pickle.loads reached through joblib
    "joblib.numpy_pickle.pickle.loads": (
        P4 + sg("joblib.numpy_pickle", "pickle.loads")
        + b"B" + struct.pack("<I", len(os_system_pickle())) + os_system_pickle() + b"\x85R" + STOP,
        ["joblib.numpy_pickle.pickle.loads"], 1),
    # an attribute of eval is eval
    "builtins.eval.__call__": (
        P4 + call1(sg("builtins", "eval.__call__"), u(f"__import__('os').system('{TOUCH}')")) + STOP,
        ["builtins.eval.__call__"], 1),
    # object.__getattribute__ is getattr by another name; pathlib.os is the os module
    "object.__getattribute__": (
        P4 + sg("builtins", "object.__getattribute__") + sg("pathlib", "os") + u("system")
        + b"\x86R" + u(TOUCH) + b"\x85R" + STOP,
        ["builtins.object.__getattribute__"], 1),
    # appended pickles: a loader that calls pickle.load again runs the second
    "trailing pickle": (pickle.dumps([1, 2, 3], protocol=4) + os_system_pickle(),
                        ["os.system"], 2),
}


@pytest.mark.parametrize("trick", sorted(TRICKS))
def test_named_tricks(tmp_path, trick):
    data, names, loads = TRICKS[trick]
    rc, doc = judge(tmp_path, data)
    assert rc == 2 and doc["verdict"] == "dangerous", doc
    for n in names:
        assert n in doc["dangerous"], (n, doc["dangerous"])
    assert run_loader(tmp_path, data, loads), "the payload did not run: the trick is not real"


def computed_global():
    """STACK_GLOBAL on _codecs.encode('bf', 'rot13') and ('flfgrz', 'rot13'):
    no literal string in the file names os.system."""
    mod = sg("_codecs", "encode") + u("bf") + u("rot13") + b"\x86R"
    name = sg("_codecs", "encode") + u("flfgrz") + u("rot13") + b"\x86R"
    return P4 + mod + name + b"\x93" + u(TOUCH) + b"\x85R" + STOP


def module_override():
    """BUILD on a module (json.decoder) stores two strings in it, which later
    STACK_GLOBALs read back as the module and name of builtins.exec."""
    mod = sg("json", "decoder")
    state = b"}(" + u("ZZ_MOD") + u("builtins") + u("ZZ_NAME") + u("exec") + b"u"
    return (P4 + mod + state + b"b0"
            + sg("json.decoder", "ZZ_MOD") + sg("json.decoder", "ZZ_NAME") + b"\x93"
            + u(f"import os; os.system('{TOUCH}')") + b"\x85R" + STOP)


def frame_divergence(cmd):
    """fickling's frame-boundary case, rebuilt byte for byte (with its own
    command it equals tests/data/peers/fickling/test_frame_boundary_divergence__00.pkl):
    a FRAME of 2 bytes whose BINBYTES runs past it.  Read opcode after opcode, the
    BINBYTES swallows `cos\nsystem`; pickle.load of the file (the C unpickler
    with its 128 KiB prefetch) resumes inside it and calls os.system."""
    data = b"\x00\x00cos\nsystem\nV" + cmd.encode() + b"\n\x85R("
    data += b"N" * (263 - len(data))
    return (b"\x80\x05N" + b"V" + b"a" * 131055 + b"\n0(" + b"\x95" + struct.pack("<Q", 2)
            + b"B" + struct.pack("<I", len(data)) + data + b"1.")


def test_frame_divergence_is_the_peers_file():
    here = os.path.dirname(os.path.abspath(__file__))
    ref = os.path.join(here, "data", "peers", "fickling", "test_frame_boundary_divergence__00.pkl")
    assert frame_divergence("echo pwned") == open(ref, "rb").read()


def test_frame_divergence(tmp_path):
    """Both readings are judged: the one that follows the opcodes sees no global,
    the one pickle.load takes meets os.system; the worse verdict stands."""
    data = frame_divergence(TOUCH)
    rc, doc = judge(tmp_path, data)
    assert rc == 2 and doc["verdict"] == "dangerous" and "os.system" in doc["dangerous"], doc
    assert "runs past the frame's end" in doc["error"]
    assert run_loader(tmp_path, data), "the payload did not run: the trick is not real"


def test_frame_straddle_is_never_safe(tmp_path):
    """A BINUNICODE whose length field the FRAME cuts in two: the Python
    unpickler refuses it, so the file is not read to its end by every reader
    (incomplete, never safe)."""
    data = b"\x80\x05\x95" + struct.pack("<Q", 3) + b"X" + struct.pack("<I", 20) + b"A" * 20 + b"."
    rc, doc = judge(tmp_path, data)
    assert rc == 3 and doc["verdict"] == "incomplete" and doc["status"] == "error", doc
    p = subprocess.run([PY, "-c", "import pickle,sys; pickle._loads(open(sys.argv[1],'rb').read())",
                        str(tmp_path / "judged.pkl")], stderr=subprocess.PIPE, timeout=60)
    assert p.returncode != 0 and b"exhausted before end of frame" in p.stderr


def test_frame_ending_between_reads_is_whole(tmp_path):
    """A FRAME that ends right after a BINBYTES length field: both unpicklers
    read the data from the file after it, so nothing disagrees."""
    data = b"\x80\x05\x95" + struct.pack("<Q", 5) + b"B" + struct.pack("<I", 20) + b"A" * 20 + b"."
    rc, doc = judge(tmp_path, data)
    assert rc == 0 and doc["verdict"] == "safe", doc
    p = subprocess.run([PY, "-c", "import pickle,sys; d=open(sys.argv[1],'rb').read(); "
                        "assert pickle._loads(d) == pickle.loads(d) == b'A' * 20",
                        str(tmp_path / "judged.pkl")], timeout=60)
    assert p.returncode == 0


def test_well_formed_frames_stay_safe(tmp_path):
    data = pickle.dumps([bytes(70000), "x" * 70000, list(range(20000))], protocol=5)
    rc, doc = judge(tmp_path, data)
    assert rc == 0 and doc["verdict"] == "safe", doc


def extension_registry():
    """SETITEM on copyreg's extension registry: code 4242 -> ('os', 'system'),
    then EXT2 4242 imports it.  No global in the file names os.system."""
    return (P4 + sg("copyreg", "_inverted_registry") + b"M" + struct.pack("<H", 4242)
            + u("os") + u("system") + b"\x86s0" + b"\x83" + struct.pack("<H", 4242)
            + u(TOUCH) + b"\x85R" + STOP)


HAZARDS = {
    "computed STACK_GLOBAL": (computed_global(), "STACK_GLOBAL imports a name computed"),
    "BUILD on a module": (module_override(), "BUILD changes the global json.decoder"),
    "SETITEM on the extension registry": (extension_registry(),
                                          "SETITEM changes the global copyreg._inverted_registry"),
}


@pytest.mark.parametrize("trick", sorted(HAZARDS))
def test_hazard_tricks(tmp_path, trick):
    """No dangerous name is written in these files; the construct itself is."""
    data, hazard = HAZARDS[trick]
    rc, doc = judge(tmp_path, data)
    assert rc == 2 and doc["verdict"] == "dangerous", doc
    assert doc["dangerous"] == [], doc
    assert any(hazard in h for h in doc["hazards"]), doc["hazards"]
    assert run_loader(tmp_path, data), "the payload did not run: the trick is not real"


def test_a_plain_pickle_has_no_hazard(tmp_path):
    rc, doc = judge(tmp_path, pickle.dumps({"a": [1, 2.5], "b": (None, "x")}, protocol=4))
    assert rc == 0 and doc["verdict"] == "safe" and doc["hazards"] == []


# ---- pickles inside bytes -----------------------------------------------------------

class _Loads:
    """Pickles as pickle.loads(inner): what the real pickler writes for it."""
    def __init__(self, inner):
        self.inner = inner

    def __reduce__(self):
        return pickle.loads, (self.inner,)


@pytest.mark.parametrize("protocol", [2, 4])
def test_nested_pickle_handed_to_loads(tmp_path, protocol):
    """The outer file names only the loader; the nested one names os.system,
    which the verdict and types.txt must show (protocol 2 carries the bytes as
    _codecs.encode(str, 'latin1'))."""
    data = pickle.dumps({"model": _Loads(os_system_pickle())}, protocol=protocol)
    assert b"system" in data and b"os" in data   # only inside the nested bytes
    rc, doc = judge(tmp_path, data)
    assert rc == 2 and "os.system" in doc["dangerous"], doc
    types = cli("cat", str(tmp_path / "judged.pkl"), "types.txt").stdout.decode().split()
    assert "os.system" in types
    assert run_loader(tmp_path, data), "the payload did not run: the trick is not real"


def test_complete_pickle_in_bytes_is_judged(tmp_path):
    """SPEC 5: every bytes value that is itself a complete pickle is judged,
    whoever would load it later; bytes that only start like one are not."""
    blob = os_system_pickle()
    data = pickle.dumps({"blob": blob, "noise": b"\x80\x04cos\nsystem\n-not-a-pickle"}, protocol=4)
    rc, doc = judge(tmp_path, data)
    assert rc == 2 and doc["dangerous"] == ["os.system"], doc
    data = pickle.dumps({"noise": b"\x80\x04\x8c\x02os\x8c\x06system\x93 and then garbage"},
                        protocol=4)
    rc, doc = judge(tmp_path, data)
    assert rc == 0 and doc["verdict"] == "safe", doc


def test_nested_pickles_are_bounded(tmp_path):
    """A pickle inside a pickle inside ... : depth is limited, never a crash."""
    inner = pickle.dumps([1], protocol=4)
    for _ in range(40):
        inner = pickle.dumps(_Loads(inner), protocol=4)
    rc, doc = judge(tmp_path, inner)
    assert rc == 2 and doc["verdict"] == "dangerous"   # _pickle.loads itself


def test_object_array_companion_of_old_joblib(tmp_path):
    """joblib < 0.10 kept arrays in companion .npy files and loaded them with
    numpy.load(allow_pickle=True): an object-dtype companion's pickle runs.  It
    is decoded and judged with the main file."""
    d = tmp_path / "old"
    d.mkdir()
    def x(s):
        return b"X" + struct.pack("<I", len(s)) + s.encode()
    main = (b"\x80\x02cjoblib.numpy_pickle\nNDArrayWrapper\n)\x81}("
            + x("filename") + x("model.pkl_01.npy") + x("subclass") + b"cnumpy\nndarray\n"
            + x("allow_mmap") + b"\x88ub.")
    (d / "model.pkl").write_bytes(main)
    header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header = header + " " * (64 - 10 - len(header) - 1) + "\n"
    companion = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode()
    companion += os_system_pickle()
    (d / "model.pkl_01.npy").write_bytes(companion)
    p = cli("scan", "--json", str(d / "model.pkl"))
    doc = json.loads(p.stdout.decode())[0]
    assert p.returncode == 2 and doc["dangerous"] == ["os.system"], doc
    types = cli("cat", str(d / "model.pkl"), "types.txt").stdout.decode().split()
    assert "os.system" in types
    # what old joblib did with it, in a throwaway subprocess
    subprocess.run([PY, "-c", "import numpy, sys; numpy.load(sys.argv[1], allow_pickle=True)",
                    str(d / "model.pkl_01.npy")], cwd=str(d), timeout=120,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert (d / MARKER).exists(), "the payload did not run: the trick is not real"
