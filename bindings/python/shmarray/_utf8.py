"""UTF-8 from NumPy's fixed-width unicode (UTF-32) arrays, vectorized: no
Python object per value. Used to store a unicode column (NumPy unicode
keys are looked up by the C core, which reads UTF-32 itself)."""

from __future__ import annotations

import numpy as np


def utf32_to_utf8(codes: np.ndarray, skip: np.ndarray | None = None,
                  replace_invalid: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, data): int64 offsets (n + 1) and uint8 UTF-8 bytes of the
    items of codes, an (n, width) array of UTF-32 code points padded with
    NULs. Each item ends at its last non-NUL code point, as in NumPy; items
    where skip is True are left empty.

    A code point UTF-8 cannot encode (a surrogate, or above U+10FFFF) raises
    ValueError, or with replace_invalid becomes as many 0xFF bytes as it
    would have taken, which valid UTF-8 never contains."""
    codes = codes.astype(np.uint32, copy=False)
    n, width = codes.shape
    lengths = np.zeros(n, dtype=np.int64)
    for k in range(width):  # one pass per column: each item's last non-NUL
        np.copyto(lengths, k + 1, where=codes[:, k] != 0)
    if skip is not None:
        lengths[skip] = 0
    full = n == 0 or int(lengths.min()) == width  # no item is shorter: keep every code point
    inside = None if full else np.arange(width) < lengths[:, None]
    offsets = np.zeros(n + 1, dtype=np.int64)
    if codes.size == 0 or int(codes.max()) < 0x80:  # ASCII: one byte per code point
        ascii_bytes = codes.astype(np.uint8)
        np.cumsum(lengths, out=offsets[1:])
        return offsets, ascii_bytes.reshape(-1) if full else ascii_bytes[inside]
    cps = codes.reshape(-1) if full else codes[inside]  # every code point kept, in order
    bad = ((cps >= 0xD800) & (cps <= 0xDFFF)) | (cps > 0x10FFFF)
    if bad.any() and not replace_invalid:
        raise ValueError("a surrogate or an out-of-range code point, which UTF-8 cannot encode")
    nbytes = (1 + (cps >= 0x80) + (cps >= 0x800) + (cps >= 0x10000)).astype(np.int64)
    out = np.empty(int(nbytes.sum()), dtype=np.uint8)
    start = np.cumsum(nbytes) - nbytes
    for size, lead in ((1, 0x00), (2, 0xC0), (3, 0xE0), (4, 0xF0)):
        sel = nbytes == size
        if not sel.any():
            continue
        c, at = cps[sel], start[sel]
        out[at] = lead | (c >> (6 * (size - 1)))
        for j in range(1, size):
            out[at + j] = 0x80 | ((c >> (6 * (size - 1 - j))) & 0x3F)
    if bad.any():
        for j in range(4):
            sel = bad & (nbytes > j)
            out[start[sel] + j] = 0xFF
    if full:
        row_bytes = nbytes.reshape(n, width).sum(axis=1)
    else:
        per_slot = np.zeros((n, width), dtype=np.int64)
        per_slot[inside] = nbytes
        row_bytes = per_slot.sum(axis=1)
    np.cumsum(row_bytes, out=offsets[1:])
    return offsets, out
