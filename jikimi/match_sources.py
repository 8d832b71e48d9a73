"""Find posts that are edited copies of a subject's source photos, and what was changed.

The second stage (index/local_features.py) with its measured thresholds finds the source
photo a post shows; the post is then warped into that photo's frame and compared region by
region (signals/region_grid.py), which says how much of the photo was changed and where.
Reported as ``{"kind": "derived", "subject_id", "source": label, "changed_fraction",
"shown_fraction", "inliers", "box": the changed region in post pixels}``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from jikimi.index.local_features import LocalFeatureIndex
from jikimi.match import Found
from jikimi.signals.local_features import LocalFeatures
from jikimi.signals.region_grid import compare
from jikimi.subject_sources import Source


class SourceMatcher:
    def __init__(self, sources: list[Source]):
        self.sources = {s.id: s for s in sources}
        self.index = LocalFeatureIndex()
        for source in sources:
            self.index.add(source.id, source.features)

    def match(self, features: bytes, pixels: Callable[[], np.ndarray | None]) -> list[Found]:
        """`pixels` decodes the post, called only when a source photo was found in it."""
        if not len(self.index) or not features:
            return []
        found: dict[int, Found] = {}
        post = None
        for match in self.index.search(LocalFeatures.from_bytes(features)):
            source = self.sources[match.key]
            post = post if post is not None else pixels()
            if post is None:
                return []
            change = compare(source.regions, (source.width, source.height), post, np.array(match.transform))
            detail = {"source": source.label, "source_id": source.id, "changed_fraction": change.changed_fraction,
                      "shown_fraction": change.shown_fraction, "inliers": match.inliers, "box": change.box,
                      "transform": match.transform}
            best = found.get(source.subject_id)
            if best is None or match.inliers > best.detail["inliers"]:
                found[source.subject_id] = Found("derived", None, None, None, detail, source.subject_id)
        return list(found.values())
