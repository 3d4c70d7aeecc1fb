"""The source tree's layers: a value travels one way.

fs/ has one folder per layer, lowest first: graph, source, format, judge, render,
mount, cli.  A file may include the headers of its own layer and of layers below
it, never above: the decoder knows nothing of the renderer, the renderer nothing
of FUSE.  A header belongs to the layer that defines what it declares; the few
headers of types alone are listed here.
"""
import glob
import os
import re

from conftest import ROOT

LAYERS = ["graph", "source", "format", "judge", "render", "mount", "cli"]
HEADERS_WITHOUT_C = {
    "value": "graph", "limits": "graph", "err": "graph", "data": "graph",
    "source": "source", "model": "format", "decode": "format", "recognise": "format",
    "mount": "mount", "cli": "cli",
}


def header_layers():
    """A header belongs to the layer of the .c files that define what it declares
    (of the .c file of its own name, when it declares no function)."""
    defined = {}
    for c in glob.glob(os.path.join(ROOT, "fs", "*", "*.c")):
        for fn in re.findall(r"^[A-Za-z][\w \*]*?\b(\w+)\(", open(c).read(), re.M):
            defined.setdefault(fn, c.split(os.sep)[-2])
    owner = dict(HEADERS_WITHOUT_C)
    for h in glob.glob(os.path.join(ROOT, "include", "modelfs", "*.h")):
        name = os.path.basename(h)[:-2]
        text = re.sub(r"/\*.*?\*/", "", open(h).read(), flags=re.S)
        layers = {defined[f] for f in re.findall(r"\b(\w+)\(", text) if f in defined}
        if layers:
            owner[name] = min(layers, key=LAYERS.index)
    for c in glob.glob(os.path.join(ROOT, "fs", "*", "*.c")):
        owner.setdefault(os.path.basename(c)[:-2], c.split(os.sep)[-2])
    return owner


def test_every_source_file_is_in_a_layer():
    assert glob.glob(os.path.join(ROOT, "fs", "*.c")) == []
    folders = {os.path.basename(d) for d in glob.glob(os.path.join(ROOT, "fs", "*"))}
    assert folders <= set(LAYERS), folders - set(LAYERS)


def test_includes_point_only_downwards():
    owner = header_layers()
    upward = []
    for c in sorted(glob.glob(os.path.join(ROOT, "fs", "*", "*.c"))):
        layer = c.split(os.sep)[-2]
        for h in re.findall(r'#include "modelfs/(\w+)\.h"', open(c).read()):
            assert h in owner, "%s: include/modelfs/%s.h belongs to no layer" % (c, h)
            if LAYERS.index(owner[h]) > LAYERS.index(layer):
                upward.append("%s (%s) includes %s.h (%s)" % (c, layer, h, owner[h]))
    assert upward == []
