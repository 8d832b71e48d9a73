"""Find posts that are edited copies of banked pictures: a large region replaced.

The plain second stage (index/local_features.py) keeps a post's 500 strongest corners; a
region filled with noise or pasted from another photo is all corners, so with 40 % of a banked
picture replaced it found 0.68 of the copies. The remedy is the one found for a subject's
source photos (match_sources.py): features spread over the whole picture on both sides
(signals/spread_features.py), a lower inlier count, and, since a lower count alone would let
other photos of the same scene through, the region check (signals/region_grid.py): warped into
the banked picture's frame, a true edit shows a large connected part of it unchanged.

Banked pictures added since migration 0019 carry spread features (BANK_PER_CELL, in an index
of their own: in place of the plain ones they cut the plain stage's recall of 20 % crops from
0.96 to 0.34, as a picture whose texture lies in a few cells keeps few of them) and a region
grid; older rows keep matching through the plain second stage only. The post's spread
features are computed only for a picture that nothing else matched.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from jikimi.index.local_features import LocalFeatureIndex, PartialMatch
from jikimi.signals.local_features import LocalFeatures
from jikimi.signals.region_grid import Change, RegionGrid, compare
from jikimi.signals.spread_features import POST_PER_CELL, spread_features

# As for source photos (match_sources.py). benchmarks/derived_eval.py --repeats 3
# --distractors 10000 (docs/scanning.md): with them, 20 / 40 / 60 % replaced found 0.99 / 0.98
# / 0.76 (0.89 / 0.68 / 0.26 before); of the 10,000 unrelated posts (50 other photos of the
# known people among them) those a plane fitted 30 spread pairs kept at most 12 % of a known
# picture in one unchanged part: no false match.
MIN_INLIERS = 30
MIN_KEPT = 0.25


def edited_copies(index: LocalFeatureIndex, regions: Callable[[int], tuple[RegionGrid, tuple[int, int]] | None],
                  post: np.ndarray, min_kept: float = MIN_KEPT,
                  min_inliers: int = MIN_INLIERS) -> list[tuple[PartialMatch, Change]]:
    """Pictures (index keys: banked pictures, or a subject's source photos) the post is an
    edited copy of; `regions(key)` gives a picture's region grid and size, None for rows
    stored without one. The thresholds are lowered only to measure."""
    found = []
    for match in index.search(spread_features(post, POST_PER_CELL), min_inliers):
        banked = regions(match.key)
        if banked is None:
            continue
        change = compare(banked[0], banked[1], post, np.array(match.transform))
        if change.kept_fraction >= min_kept:
            found.append((match, change))
    return found


def banked_regions(features: bytes, regions: bytes) -> tuple[RegionGrid, tuple[int, int]]:
    """A stored row's region grid and the banked picture's size (from its features)."""
    stored = LocalFeatures.from_bytes(features)
    return RegionGrid.from_bytes(regions), (stored.width, stored.height)
