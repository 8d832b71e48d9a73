"""Extra PDQ query hashes of one image: turned or mirrored, and the picture inside a screenshot.

A bank holds one hash per known picture, often from another organisation (hash only, no
file). Reposts are turned (a phone held sideways), mirrored (a selfie camera, a "flip" to
dodge filters), screenshotted, letterboxed or captioned, and whole-image PDQ misses all of
them. So the query side hashes what the known picture would look like: the seven other
dihedral variants (free: they are sign changes and transposes of the same DCT) and the
picture found inside chrome or borders with its own variants. Each is an entry
``{"variant": name, "pdq": hex}``; the inner picture's entries also carry its quality and
``box`` (where it is in the posted image).
"""

from __future__ import annotations

import numpy as np

from jikimi.signals.inner_picture import Rect, find_inner_picture
from jikimi.signals.pdq import PDQ_QUALITY_THRESHOLD, PdqHash
from jikimi.signals.pdq_fast import dihedral_hashes, dihedral_hashes_of_pixels, hash_from_dct, pdq_dct

INNER = "inner"
# Pictures up to this long side get their turned variants by re-hashing turned pixels (a
# millisecond each at this size); larger ones by the DCT rule, within a few bits.
PIXEL_DIHEDRAL_MAX_SIDE = 512


def pdq_with_variants(rgb: np.ndarray) -> tuple[PdqHash, list[dict]]:
    """The image's own PDQ hash and its query variants (only those of usable quality)."""
    dct, quality = pdq_dct(rgb)
    variants = []
    if quality >= PDQ_QUALITY_THRESHOLD:
        variants += [{"variant": name, "pdq": pdq} for name, pdq in _dihedral(rgb, dct).items()]
    box = find_inner_picture(rgb)
    if box is not None:
        inner = rgb[box.y:box.y + box.height, box.x:box.x + box.width]
        inner_dct, inner_quality = pdq_dct(inner)
        if inner_quality >= PDQ_QUALITY_THRESHOLD:
            where = {"quality": inner_quality, "box": box.to_dict()}
            variants.append({"variant": INNER, "pdq": hash_from_dct(inner_dct), **where})
            variants += [{"variant": f"{INNER}+{name}", "pdq": pdq, **where}
                         for name, pdq in _dihedral(inner, inner_dct).items()]
    return PdqHash(hash_from_dct(dct), quality), variants


def _dihedral(rgb: np.ndarray, dct: np.ndarray) -> dict[str, str]:
    if max(rgb.shape[:2]) <= PIXEL_DIHEDRAL_MAX_SIDE:
        return dihedral_hashes_of_pixels(rgb)
    return dihedral_hashes(dct)


def inner_rect(variants: list[dict], shrink: float = 1.0) -> Rect | None:
    """Where the inner picture lies (if one was found), in pixels of an image `shrink` times
    the size of the one hashed: the second stage adds that picture's own local features."""
    box = next((v["box"] for v in variants if v["variant"] == INNER), None)
    if box is None:
        return None
    return Rect(*(round(box[k] * shrink) for k in ("x", "y", "width", "height")))
