#!/usr/bin/python3
"""make_torch_fixtures.py OUT -- PyTorch checkpoints written by the real torch, and the truth.

Run with the system python (python3-torch 1.13).  Writes into OUT:

  state.pt / state_legacy.pt / state.safetensors   one state_dict in the three layouts
      (and state_p5.pt, state_legacy_p1.pt, state_legacy_p4.pt: other pickle protocols)
      (float32/float16/bfloat16/int64/bool, 0-d and empty tensors, a transposed and a
      sliced view of one storage next to the storage's own tensor; safetensors holds
      contiguous copies, as that format requires)
  tied.pt / tied_legacy.pt      a tiny language model whose output layer is tied to its
      embedding (one storage, one view: the second name must be a link)
  ckpt.pt / ckpt_legacy.pt      a nested training checkpoint {'model', 'optimizer'
      (Adam after one step), 'epoch'}; ckpt_next.pt the same after a second step
      (manifest "diff": the tensors that changed and their max abs difference)
  meta.safetensors              with a __metadata__ dict
  manifest.json                 {"files": {NAME: {"format": ..., "arrays": {ENTRY.npy:
      TRUTH.npy}, "links": [ENTRY.npy, ...], "stored": {ENTRY.npy: "bfloat16"}}}}

TRUTH.npy is numpy.save of tensor.numpy() in C order (tensor.float() for bfloat16,
which has no numpy dtype).  The safetensors files come from safetensors_write.py,
checked against the torch tensors.  This script must never write outside OUT and
must stay small and fast.
"""
import collections
import copy
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_write  # noqa: E402


def state_dict():
    g = torch.Generator().manual_seed(0)
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6) / 7
    bf = torch.randn(3, 5, generator=g).to(torch.bfloat16)
    sd = collections.OrderedDict()
    sd["layer1.0.weight"] = torch.randn(3, 4, generator=g)
    sd["layer1.0.bias"] = torch.randn(3, generator=g)
    sd["base"] = base
    sd["base_t"] = base.t()             # Fortran-ordered view of the same storage
    sd["base_step"] = base[1:, ::2]     # strided view with an offset
    sd["half"] = torch.randn(2, 3, generator=g).half()
    sd["bf16"] = bf
    sd["bf16_t"] = bf.t()
    sd["f64"] = torch.randn(2, 2, 2, generator=g, dtype=torch.float64)
    sd["steps"] = torch.arange(-3, 4)
    sd["mask"] = torch.tensor([True, False, True, True])
    sd["bytes"] = torch.arange(0, 250, 50, dtype=torch.uint8)
    sd["i32"] = torch.tensor([[1, -2], [3, -4]], dtype=torch.int32)
    sd["scalar"] = torch.tensor(2.5)
    sd["empty"] = torch.zeros(0, 3)
    return sd


class TiedLM(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(10, 4)
        self.norm = torch.nn.LayerNorm(4)
        self.out = torch.nn.Linear(4, 10, bias=False)
        self.out.weight = self.emb.weight

    def forward(self, x):
        return self.out(self.norm(self.emb(x)))


def checkpoint():
    """(model, checkpoint after one Adam step, checkpoint after a second step)."""
    torch.manual_seed(1)
    model = TiedLM()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.tensor([[1, 2, 3], [4, 5, 6]])
    ckpts = []
    for epoch in (3, 4):
        opt.zero_grad()
        loss = model(x).logsumexp(-1).mean()
        loss.backward()
        opt.step()
        ckpts.append(copy.deepcopy({"model": model.state_dict(), "optimizer": opt.state_dict(),
                                    "epoch": epoch}))
    return model, ckpts[0], ckpts[1]


def changes(a, b):
    """{entry path: max abs difference} of the tensors that differ between two checkpoints."""
    ta, tb = [], []
    walk(a, "", ta)
    walk(b, "", tb)
    out = {}
    for (pa, x), (pb, y) in zip(ta, tb):
        assert pa == pb
        if not torch.equal(x, y):
            out[pa] = float((x.double() - y.double()).abs().max())
    return out


def truth_array(t):
    t = t.detach()
    if t.dtype == torch.bfloat16:
        t = t.float()
    return np.array(t.numpy(), order="C", copy=True)


def walk(obj, prefix, out):
    """Yield (entry path, tensor) for every tensor of a nested checkpoint, in order."""
    if isinstance(obj, torch.Tensor):
        out.append((prefix, obj))
    elif isinstance(obj, dict):
        for k, v in obj.items():
            walk(v, (prefix + "/" if prefix else "") + str(k), out)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            walk(v, (prefix + "/" if prefix else "") + str(i), out)


def record(out_dir, name, fmt, obj, manifest):
    tensors = []
    walk(obj, "", tensors)
    entry = {"format": fmt, "arrays": {}, "links": [], "stored": {}}
    seen = {}
    for path, t in tensors:
        npy = path + ".npy"
        truth = os.path.join("truth", name, npy)
        os.makedirs(os.path.dirname(os.path.join(out_dir, truth)), exist_ok=True)
        np.save(os.path.join(out_dir, truth), truth_array(t), allow_pickle=False)
        entry["arrays"][npy] = truth
        if t.dtype == torch.bfloat16:
            entry["stored"][npy] = "bfloat16"
        view = (t.untyped_storage().data_ptr() if hasattr(t, "untyped_storage")
                else t.storage().data_ptr(), t.storage_offset(), tuple(t.shape), t.stride(), t.dtype)
        if fmt != "safetensors" and view in seen:
            entry["links"].append(npy)
        seen.setdefault(view, npy)
    manifest["files"][name] = entry


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    manifest = {"files": {}}
    sd = state_dict()
    torch.save(sd, os.path.join(out_dir, "state.pt"))
    torch.save(sd, os.path.join(out_dir, "state_legacy.pt"), _use_new_zipfile_serialization=False)
    safetensors_write.write_checked(os.path.join(out_dir, "state.safetensors"),
                                    collections.OrderedDict((k, v.contiguous()) for k, v in sd.items()))
    record(out_dir, "state.pt", "pytorch", sd, manifest)
    record(out_dir, "state_legacy.pt", "pytorch-legacy", sd, manifest)
    record(out_dir, "state.safetensors", "safetensors", sd, manifest)
    # other pickle protocols (protocol 4+ frames the magic number's pickle)
    for name, proto, zipped in (("state_p5.pt", 5, True), ("state_legacy_p1.pt", 1, False),
                                ("state_legacy_p4.pt", 4, False)):
        torch.save(sd, os.path.join(out_dir, name), pickle_protocol=proto,
                   _use_new_zipfile_serialization=zipped)
        record(out_dir, name, "pytorch" if zipped else "pytorch-legacy", sd, manifest)

    model, ckpt, ckpt2 = checkpoint()
    torch.save(ckpt2, os.path.join(out_dir, "ckpt_next.pt"))
    manifest["diff"] = {"a": "ckpt.pt", "b": "ckpt_next.pt", "changed": changes(ckpt, ckpt2)}
    tied = model.state_dict()
    torch.save(tied, os.path.join(out_dir, "tied.pt"))
    torch.save(tied, os.path.join(out_dir, "tied_legacy.pt"), _use_new_zipfile_serialization=False)
    record(out_dir, "tied.pt", "pytorch", tied, manifest)
    record(out_dir, "tied_legacy.pt", "pytorch-legacy", tied, manifest)
    torch.save(ckpt, os.path.join(out_dir, "ckpt.pt"))
    torch.save(ckpt, os.path.join(out_dir, "ckpt_legacy.pt"), _use_new_zipfile_serialization=False)
    record(out_dir, "ckpt.pt", "pytorch", ckpt, manifest)
    record(out_dir, "ckpt_legacy.pt", "pytorch-legacy", ckpt, manifest)

    small = collections.OrderedDict([("w", torch.ones(2, 2)), ("n", torch.arange(3))])
    safetensors_write.write_checked(os.path.join(out_dir, "meta.safetensors"), small,
                                    {"format": "pt", "note": "Zürich"})
    record(out_dir, "meta.safetensors", "safetensors", small, manifest)
    manifest["torch_version"] = torch.__version__
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main(sys.argv[1])
