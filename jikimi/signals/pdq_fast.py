"""PDQ in a few milliseconds: the same algorithm as pdqhash, computed as two small products.

pdqhash converts every pixel to float luma, then runs Jarosz box filters (two passes along
rows and columns, windows of about size/128) over the whole image, and keeps 64 x 64 samples.
The box filters are linear and act on rows and columns separately, so the 64 kept rows of
the filtered image are a fixed 64 x height matrix times the image, and the 64 kept columns
a fixed 64 x width matrix; both are sparse (a triangle of about size/64 taps per sample) and
cached per image size. The 64 x 64 samples are then ``rows @ luma @ cols.T``, in float32.

Why this is not bit-identical to pdqhash: the running sums of pdqhash's filters and our
sparse products round differently in float32, so a coefficient that sits on the median can
fall on the other side. Measured on benchmarks/pdq_hashing.py's photos the hashes are
identical for almost all files and at most a few bits apart (the figures are in
docs/scanning.md); hashes written to banks for export still come from pdqhash
(``jikimi.signals.pdq.pdq_from_array``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import scipy.sparse

from jikimi.limits import Limits
from jikimi.media.images import open_image
from jikimi.signals.pdq import PDQ_DECODE_MIN_SIDE, PdqHash

PDQ_SIDE = 64  # pdqhash filters and samples the luma down to 64 x 64
DCT_SIDE = 16  # the hash is the sign of 16 x 16 DCT coefficients against their median
MIN_HASHABLE_SIDE = 5  # pdqhash gives an empty hash of quality 0 below this
# pdqhash's quality: the sum of |neighbour differences| in percent of 255, over this divisor.
QUALITY_DIVISOR = 90

_N = np.arange(PDQ_SIDE)
_DCT = (np.sqrt(2 / PDQ_SIDE) * np.cos(np.pi / 2 / PDQ_SIDE * (np.arange(DCT_SIDE)[:, None] + 1) * (2 * _N + 1))
        ).astype(np.float32)
_EVEN_I = (np.arange(DCT_SIDE) % 2 == 0)[:, None]
_EVEN_J = _EVEN_I.T
_ODD_SUM = (_EVEN_I ^ _EVEN_J)

# What was done to a posted copy -> how its 16 x 16 DCT maps back to the original's
# (pdqhash's dct16OriginalTo* rules: sign changes on odd or even frequencies, transposes).
DIHEDRAL_VARIANTS = {
    "rot90": lambda d: np.where(_EVEN_J, -d, d).T,  # turned 90 degrees clockwise
    "rot180": lambda d: np.where(_ODD_SUM, -d, d),
    "rot270": lambda d: np.where(_EVEN_I, -d, d).T,  # turned 90 degrees counter-clockwise
    "mirror": lambda d: np.where(_EVEN_J, -d, d),  # left and right swapped
    "flip": lambda d: np.where(_EVEN_I, -d, d),  # upside down
    "transpose": lambda d: d.T,
    "transverse": lambda d: np.where(_ODD_SUM, -d, d).T,
}


def pdq_dct(rgb: np.ndarray) -> tuple[np.ndarray | None, int]:
    """The 16 x 16 DCT coefficients PDQ thresholds, and PDQ's quality, of RGB pixels.

    None (quality 0) for images too small to hash, as pdqhash.
    """
    height, width = rgb.shape[:2]
    if height < MIN_HASHABLE_SIDE or width < MIN_HASHABLE_SIDE:
        return None, 0
    # Same coefficients as pdqhash (0.299, 0.587, 0.114), in float32.
    luma = cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.float32), cv2.COLOR_RGB2GRAY)
    if (height, width) == (PDQ_SIDE, PDQ_SIDE):
        small = luma  # pdqhash does not filter an image already 64 x 64
    else:
        small = (_sampler(width) @ (_sampler(height) @ luma).T).T
    return _DCT @ small @ _DCT.T, _quality(small)


def hash_from_dct(dct: np.ndarray | None) -> str:
    """The 256-bit hash as threatexchange writes it: bit k (row-major) is set when
    coefficient k is above the median, most significant hex digit = last coefficient."""
    if dct is None:
        return "0" * 64
    flat = dct.ravel()
    median = np.partition(flat, 127)[127]  # pdqhash's torben() returns the lower median
    return np.packbits((flat > median)[::-1]).tobytes().hex()


def fast_pdq(rgb: np.ndarray) -> PdqHash:
    dct, quality = pdq_dct(rgb)
    return PdqHash(hash_from_dct(dct), quality)


def dihedral_hashes(dct: np.ndarray | None) -> dict[str, str]:
    """The hash of the original picture for each way a copy of it could have been turned
    or mirrored: a posted copy's variant "mirror" equals the hash of the unmirrored image
    (up to resampling), so querying every variant finds turned and mirrored copies."""
    if dct is None:
        return {}
    return {name: hash_from_dct(undo(dct)) for name, undo in DIHEDRAL_VARIANTS.items()}


# The same turns as pixel operations (undoing what was done to the posted copy).
PIXEL_UNDO = {
    "rot90": lambda a: np.rot90(a, 1),
    "rot180": lambda a: np.rot90(a, 2),
    "rot270": lambda a: np.rot90(a, -1),
    "mirror": lambda a: a[:, ::-1],
    "flip": lambda a: a[::-1],
    "transpose": lambda a: a.swapaxes(0, 1),
    "transverse": lambda a: np.rot90(a, 2).swapaxes(0, 1),
}


def dihedral_hashes_of_pixels(rgb: np.ndarray) -> dict[str, str]:
    """As ``dihedral_hashes``, hashing the turned pixels: exact where the DCT rule is not.

    pdqhash's box windows and sample positions are not symmetric, so the DCT rule's hash
    of a turned copy is a few bits off; on a large picture that is 4-12 bits, on a 150-px
    one 30-40 (measured on the johns photos), too far. Small pictures are cheap to re-hash.
    """
    return {name: fast_pdq(np.ascontiguousarray(undo(rgb))).hex for name, undo in PIXEL_UNDO.items()}


@lru_cache(maxsize=256)
def _sampler(length: int) -> scipy.sparse.csr_matrix:
    """64 x length matrix: two Jarosz box passes along one axis, then pdqhash's decimation."""
    window = (length + 2 * PDQ_SIDE - 1) // (2 * PDQ_SIDE)
    ahead = (window + 2) // 2  # pdqhash's box reaches ahead-1 forward, window-ahead back
    k = np.arange(length)
    first, last = np.maximum(0, k - (window - ahead)), np.minimum(length - 1, k + ahead - 1)
    taps = last - first + 1  # shorter at the edges, where pdqhash averages fewer pixels
    columns = np.repeat(first - np.cumsum(taps) + taps, taps) + np.arange(taps.sum())
    box = scipy.sparse.csr_matrix((np.repeat(1.0 / taps, taps), (np.repeat(k, taps), columns)),
                                  shape=(length, length))
    kept = ((np.arange(PDQ_SIDE) + 0.5) * length / PDQ_SIDE).astype(int)
    return (box[kept] @ box).astype(np.float32).tocsr()


def _quality(small: np.ndarray) -> int:
    down = np.trunc((small[:-1] - small[1:]) * 100 / 255)
    across = np.trunc((small[:, :-1] - small[:, 1:]) * 100 / 255)
    return min(100, int(np.abs(down).sum() + np.abs(across).sum()) // QUALITY_DIVISOR)


def fast_pdq_from_file(path: Path, limits: Limits, *, min_side: int = PDQ_DECODE_MIN_SIDE) -> PdqHash:
    """Like ``pdq_from_file`` (same decoding), hashed by this module."""
    return fast_pdq(np.asarray(open_image(path, limits, min_side=min_side)))
