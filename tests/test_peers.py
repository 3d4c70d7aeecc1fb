"""The three scanners that model hubs and CI use, on their own test inputs.

tests/data/peers/ holds picklescan's, fickling's and modelscan's own test files
(copied from ../shared/fixtures/peers, README there) and labels.tsv: each
`dangerous` file must be judged dangerous, no `benign` file may be, and the
`malformed`/`dos`/`other` files must get an answer (no crash, no hang) that is
never "safe" unless the file was read to its end (status "ok").

NOT_YET lists, by name and with the reason, the files whose verdict depends on
work not landed yet (identification by bytes, PyTorch formats).  The test checks
the set exactly, so a file that starts passing fails it until it is taken off.

The peers' own deny-lists, copied from their published sources with the commit
(tests/data/peers/denylists/), must each be covered entry by entry.
"""
import json
import os
import struct

import pytest

from conftest import cli

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = os.path.join(HERE, "data", "peers")

# file -> why it does not pass yet (whose work it waits for)
NOT_YET = {}   # empty since identification by bytes (7z, the encrypted flag, object .npy)

SCAN_RC = {0, 1, 2, 3}   # safe, untrusted, dangerous, incomplete/unreadable


def labels():
    out = []
    with open(os.path.join(PEERS, "labels.tsv"), encoding="utf-8") as f:
        next(f)
        for line in f:
            name, expected, *_ = line.rstrip("\n").split("\t")
            out.append((name, expected))
    return out


def scan_all(names):
    """One `scan --json` over the files, in order; every file gets one answer."""
    p = cli("scan", "--json", *[os.path.join(PEERS, n) for n in names], timeout=600)
    assert p.returncode in SCAN_RC, (p.returncode, p.stderr.decode(errors="replace")[-2000:])
    doc = json.loads(p.stdout.decode("utf-8"))
    assert [d["path"] for d in doc] == [os.path.join(PEERS, n) for n in names]
    return {n: d for n, d in zip(names, doc)}


def failures(expected, report):
    """Why a file's answer breaks its label, or None."""
    v = report["verdict"]
    if expected == "dangerous" and v != "dangerous":
        return f"dangerous file judged {v}"
    if expected == "benign" and v == "dangerous":
        return f"benign file judged dangerous ({report['dangerous']})"
    if expected in ("malformed", "dos", "other") and v == "safe" and report["status"] != "ok":
        return "called safe without being read to its end"
    if expected == "dangerous" and v == "not-model":
        return "dangerous file not identified as a model"
    if v not in ("safe", "untrusted", "dangerous", "incomplete", "unreadable", "not-model"):
        return f"no verdict ({v})"
    return None


@pytest.mark.parametrize("suite", ["picklescan", "fickling", "modelscan"])
def test_peer_suite(suite):
    cases = [(n, e) for n, e in labels() if n.startswith(suite + "/")]
    assert len(cases) > 30
    reports = scan_all([n for n, _ in cases])
    bad = {}
    for name, expected in cases:
        why = failures(expected, reports[name])
        if why:
            bad[name] = why
    not_yet = {n for n in NOT_YET if n.startswith(suite + "/")}
    unexpected = {n: w for n, w in bad.items() if n not in not_yet}
    now_passing = sorted(not_yet - set(bad))
    assert not unexpected, unexpected
    assert not now_passing, f"passing now, take them off NOT_YET: {now_passing}"


def test_labels_cover_the_copied_files():
    """Every copied file is labelled, every label names a copied file."""
    names = {n for n, _ in labels()}
    on_disk = set()
    for suite in ("picklescan", "fickling", "modelscan"):
        for root, _, files in os.walk(os.path.join(PEERS, suite)):
            for f in files:
                if f == "index.jsonl":   # fickling's list of which test made which file
                    continue
                on_disk.add(os.path.relpath(os.path.join(root, f), PEERS))
    assert names == on_disk
    assert set(NOT_YET) <= names


# ---- the peers' deny-lists ------------------------------------------------------

def denylist(name):
    """(module, name) pairs; name "*" is a whole module."""
    out = []
    with open(os.path.join(PEERS, "denylists", name), encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            mod, nm = line.rstrip("\n").split("\t")
            out.append((mod, nm))
    return out


def globals_pickle(pairs):
    """A protocol-4 list of every global, each named by STACK_GLOBAL."""
    def s(x):
        b = x.encode()
        return b"\x8c" + bytes([len(b)]) + b if len(b) < 256 else b"X" + struct.pack("<I", len(b)) + b
    body = b"".join(s(m) + s(n) + b"\x93" for m, n in pairs)
    return b"\x80\x04](" + body + b"e."


@pytest.mark.parametrize("peer", ["picklescan", "modelscan", "fickling"])
def test_every_deny_list_entry_is_dangerous(tmp_path, peer):
    """Each entry of the peer's list (a module entry probed with a name the
    module does not have, as fickling's own sweep does) is dangerous here."""
    pairs = [(m, "modelfs_probe" if n == "*" else n) for m, n in denylist(peer + ".tsv")]
    assert len(pairs) > 25
    f = tmp_path / "all.pkl"
    f.write_bytes(globals_pickle(pairs))
    p = cli("scan", "--json", str(f))
    doc = json.loads(p.stdout.decode())
    assert p.returncode == 2 and doc[0]["status"] == "ok", doc
    dangerous = set(doc[0]["dangerous"])
    missed = [f"{m}.{n}" for m, n in pairs if f"{m}.{n}" not in dangerous]
    assert not missed, missed
