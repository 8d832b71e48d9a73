"""Find posts that are edited copies of a subject's source photos, and what was changed.

The post's features are spread over its whole area (signals/spread_features.py), so the part
of her photo an edit kept still holds many of them; the second stage's index
(index/local_features.py) fits a homography to the pairs that agree with a source photo. The
post is then warped into that photo's frame and compared region by region
(signals/region_grid.py), which says how much of the photo was changed and where, and is
also the second check: a true derivative shows a large connected part of her photo
unchanged, while another photo of the same person or place, even one a plane fits, differs
in almost every cell. Reported as ``{"kind": "derived", "subject_id", "source": label,
"changed_fraction", "shown_fraction", "kept_fraction", "inliers", "box": the changed region
in post pixels}``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from jikimi.index.local_features import LocalFeatureIndex, PartialMatch
from jikimi.match import Found
from jikimi.match_edits import edited_copies
from jikimi.signals.region_grid import Change
from jikimi.subject_sources import Source

# Measured with benchmarks/derived_eval.py --mode sources (docs/scanning.md).
MIN_INLIERS = 30
MIN_KEPT = 0.25


class SourceMatcher:
    def __init__(self, sources: list[Source]):
        self.sources = {s.id: s for s in sources}
        self.index = LocalFeatureIndex()
        for source in sources:
            self.index.add(source.id, source.features)

    def match(self, features: bytes, pixels: Callable[[], np.ndarray | None]) -> list[Found]:
        """`features` (the scan's plain local features) say the post is a picture; `pixels`
        decodes it, only when the scan looks for source photos."""
        if not len(self.index) or not features:
            return []
        post = pixels()
        if post is None:
            return []
        found: dict[int, Found] = {}
        for source, match, change in self.candidates(post):
            if change.kept_fraction < MIN_KEPT:
                continue
            detail = {"source": source.label, "source_id": source.id, "changed_fraction": change.changed_fraction,
                      "shown_fraction": change.shown_fraction, "kept_fraction": change.kept_fraction,
                      "inliers": match.inliers, "box": change.box, "transform": match.transform}
            best = found.get(source.subject_id)
            if best is None or match.inliers > best.detail["inliers"]:
                found[source.subject_id] = Found("derived", None, None, None, detail, source.subject_id)
        return list(found.values())

    def candidates(self, post: np.ndarray, min_inliers: int = MIN_INLIERS) -> list[tuple[Source, PartialMatch, Change]]:
        """Source photos a plane fits `min_inliers` pairs of, with what changed (before the
        MIN_KEPT check); `min_inliers` is lowered only to measure."""
        def regions(key: int):
            source = self.sources[key]
            return source.regions, (source.width, source.height)

        return [(self.sources[match.key], match, change)
                for match, change in edited_copies(self.index, regions, post, min_kept=0.0, min_inliers=min_inliers)]
