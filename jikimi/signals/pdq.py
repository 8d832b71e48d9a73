"""PDQ, Meta's perceptual photo hash: the hash StopNCII and ThreatExchange banks hold."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pdqhash
from PIL import Image

from jikimi.limits import Limits
from jikimi.media.images import open_image

# Below this quality an image is too flat (blank, near-uniform) for its hash to mean
# anything: threatexchange's PdqSignal drops such hashes, and so should matching.
PDQ_QUALITY_THRESHOLD = 50
# Meta's recommended distance for a confident match (PDQ_CONFIDENT_MATCH_THRESHOLD).
PDQ_DEFAULT_THRESHOLD = 31
# JPEGs are decoded at 1/2, 1/4 or 1/8 scale (DCT scaling) while both sides stay at least
# this long. PDQ is not scale-exact: measured against the full-size hash, halving a
# 1280-px photo moves it ~4 bits on average and up to ~20, halving a 4032x3024 phone
# photo ~1.6 bits and at most 10 (benchmarks/pdq_hashing.py). So only photos larger
# than ~3000 px, where decoding and hashing cost most, are reduced by default.
PDQ_DECODE_MIN_SIDE = 1500


@dataclass(frozen=True)
class PdqHash:
    hex: str  # 64 lowercase hex digits, as threatexchange writes them
    quality: int  # 0-100


def pdq_from_array(rgb: np.ndarray) -> PdqHash:
    """Same hash and quality as threatexchange's PdqSignal for the same RGB pixels."""
    bits, quality = pdqhash.compute(rgb)
    return PdqHash(np.packbits(bits.astype(np.uint8)).tobytes().hex(), int(quality))


def pdq_from_image(img: Image.Image) -> PdqHash:
    return pdq_from_array(np.asarray(img if img.mode == "RGB" else img.convert("RGB")))


def pdq_from_file(path: Path, limits: Limits, *, min_side: int = PDQ_DECODE_MIN_SIDE) -> PdqHash:
    """Hash an image file, upright (EXIF orientation applied), large JPEGs at reduced scale.

    Images whose short side is under 2 * `min_side` hash exactly as threatexchange does.
    """
    return pdq_from_image(open_image(path, limits, min_side=min_side))


def hamming(hex_a: str, hex_b: str) -> int:
    """Number of differing bits between two PDQ hashes (0-256)."""
    return (int(hex_a, 16) ^ int(hex_b, 16)).bit_count()
