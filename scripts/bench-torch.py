#!/usr/bin/python3
"""bench-torch.py OUT -- the PyTorch checkpoints `make bench`'s torch section reads.

OUT/big/big.pt: a 1 GiB state_dict written by torch.save (zip layout): one 256 MiB
float32 tensor (the one streamed) and 96 of 8 MiB, like a transformer's layers.
OUT/small/small.pt: the same names and layout at 1/64 of the size, to show the
daemon's memory does not grow with the checkpoint.  Written once; kept when present.
"""
import collections
import os
import sys

import torch


def write(path, scale):
    if os.path.exists(path):
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sd = collections.OrderedDict()
    sd["embed.weight"] = torch.ones(64 * 1024 * 1024 // scale)
    for i in range(96):
        sd["layers.%d.weight" % i] = torch.full((2 * 1024 * 1024 // scale,), float(i))
    torch.save(sd, path + ".tmp")
    os.rename(path + ".tmp", path)


def main(out):
    write(os.path.join(out, "big", "big.pt"), 1)
    write(os.path.join(out, "small", "small.pt"), 64)


if __name__ == "__main__":
    main(sys.argv[1])
