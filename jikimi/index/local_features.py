"""Find banked pictures a query shows part of: ORB descriptor votes, then RANSAC homography.

Shortlist: each query descriptor's nearest banked descriptor (FAISS binary flat search, two
neighbours for Lowe's ratio test) votes for the picture it belongs to. Confirm: for the few
pictures with most votes, a homography is fitted to the voting point pairs with RANSAC; a
match needs MIN_INLIERS pairs, and most of the voting pairs, to agree with it. Unrelated
pictures share some patches (a corner of a letter, a window), but not a geometry that
places many of them consistently.

The flat search costs (query descriptors x banked descriptors): 4.5 ms per query with 9
banked pictures, 440 ms with 1,000 (one thread, measured), and its descriptors take 16 KB
of RAM per picture. So it is used only up to FLAT_LIMIT pictures (a case's own bank gets
exactly its answers). Beyond that, candidate pictures come first, from locality-sensitive
hashing of the descriptors (the ORB paper's and FLANN's index for binary descriptors): two
tables keyed by KEY_BITS bits of each descriptor, a posting (picture number, 4 bytes) per
descriptor and table. A crop or turn keeps a patch's descriptor within a few dozen bits, so
its key often stays the same. Keys are weighed by their inverse frequency (tf-idf, as
in bags of visual words): plain patches shared by thousands of pictures count for little
(unweighted, 6 of 100 altered copies fell out of the top 8 at 10,000 banked mosaics;
weighted, 1 of 100, a screenshot). The CANDIDATES pictures with most weight are then matched exactly as above
(flat search over their descriptors only): the same ratio test, among fewer neighbours, and
the same geometry.
Why not the others (benchmarks/partial_lookup.py, docs/scanning.md "Second stage at
scale"): a FAISS IVF or HNSW index over every descriptor keeps all 16 KB per picture in RAM
(1.6 GB at 100,000) and still searches 500 neighbours per query; a bag of visual words needs
a vocabulary trained on data we cannot ship or must retrain as the bank grows, while the
hash keys need no training (ORB's bits were chosen to be uncorrelated and near 50 % on), so
adds work at any time, with no rebuild, and answers do not depend on when adds were merged.

The full features of banked pictures are kept in an unnamed temporary file (positions and
descriptors, never pixels, as in the database): only the few candidates are read back.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass, replace

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

# Shortlist at scale (measured by benchmarks/partial_lookup.py, docs/scanning.md).
# Pictures searched flat, exactly as ever (8 ms a query at 32 pictures, 17 ms at 64 against
# 4-6 ms shortlisted, CPU time measured); more are shortlisted by hash keys.
FLAT_LIMIT = 32
KEY_BITS = 20  # bits of a descriptor that key a hash table (2^20 buckets, 8 MB of offsets each)
TABLES = 2  # hash tables, each keyed by another 32-bit word of the descriptor
CANDIDATES = 8  # pictures with most key collisions matched exactly
IDF_SCALE = 16  # key weights are rounded to 1/16
# Recent adds (postings) searched unsorted until a search merges them into the table: 8,192
# cost a search 0.5 ms; the merge rewrites the table (about 0.2 s at 100,000 pictures).
MERGE_AT = 1 << 13


@dataclass(frozen=True)
class PartialMatch:
    key: int
    inliers: int
    transform: list[list[float]]  # 3 x 3 homography from query pixels to banked pixels
    box: dict  # where the banked picture lies in the query (original pixels), clipped

    def detail(self) -> dict:
        return {"inliers": self.inliers, "transform": self.transform, "box": self.box}


class LocalFeatureIndex:
    def __init__(self, flat_limit: int = FLAT_LIMIT) -> None:
        self._flat_limit = flat_limit
        self._index: faiss.IndexBinaryFlat | None = faiss.IndexBinaryFlat(DESCRIPTOR_BYTES * 8)  # up to flat_limit
        self._first_row: list[int] = []  # picture number -> its first descriptor row (flat search)
        self._keys: list[list[int]] = []  # picture number -> the keys it was added under
        self._picture_of: dict[bytes, int] = {}  # digest of a picture's features -> its number
        self._features = _FeatureFile()
        self._tables = [_HashTable() for _ in range(TABLES)]
        self._descriptors = 0

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key: int, features: LocalFeatures) -> None:
        if not len(features.descriptors):
            return
        # The same features added again (one file in two banks, or banked again) are one picture
        # with several keys: as two pictures, each would be the other's second-nearest
        # neighbour for every descriptor, and the ratio test would refuse them both.
        digest = hashlib.blake2b(features.to_bytes(), digest_size=16).digest()
        if digest in self._picture_of:
            self._keys[self._picture_of[digest]].append(key)
            return
        picture = self._picture_of[digest] = len(self._keys)
        self._keys.append([key])
        self._features.append(features)
        self._descriptors += len(features.descriptors)
        for table, keys in zip(self._tables, _hash_keys(features.descriptors).T):
            table.add(keys, picture)
        if len(self._keys) > self._flat_limit:
            self._index = None
            self._first_row = []
            return
        self._first_row.append(self._index.ntotal)
        self._index.add(np.ascontiguousarray(features.descriptors))

    def search(self, query: LocalFeatures, min_inliers: int = MIN_INLIERS) -> list[PartialMatch]:
        """Banked pictures the query shows (part of); `min_inliers` is lowered only to measure."""
        if self._descriptors < 2 or len(query.descriptors) < min_inliers:
            return []
        if self._index is not None:
            pictures, index, first_row = np.arange(len(self._keys)), self._index, self._first_row
        else:
            pictures = self._candidates(query.descriptors)
            if not len(pictures):
                return []
            index, first_row = _exact_index([self._features[p] for p in pictures])
        distances, rows = _single_threaded_search(index, np.ascontiguousarray(query.descriptors))
        good = (distances[:, 0] <= MAX_DESCRIPTOR_DISTANCE) & (distances[:, 0] < RATIO * distances[:, 1])
        query_rows, banked_rows = np.flatnonzero(good), rows[good, 0]
        owners = np.searchsorted(first_row, banked_rows, side="right") - 1  # position in `pictures`
        votes = np.bincount(owners, minlength=len(pictures))
        found = []
        for candidate in np.argsort(-votes)[:SHORTLIST]:
            if votes[candidate] < min_inliers:
                break
            mine = owners == candidate
            match = self._verify(int(pictures[candidate]), query, query_rows[mine],
                                 banked_rows[mine] - first_row[candidate], min_inliers)
            if match:
                found += [replace(match, key=key) for key in self._keys[match.key]]
        return found

    def _candidates(self, descriptors: np.ndarray) -> np.ndarray:
        """The CANDIDATES picture numbers with most hash-key collisions, most first."""
        keys = _hash_keys(descriptors)
        votes = sum(table.votes(keys[:, t], len(self._keys)) for t, table in enumerate(self._tables))
        top = np.flatnonzero(votes) if np.count_nonzero(votes) <= CANDIDATES else np.argpartition(-votes, CANDIDATES)[:CANDIDATES]
        return top[np.lexsort((top, -votes[top]))]

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
        # Keyed by picture number here; `search` answers once per key the picture was added under.
        return PartialMatch(picture, inliers, np.round(to_banked, 5).tolist(), _box(to_banked, banked, query))


def _hash_keys(descriptors: np.ndarray) -> np.ndarray:
    """(n, TABLES) bucket keys: the first KEY_BITS bits of each of the first TABLES 32-bit
    words of a descriptor (ORB orders its bits by how well they tell patches apart)."""
    words = np.ascontiguousarray(descriptors).view("<u4")[:, :TABLES]
    return (words >> (32 - KEY_BITS)).astype(np.int64)


class _HashTable:
    """Picture numbers by bucket key: sorted by key (offsets per key) plus recent adds, merged
    in when a search finds more than MERGE_AT of them (or they outgrow the sorted part)."""

    def __init__(self) -> None:
        self._offsets = np.zeros((1 << KEY_BITS) + 1, np.int64)
        self._pictures = np.zeros(0, np.int32)
        self._recent_keys = np.zeros(1024, np.int32)
        self._recent_pictures = np.zeros(1024, np.int32)
        self._recent = 0

    def add(self, keys: np.ndarray, picture: int) -> None:
        end = self._recent + len(keys)
        if end > len(self._recent_keys):
            capacity = 2 * end
            self._recent_keys = np.resize(self._recent_keys, capacity)
            self._recent_pictures = np.resize(self._recent_pictures, capacity)
        self._recent_keys[self._recent:end] = keys
        self._recent_pictures[self._recent:end] = picture
        self._recent = end
        if self._recent > max(MERGE_AT, len(self._pictures)):
            self._merge()

    def _merge(self) -> None:
        keys, pictures = self._recent_keys[:self._recent], self._recent_pictures[:self._recent]
        order = np.argsort(keys, kind="stable")
        keys, pictures = keys[order], pictures[order]
        # Each key's new pictures go after its old ones: numbers stay ascending within a key.
        self._pictures = np.insert(self._pictures, self._offsets[keys + 1], pictures)
        self._offsets[1:] += np.cumsum(np.bincount(keys, minlength=len(self._offsets) - 1))
        # Emptied buffers go back to their first size: grown by a bulk load, they held as many
        # postings as the table and would stay that large (1.3 GB of RSS at 100,000 pictures).
        self._recent_keys = np.zeros(1024, np.int32)
        self._recent_pictures = np.zeros(1024, np.int32)
        self._recent = 0

    def votes(self, keys: np.ndarray, pictures: int) -> np.ndarray:
        """Per picture number, the weight of the query's `keys` found in its buckets: a key
        weighs its inverse frequency (tf-idf), as a key that plain or repeated patches (flat
        areas, borders, text) share in thousands of pictures says nothing of which one the
        query shows. Whole weights: the sums do not depend on the order they are added in."""
        if self._recent > MERGE_AT:
            self._merge()
        if not len(keys):
            return np.zeros(pictures)
        keys, counts = np.unique(keys, return_counts=True)
        starts, lengths = self._offsets[keys], self._offsets[keys + 1] - self._offsets[keys]
        found = lengths.copy()
        if self._recent:
            recent_keys = self._recent_keys[:self._recent]
            at = np.minimum(np.searchsorted(keys, recent_keys), len(keys) - 1)
            hit = keys[at] == recent_keys
            found += np.bincount(at[hit], minlength=len(keys))
        weights = np.round(IDF_SCALE * counts * np.log1p(pictures / np.maximum(found, 1)))
        rows = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
        votes = np.zeros(pictures)
        votes += np.bincount(self._pictures[rows], np.repeat(weights, lengths), minlength=pictures)
        if self._recent:
            votes += np.bincount(self._recent_pictures[:self._recent][hit], weights[at[hit]], minlength=pictures)
        return votes


class _FeatureFile:
    """Every banked picture's LocalFeatures in an unnamed temporary file (deleted when closed):
    about 20 KB a picture that only the few candidates of a search are read back from. One
    process's: an index is not shared with forked processes."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile()
        self._places: list[tuple[int, int]] = []  # picture number -> (offset, length)
        self._end = 0

    def append(self, features: LocalFeatures) -> None:
        data = features.to_bytes()
        os.pwrite(self._file.fileno(), data, self._end)
        self._places.append((self._end, len(data)))
        self._end += len(data)

    def __getitem__(self, picture: int) -> LocalFeatures:
        offset, length = self._places[picture]
        return LocalFeatures.from_bytes(os.pread(self._file.fileno(), length, offset))


def _exact_index(candidates: list[LocalFeatures]) -> tuple[faiss.IndexBinaryFlat, list[int]]:
    """A flat index of the candidates' descriptors, and the first row of each candidate."""
    index = faiss.IndexBinaryFlat(DESCRIPTOR_BYTES * 8)
    index.add(np.ascontiguousarray(np.concatenate([f.descriptors for f in candidates])))
    return index, np.cumsum([0] + [len(f.descriptors) for f in candidates[:-1]]).tolist()


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
