"""In-memory index of enrolled subjects' face templates (FAISS, exact L2).

A workspace holds tens to thousands of templates, so an exact flat index answers in
microseconds; it is built from the decrypted templates when a scan starts and lives only
in that process's memory.
"""

from __future__ import annotations

import faiss
import numpy as np


class FaceIndex:
    """Templates of one model only: vectors of different models are not comparable."""

    def __init__(self, dimensions: int) -> None:
        self.dimensions = dimensions
        self._index = faiss.IndexFlatL2(dimensions)
        self._ids: list[int] = []

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, embeddings: np.ndarray, ids: list[int]) -> None:
        self._index.add(np.ascontiguousarray(embeddings, dtype=np.float32).reshape(-1, self.dimensions))
        self._ids += ids

    def search(self, embedding: np.ndarray, max_distance: float) -> list[tuple[int, float]]:
        """Every (id, euclidean distance) within `max_distance`, nearest first."""
        if not self._ids:
            return []
        query = np.ascontiguousarray(embedding, dtype=np.float32).reshape(1, self.dimensions)
        limits, distances, labels = self._index.range_search(query, max_distance**2)
        found = sorted(zip(np.sqrt(distances[limits[0]:limits[1]]).tolist(), labels[limits[0]:limits[1]].tolist()))
        return [(self._ids[label], distance) for distance, label in found]
