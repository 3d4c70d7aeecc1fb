"""test_core.py -- SPEC sections 2-4, fixture by fixture, against Python's truth.

Every model scripts/make_fixtures.py writes (each at protocols 0, 2, 4, 5, and the
numpy-2-named variants) is read through the offline CLI (`modelfs tree`, `modelfs
cat`) and compared entry by entry with tests/reference.py, which derives the
expected tree from what pickle.load returns.  Each test is parametrized over the
fixture files so that a failure names the file; its message names the entries
(expected vs got).

Nothing here may be skipped into passing: a missing feature fails.
"""
import importlib.util
import io
import json
import os
import warnings

import numpy as np
import pytest

import reference as R
from conftest import ROOT, cat_many, tree_entries

_spec = importlib.util.spec_from_file_location(
    "make_fixtures", os.path.join(ROOT, "scripts", "make_fixtures.py"))
MF = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(MF)

KIND = {"file": "f", "dir": "d", "link": "l"}
# compat.json names the container facts (protocol -> minimum Python, format) too.
# summary.txt names the format and the verdict (issue 15).
FORMAT_DEPENDENT = ("meta.json", "types.txt", "untrusted.txt", "compat.json", "summary.txt")
MAX_REPORT = 40


class Case:
    def __init__(self, file, name, proto, ref, variant):
        self.file, self.name, self.proto, self.ref, self.variant = \
            file, name, proto, ref, variant

    def __repr__(self):
        return self.file


def all_cases():
    cases = []
    for name in MF.MODELS:
        for proto in MF.PROTOCOLS:
            f = "%s.p%d.pkl" % (name, proto)
            cases.append(Case(f, name, proto, f, None))
            if proto in MF.NUMPY2.get(name, ()):
                cases.append(Case("%s_np2.p%d.pkl" % (name, proto), name + "_np2", proto, f,
                                  "numpy2"))
    return cases


CASES = all_cases()
IDS = [c.file for c in CASES]
MODEL_NAMES = sorted({c.name for c in CASES})


def report(problems, what):
    assert problems is not None
    if not problems:
        return
    lines = problems[:MAX_REPORT]
    more = len(problems) - len(lines)
    raise AssertionError("%d %s:\n  " % (len(problems), what) + "\n  ".join(lines) +
                         ("\n  ... and %d more" % more if more > 0 else ""))


def short(b, n=72):
    return repr(b[:n]) + ("...(%d bytes)" % len(b) if len(b) > n else "")


# ---- what modelfs shows, and what Python expects, cached for the session ----------

class World:
    def __init__(self, models_dir):
        self.dir = models_dir
        self._expected, self._entries, self._contents = {}, {}, {}

    def path(self, fname):
        return os.path.join(self.dir, fname)

    def data(self, fname):
        with open(self.path(fname), "rb") as f:
            return f.read()

    def expected(self, case):
        if case.ref not in self._expected:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._expected[case.ref] = R.expected_file(self.path(case.ref))
        return self._expected[case.ref]

    def entries(self, fname):
        if fname not in self._entries:
            self._entries[fname] = tree_entries(self.path(fname))
        return self._entries[fname]

    def contents(self, fname):
        """path -> bytes (or an AssertionError) for every file entry."""
        if fname not in self._contents:
            ent = self.entries(fname)
            files = [p for p, e in ent.items() if e[0] == "f"]
            self._contents[fname] = cat_many(self.path(fname), files,
                                             [ent[p][1] for p in files])
        return self._contents[fname]

    def content(self, fname, path):
        """Bytes of one file entry; AssertionError naming it when absent or failing."""
        got = self.contents(fname).get(path)
        if got is None:
            kind = self.entries(fname).get(path, ("missing",))[0]
            raise AssertionError("%s: no file entry %r (%s)" % (fname, path, kind))
        if isinstance(got, Exception):
            raise got
        return got


@pytest.fixture(scope="session")
def world(models_dir):
    return World(models_dir)


def content_or_problem(world, case, path, problems):
    try:
        return world.content(case.file, path)
    except AssertionError as e:
        problems.append("%r: %s" % (path, e))
        return None


# ---- the fixture set itself --------------------------------------------------------

def test_manifest_lists_every_fixture(models_dir):
    with open(os.path.join(models_dir, "manifest.json")) as f:
        manifest = json.load(f)
    listed = {e["file"]: e for e in manifest["files"]}
    assert sorted(listed) == sorted(IDS)
    for c in CASES:
        assert listed[c.file]["reference"] == c.ref
        assert os.path.getsize(os.path.join(models_dir, c.file)) > 0


@pytest.mark.parametrize("case", [c for c in CASES if c.variant is None], ids=str)
def test_reference_globals_match_python(world, case):
    """Self-check of the oracle: the static walk finds exactly what the
    unpickler resolves."""
    data = world.data(case.file)
    u = R.RecordingUnpickler(io.BytesIO(data), R.pickle_protocol(data))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        u.load()
    assert sorted(set(R.pickle_globals(data))) == sorted(set(u.seen))


@pytest.mark.parametrize("case", [c for c in CASES if c.variant], ids=str)
def test_numpy2_variant_names_numpy_core(world, case):
    names = set(R.pickle_globals(world.data(case.file)))
    assert any(n.startswith("numpy._core.") for n in names), sorted(names)
    assert not any(n.startswith("numpy.core.") for n in names), sorted(names)


# ---- SPEC 2-3: the tree ------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_tree_entries(world, case):
    """Every expected entry exists with the right kind; nothing else exists."""
    ex, ac = world.expected(case), world.entries(case.file)
    problems = []
    for path, e in ex.entries.items():
        a = ac.get(path)
        if a is None:
            problems.append("missing %s %r" % (KIND[e[0]], path))
        elif a[0] != KIND[e[0]]:
            problems.append("%r: expected kind %s, got %s" % (path, KIND[e[0]], a[0]))
    for path, a in ac.items():
        if path not in ex.entries:
            problems.append("unexpected %s %r" % (a[0], path))
    report(problems, "tree differences")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_links(world, case):
    """Shared values: later places are relative links to the first place."""
    ex, ac = world.expected(case), world.entries(case.file)
    problems = []
    for path, e in ex.entries.items():
        if e[0] != "link":
            continue
        a = ac.get(path)
        if a is None or a[0] != "l":
            problems.append("%r: expected link -> %r, got %s" %
                            (path, e[1], "nothing" if a is None else a[0]))
        elif a[2] != e[1]:
            problems.append("%r: expected -> %r, got -> %r" % (path, e[1], a[2]))
    for path, a in ac.items():
        if a[0] == "l" and ex.entries.get(path, ("",))[0] != "link":
            problems.append("%r: unexpected link -> %r" % (path, a[2]))
    report(problems, "link differences")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_listing_order(world, case):
    """The reserved names first, then lists by index and dicts/state in stored order."""
    ex, ac = world.expected(case), world.entries(case.file)
    got = {"": []}
    for path, a in ac.items():
        parent, _, name = path.rpartition("/")
        got.setdefault(parent, []).append(name)
    problems = []
    for d, names in ex.order.items():
        if got.get(d, []) != names:
            problems.append("%r: expected %r, got %r" % (d or ".", names[:12], got.get(d, [])[:12]))
    report(problems, "directories listed in the wrong order")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_file_bytes(world, case):
    """.npy byte-identical to numpy.save; scalars str(value)+"\\n"; .bin raw bytes;
    __class__, globals, dtypes, datetimes as text."""
    ex = world.expected(case)
    problems, checked = [], 0
    for path, e in ex.entries.items():
        if e[0] != "file" or e[1] is None:
            continue
        got = content_or_problem(world, case, path, problems)
        checked += 1
        if got is not None and got != e[1]:
            at = next((i for i, (x, y) in enumerate(zip(got, e[1])) if x != y),
                      min(len(got), len(e[1])))
            problems.append("%r: differs at byte %d: expected %s, got %s" %
                            (path, at, short(e[1][max(0, at - 8):]), short(got[max(0, at - 8):])))
    assert checked > 0
    report(problems, "files with wrong bytes")


def json_equal_text(value):
    return json.dumps(value, ensure_ascii=False)


def strict_json(data):
    def bad_constant(c):
        raise ValueError("non-standard JSON constant %s" % c)
    return json.loads(data.decode("utf-8"), parse_constant=bad_constant,
                      object_pairs_hook=dict)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_json_containers(world, case):
    """Containers of plain scalars: one JSON document equal to the container, one
    element per line; sets sorted; non-finite floats as strings; keys as str(key)."""
    ex = world.expected(case)
    problems = []
    for path, want in ex.json.items():
        got = content_or_problem(world, case, path, problems)
        if got is None:
            continue
        try:
            value = strict_json(got)
        except ValueError as e:
            problems.append("%r: not JSON (%s): %s" % (path, e, short(got)))
            continue
        if json_equal_text(value) != json_equal_text(want):
            problems.append("%r: expected %s, got %s" %
                            (path, json_equal_text(want)[:200], json_equal_text(value)[:200]))
            continue
        lines = got.decode("utf-8").rstrip("\n").split("\n")
        if len(want) and len(lines) != len(want) + 2:
            problems.append("%r: %d elements on %d lines (one per line expected)" %
                            (path, len(want), len(lines)))
        if not len(want) and got.strip() not in (b"[]", b"{}"):
            problems.append("%r: empty container as %s" % (path, short(got)))
    report(problems, "JSON containers differ")


def txt_problem(a, data):
    """What is wrong with the text view DATA of array A (SPEC 3.1), or None."""
    text = data.decode("utf-8")
    lines = text.split("\n")
    if text and lines[-1] != "":
        return "no trailing newline"
    lines = lines[:-1] if text else []
    if a.dtype.names:
        if not lines or lines[0] != "# " + " ".join(a.dtype.names):
            return "first line should be %r, got %r" % ("# " + " ".join(a.dtype.names),
                                                        lines[:1])
        if len(lines) - 1 != a.size:
            return "%d records on %d lines" % (a.size, len(lines) - 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = np.loadtxt(io.StringIO(text), dtype=a.dtype, ndmin=1)
        for name in a.dtype.names:
            want = np.ascontiguousarray(a[name]).reshape(-1)
            if got[name].astype(want.dtype).tobytes() != want.tobytes():
                return "field %r reads back as %r, expected %r" % (name, got[name][:8], want[:8])
        return None
    if a.dtype.kind in "US":
        want = [x.encode("utf-8") if a.dtype.kind == "U" else bytes(x) for x in a.ravel()]
        got = data[:-1].split(b"\n") if data else []
        return None if got == want else "lines %r, expected %r" % (got[:8], want[:8])
    # numbers, bool, complex, datetime64
    body = lines
    if a.ndim > 2:
        head = "# shape: %s" % (tuple(a.shape),)
        if not lines or lines[0] != head:
            return "first line should be %r, got %r" % (head, lines[:1])
        body = lines[1:]
    if a.ndim == 0:
        nrows = 1
    elif a.ndim <= 2:
        nrows = a.shape[0]
    else:
        nrows = int(np.prod(a.shape[:-1]))
    if len(body) != nrows:
        return "%d lines, expected %d" % (len(body), nrows)
    if a.size == 0:
        return None
    width = 1 if a.ndim < 2 else a.shape[-1]
    for ln in body:
        if len(ln.split(" ")) != width:
            return "line %r: expected %d values separated by one space" % (ln[:80], width)
    if a.dtype.kind == "b":
        if any(tok not in ("0", "1") for ln in body for tok in ln.split(" ")):
            return "booleans must be 1/0: %r" % body[:4]
        dt = np.dtype(np.int8)
    elif a.dtype.kind == "c":
        if any(not (t.startswith("(") and t.endswith("j)")) for ln in body for t in ln.split(" ")):
            return "complex must print as (re+imj): %r" % body[:4]
        dt = a.dtype.newbyteorder("=")
    else:
        dt = a.dtype.newbyteorder("=") if a.dtype.byteorder not in "|=" else a.dtype
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = np.loadtxt(io.StringIO(text), dtype=dt, ndmin=1)
    except ValueError as e:
        return "numpy.loadtxt(dtype=%s) fails: %s" % (dt, e)
    if got.size != a.size:
        return "loadtxt gave %d values, expected %d" % (got.size, a.size)
    want = np.ascontiguousarray(a).astype(a.dtype.newbyteorder("="), copy=False)
    if a.dtype.kind == "b":
        want = want.astype(np.int8)
    if got.reshape(-1).astype(want.dtype).tobytes() != want.reshape(-1).tobytes():
        bad = [i for i, (x, y) in enumerate(zip(got.reshape(-1).astype(want.dtype).view(np.uint8)
                                                .reshape(a.size, -1),
                                                want.reshape(-1).view(np.uint8)
                                                .reshape(a.size, -1)))
               if x.tobytes() != y.tobytes()]
        i = bad[0]
        return "element %d reads back as %r, expected %r (text %r)" % (
            i, got.reshape(-1)[i], want.reshape(-1)[i], body[:3])
    return None


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_txt_views(world, case):
    """Every N.txt gives back the array's exact bits through numpy.loadtxt."""
    ex = world.expected(case)
    problems = []
    for npy, a in ex.arrays.items():
        path = npy[:-4] + ".txt"
        got = content_or_problem(world, case, path, problems)
        if got is None:
            continue
        try:
            why = txt_problem(a, got)
        except Exception as e:      # a crash of the check is a wrong text view
            why = "%s: %s" % (type(e).__name__, e)
        if why:
            problems.append("%r (%s %s): %s" % (path, a.dtype, a.shape, why))
    report(problems, "text views wrong")


# ---- SPEC 2: meta.json, types.txt, untrusted.txt ------------------------------------

def read_list(name):
    with open(os.path.join(ROOT, "data", name)) as f:
        return [ln.strip() for ln in f if ln.strip() and not ln.startswith("#")]


def matches(name, patterns):
    return any(name == p or (p.endswith(".*") and name.startswith(p[:-1])) for p in patterns)


def is_dangerous(name, patterns):
    """data/dangerous.txt's rules (trust.c): "!name" exempts exactly that name;
    an attribute of a listed name is listed ("builtins.eval.__call__")."""
    if "!" + name in patterns:
        return False
    return any(matches(name, [p]) or (not p.endswith(".*") and name.startswith(p + "."))
               for p in patterns if not p.startswith("!"))


def lines_of(data):
    text = data.decode("utf-8")
    assert text == "" or text.endswith("\n"), "no trailing newline: %r" % text[-40:]
    return text.split("\n")[:-1] if text else []


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_meta_json(world, case):
    ex = world.expected(case)
    data = world.content(case.file, "meta.json")
    meta = strict_json(data)
    problems = []
    if data.decode() != json.dumps(meta, indent=2, sort_keys=True, ensure_ascii=False) + "\n":
        problems.append("not sorted keys / 2-space indent / trailing newline: %s" % short(data))
    raw = world.data(case.file)
    want = {"format": "pickle", "compression": "none", "protocol": R.pickle_protocol(raw),
            "class": ex.root_class, "sklearn_version": ex.sklearn_version,
            "size": len(raw), "status": "ok", "arrays": ex.narrays,
            "array_bytes": ex.array_bytes}
    for key, value in want.items():
        if key not in meta:
            problems.append("missing key %r (expected %r)" % (key, value))
        elif meta[key] != value or type(meta[key]) != type(value):
            problems.append("%s: expected %r, got %r" % (key, value, meta[key]))
    if "error" in meta:
        problems.append("error present on a good file: %r" % meta["error"])
    if meta.get("verdict") not in ("safe", "untrusted", "dangerous"):
        problems.append("verdict: %r" % meta.get("verdict"))
    report(problems, "meta.json problems")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_types_txt(world, case):
    """Every global the stream names (Python-2 names mapped), sorted, unique."""
    got = world.content(case.file, "types.txt").decode("utf-8")
    want = R.types_txt(world.data(case.file))
    if got != want:
        g, w = set(lines_of(got.encode())), set(lines_of(want.encode()))
        raise AssertionError("types.txt differs: missing %r, unexpected %r, sorted/unique: %r" %
                             (sorted(w - g), sorted(g - w), got == want))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_untrusted_and_verdict(world, case):
    """untrusted.txt = types.txt minus the shipped trust list; verdict follows."""
    types_ = lines_of(world.content(case.file, "types.txt"))
    untrusted = lines_of(world.content(case.file, "untrusted.txt"))
    trusted, dangerous = read_list("trusted.txt"), read_list("dangerous.txt")
    want = [g for g in types_ if not matches(g, trusted)]
    assert untrusted == want, "untrusted.txt: expected %r, got %r" % (want, untrusted)
    if any(is_dangerous(g, dangerous) for g in types_):
        verdict = "dangerous"
    else:
        verdict = "untrusted" if untrusted else "safe"
    meta = strict_json(world.content(case.file, "meta.json"))
    assert meta.get("verdict") == verdict, "verdict %r, expected %r (untrusted: %r)" % (
        meta.get("verdict"), verdict, untrusted)


# ---- SPEC 4: object.json --------------------------------------------------------------

def walk_json(v, found):
    if isinstance(v, dict):
        if "__ndarray__" in v:
            found["arrays"].append(v)
        if "__ref__" in v:
            found["refs"].append(v["__ref__"])
        for x in v.values():
            walk_json(x, found)
    elif isinstance(v, list):
        for x in v:
            walk_json(x, found)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_object_json(world, case):
    """One strict JSON document; arrays name their .npy (dtype, shape, no data);
    shared values are refs to existing entries; the root names its class."""
    ex, ac = world.expected(case), world.entries(case.file)
    doc = strict_json(world.content(case.file, "object.json"))
    found = {"arrays": [], "refs": []}
    walk_json(doc, found)
    problems = []
    seen = set()
    for a in found["arrays"]:
        path = a.get("__ndarray__")
        arr = ex.arrays.get(path)
        if arr is None or ac.get(path, ("",))[0] != "f":
            problems.append("__ndarray__ %r is not a .npy file of the tree" % (path,))
            continue
        seen.add(path)
        if not arr.dtype.names and a.get("dtype") != arr.dtype.str:
            problems.append("%r: dtype %r, expected %r" % (path, a.get("dtype"), arr.dtype.str))
        if a.get("shape") != list(arr.shape):
            problems.append("%r: shape %r, expected %r" % (path, a.get("shape"), list(arr.shape)))
        if set(a) - {"__ndarray__", "dtype", "shape"}:
            problems.append("%r: unexpected keys %r" % (path, sorted(set(a))))
    for path in sorted(set(ex.arrays) - seen):
        problems.append("array %r is not in object.json" % path)
    for ref in found["refs"]:
        if not any(ref + s in ac for s in ("", ".npy", ".json", ".bin")) and ref not in ("", "."):
            problems.append("__ref__ %r names no entry" % ref)
    if ex.entries.get("__class__"):
        if not isinstance(doc, dict) or doc.get("__class__") != ex.root_class:
            problems.append("root __class__ %r, expected %r" %
                            (doc.get("__class__") if isinstance(doc, dict) else doc,
                             ex.root_class))
    report(problems, "object.json problems")


# ---- SPEC 3.2: format independence ------------------------------------------------------

def comparable_tree(world, fname):
    ent = world.entries(fname)
    out = {}
    for path, (kind, size, target) in ent.items():
        if path in FORMAT_DEPENDENT:
            continue
        if kind == "f":
            got = world.contents(fname).get(path)
            out[path] = ("f", got if isinstance(got, bytes) else "unreadable")
        else:
            out[path] = (kind, target)
    return out


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_protocols_render_the_same_tree(world, name):
    """The same model at protocols 0/2/4/5 (and with numpy-2 names) shows the same
    tree, except meta.json, types.txt and untrusted.txt."""
    files = [c.file for c in CASES if c.name == name]
    base_name = name[:-4] if name.endswith("_np2") else name
    base = "%s.p4.pkl" % base_name
    want = comparable_tree(world, base)
    problems = []
    for f in files:
        if f == base:
            continue
        got = comparable_tree(world, f)
        for path in sorted(set(want) | set(got)):
            w, g = want.get(path), got.get(path)
            if w != g:
                problems.append("%s vs %s: %r: %s vs %s" % (
                    f, base, path, short(repr(w).encode(), 60), short(repr(g).encode(), 60)))
    report(problems, "differences between protocols")
