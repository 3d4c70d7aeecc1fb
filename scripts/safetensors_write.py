#!/usr/bin/python3
"""safetensors_write.py -- a small writer (and reader) of the safetensors format.

Follows the published format (https://github.com/huggingface/safetensors, "Format"):
8 bytes little-endian header length N, N bytes of UTF-8 JSON -- for every tensor
{"dtype": "F32", "shape": [...], "data_offsets": [begin, end]} with offsets into the
byte buffer that follows the header, plus an optional "__metadata__" of str -> str --
padded with spaces to a multiple of 8 bytes, then the tensors' bytes, C order,
little-endian.  The safetensors library is not packaged in Debian; this writer is
checked against the torch tensors by reading its own output back (read()).

Used by make_torch_fixtures.py; never loads anything but the file it wrote.
"""
import json
import struct

import torch

DTYPES = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL", torch.complex64: "C64",
}
BY_CODE = {v: k for k, v in DTYPES.items()}


def tensor_bytes(t):
    """The C-order little-endian bytes of t (bfloat16 through its int16 view)."""
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def write(path, tensors, metadata=None):
    """tensors: an ordered mapping name -> torch.Tensor, written in that order."""
    header, blobs, at = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, t in tensors.items():
        b = tensor_bytes(t)
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [at, at + len(b)]}
        blobs.append(b)
        at += len(b)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def read(path):
    """(tensors, metadata) of a safetensors file, tensors as torch.Tensor."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    meta = header.pop("__metadata__", None)
    out = {}
    for name, h in header.items():
        dtype = BY_CODE[h["dtype"]]
        begin, end = h["data_offsets"]
        raw = bytearray(data[base + begin:base + end])
        if dtype == torch.bfloat16:
            t = torch.frombuffer(raw, dtype=torch.int16).view(torch.bfloat16) if raw else torch.zeros(0, dtype=dtype)
        else:
            t = torch.frombuffer(raw, dtype=dtype) if raw else torch.zeros(0, dtype=dtype)
        out[name] = t.reshape(h["shape"])
    return out, meta


def write_checked(path, tensors, metadata=None):
    """write(), then read the file back and require every tensor to equal torch's."""
    write(path, tensors, metadata)
    back, meta = read(path)
    assert list(back) == list(tensors), (list(back), list(tensors))
    for name, t in tensors.items():
        b = back[name]
        assert b.dtype == t.dtype and b.shape == t.shape, name
        assert torch.equal(b, t.detach()), name
    assert meta == ({str(k): str(v) for k, v in metadata.items()} if metadata is not None else None)
