"""Find banked pictures a query shows part of: ORB descriptor votes, then RANSAC homography.

Shortlist: each query descriptor's nearest banked descriptor (FAISS binary flat search, two
neighbours for Lowe's ratio test) votes for the picture it belongs to. Confirm: for the few
pictures with most votes, a homography is fitted to the voting point pairs with RANSAC; a
match needs MIN_INLIERS pairs, and most of the voting pairs, to agree with it. Unrelated
pictures share some patches (a corner of a letter, a window), but not a geometry that
places many of them consistently.

The flat search costs (query descriptors x banked descriptors): 4.5 ms per query with 9
banked pictures, 440 ms with 1,000 (one thread, measured). That suits a case's own bank; a
bank of 100,000 pictures needs an inverted index of visual words as the shortlist.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import faiss
import numpy as np

from jikimi.signals.local_features import DESCRIPTOR_BYTES, LocalFeatures

# Lowe's ratio test: the best banked descriptor must be clearly closer than the second.
RATIO = 0.8
MAX_DESCRIPTOR_DISTANCE = 64  # of 256 bits; farther pairs are not the same patch
SHORTLIST = 5
# Pairs that agree with the fitted transform within this many pixels (at FEATURE_SIDE): a
# copy's keypoints land within a pixel or two after resizing and JPEG; 4 px let two photos
# taken from slightly different places (a stereo pair) fit 90 pairs instead of 66.
RANSAC_TOLERANCE = 2.0
RANSAC_SEED = 12  # OpenCV's RANSAC draws from a per-thread generator: seeded per call, see _verify
# Measured by benchmarks/derived_eval.py (docs/scanning.md): the hardest unrelated pictures
# (two photos of one smiling face aligned alike, a stereo pair of one street) fit 30-68 pairs
# in 10,000 unrelated posts; 10 % crops, 5-degree turns and screenshots median 230-470, and
# 96-100 % of them at least 80.
MIN_INLIERS = 80
# A copy's matched pairs nearly all fit one transform; another photo of the same scene has
# parallax, so a plane fits less than half of its pairs (0.43 for the stereo pair; copies 0.77-0.95).
MIN_INLIER_FRACTION = 0.6
# A transform that shrinks or grows the area more than this is a degenerate fit.
MAX_AREA_CHANGE = 20.0


@dataclass(frozen=True)
class PartialMatch:
    key: int
    inliers: int
    transform: list[list[float]]  # 3 x 3 homography from query pixels to banked pixels
    box: dict  # where the banked picture lies in the query (original pixels), clipped

    def detail(self) -> dict:
        return {"inliers": self.inliers, "transform": self.transform, "box": self.box}


class LocalFeatureIndex:
    def __init__(self) -> None:
        self._index = faiss.IndexBinaryFlat(DESCRIPTOR_BYTES * 8)
        self._owner = np.zeros(0, np.int64)  # descriptor row -> picture number
        self._keys: list[int] = []
        self._features: list[LocalFeatures] = []
        self._first_row: list[int] = []

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key: int, features: LocalFeatures) -> None:
        if not len(features.descriptors):
            return
        self._first_row.append(self._index.ntotal)
        self._owner = np.concatenate([self._owner, np.full(len(features.descriptors), len(self._keys))])
        self._keys.append(key)
        self._features.append(features)
        self._index.add(np.ascontiguousarray(features.descriptors))

    def search(self, query: LocalFeatures, min_inliers: int = MIN_INLIERS) -> list[PartialMatch]:
        """Banked pictures the query shows (part of); `min_inliers` is lowered only to measure."""
        if self._index.ntotal < 2 or len(query.descriptors) < min_inliers:
            return []
        distances, rows = _single_threaded_search(self._index, np.ascontiguousarray(query.descriptors))
        good = (distances[:, 0] <= MAX_DESCRIPTOR_DISTANCE) & (distances[:, 0] < RATIO * distances[:, 1])
        query_rows, banked_rows = np.flatnonzero(good), rows[good, 0]
        owners = self._owner[banked_rows]
        votes = np.bincount(owners, minlength=len(self._keys))
        found = []
        for picture in np.argsort(-votes)[:SHORTLIST]:
            if votes[picture] < min_inliers:
                break
            mine = owners == picture
            match = self._verify(int(picture), query, query_rows[mine], banked_rows[mine] - self._first_row[picture],
                                 min_inliers)
            if match:
                found.append(match)
        return found

    def _verify(self, picture: int, query: LocalFeatures, query_rows: np.ndarray, banked_rows: np.ndarray,
                min_inliers: int) -> PartialMatch | None:
        banked = self._features[picture]
        source, target = query.points[query_rows], banked.points[banked_rows]
        # The same query must get the same answer whatever was matched before it: a scan resumed
        # after a kill matches in another order, and must report what an uninterrupted one did.
        cv2.setRNGSeed(RANSAC_SEED)
        transform, mask = cv2.findHomography(source, target, cv2.RANSAC, RANSAC_TOLERANCE)
        if transform is None:
            return None
        inliers = int(mask.sum())
        area_change = abs(np.linalg.det(transform[:2, :2]))
        if inliers < min_inliers or inliers < MIN_INLIER_FRACTION * len(source):
            return None
        if not 1 / MAX_AREA_CHANGE <= area_change <= MAX_AREA_CHANGE:
            return None
        # RANSAC's model is fitted to a few pairs, and ORB places corners found on coarse
        # pyramid levels a few pixels off: a 5 % crop came out 3 % too large, enough to mark
        # a fifth of an unedited photo "changed" (region_grid). A least-squares fit to all
        # inliers came within 0.5 %.
        inlier = mask.ravel().astype(bool)
        refined = cv2.findHomography(source[inlier], target[inlier], 0)[0]
        transform = transform if refined is None else refined
        # Query pixels -> banked pixels, in original pixels of both pictures.
        to_banked = np.diag([1 / banked.scale, 1 / banked.scale, 1]) @ transform @ np.diag([query.scale, query.scale, 1])
        return PartialMatch(self._keys[picture], inliers, np.round(to_banked, 5).tolist(), _box(to_banked, banked, query))


def _single_threaded_search(index: faiss.IndexBinaryFlat, descriptors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two nearest banked descriptors each. One OpenMP thread: with the scan's other models
    busy, starting FAISS's threads cost 94 ms per query against 4.5 ms for the search itself
    (500 query x 4,500 banked descriptors, measured)."""
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        return index.search(descriptors, 2)
    finally:
        faiss.omp_set_num_threads(threads)


def _box(to_banked: np.ndarray, banked: LocalFeatures, query: LocalFeatures) -> dict:
    """The banked picture's outline mapped into the query, as a rectangle in query pixels."""
    w, h = banked.width, banked.height
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)[None]
    inside = cv2.perspectiveTransform(corners, np.linalg.inv(to_banked))[0]
    limit = np.array([query.width, query.height])
    low, high = np.clip(inside.min(axis=0), 0, limit), np.clip(inside.max(axis=0), 0, limit)
    return {"x": int(low[0]), "y": int(low[1]), "width": int(high[0] - low[0]), "height": int(high[1] - low[1])}
