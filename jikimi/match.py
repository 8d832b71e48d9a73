"""Match a content's signals against the hash banks and the enrolled subjects.

Exact hashes come from the database; PDQ and video frame hashes go through one in-memory
FAISS index of every bank's image and frame hashes, which is how images are found in videos
(a still cut from a known video) and videos in images (a slideshow of known photos).
The index follows the banks' change feed before each lookup, never rebuilt.

An image is also looked up by its query variants (signals/pdq_variants.py: turned, mirrored,
the picture inside a screenshot or border). A match found only through a variant says which
in its detail (``{"variant": "mirror"}``; the inner picture's also gives its ``box``), so a
reviewer knows the post was altered. Variants need no file on the bank side: they work for
hash-only entries imported from other organisations.

A picture no hash matched goes to the second stage (index/local_features.py): its local
features against those of every banked picture whose file was seen. It finds crops, small
turns and copies with a region replaced, and reports ``{"kind": "partial", "inliers": n,
"transform": 3 x 3, "box": where the known picture lies in the post}``. A post still unmatched
is looked up for edited copies (match_edits.py: a large region replaced), reported the same
way with ``changed_fraction`` and ``kept_fraction``.

Video-to-video rule (Meta's vpdq README): frames are deduplicated and frames of quality
below 50 dropped; a frame matches when it is within the bank's PDQ threshold of any frame of
the known video. We report a match when at least 80% of the query's frames match (the
README's query-match rule, default in threatexchange: it finds clips and re-encodes) OR at
least 80% of the known video's frames are found in the query (it finds a known video inside
a longer compilation, which abusers post as often as clips).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from time import time as unix_time
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from jikimi import bank_feed
from jikimi.index.bank_pdq import INDEXED_TYPES
from jikimi.index.faces import FaceIndex
from jikimi.index.local_features import LocalFeatureIndex
from jikimi.index.pdq import PDQIndex, pdq_hex_to_bytes
from jikimi.keys import decrypt
from jikimi.match_edits import banked_regions, edited_copies
from jikimi.signals.face_embedding import FaceEmbedder, embedder, mean_template
from jikimi.signals.pdq import PDQ_QUALITY_THRESHOLD
from jikimi.signals.local_features import LocalFeatures
from jikimi.store.models import Bank, BankFeatures, BankSignal, Content

if TYPE_CHECKING:
    from jikimi.cases import Template

VPDQ_MATCH_PERCENT = 80.0


@dataclass
class Found:
    kind: str  # md5 | sha1 | sha256 | pdq | vpdq | partial | face
    bank_id: int | None
    content_id: int | None
    distance: float | None = None
    detail: dict = field(default_factory=dict)
    subject_id: int | None = None
    face_id: int | None = None


@dataclass(frozen=True)
class _Indexed:
    bank_id: int
    content_id: int
    signal_type: str  # pdq | vpdq
    value: str
    timestamp: float | None


class Matcher:
    """Holds the PDQ index of the selected banks (all banks when `bank_ids` is None).

    Loaded at the first refresh, then kept current from the banks' change feed (bank_feed.py),
    as the platform API's index is: a content added, deleted or disabled, or a bank's new
    threshold, applies from the next refresh on, whichever process made it. A removal loads
    the index again in full (removals are rare): SQLite gives a deleted row's id to the next
    row, and a removed picture would still shape the second stage's answers, so a live matcher
    must hold exactly what a fresh one would (a resumed scan answers as an uninterrupted one)."""

    def __init__(self, bank_ids: set[int] | None = None):
        self.bank_ids = bank_ids
        self._reset()

    def _reset(self) -> None:
        self.banks: dict[int, Bank] = {}
        self.index = PDQIndex()
        self.indexed: dict[int, _Indexed] = {}  # bank signal row -> what a hit on it means
        self.video_frames: dict[int, set[str]] = defaultdict(set)  # bank video -> unique frames
        self.partial = LocalFeatureIndex()
        self.partial_owner: dict[int, tuple[int, int]] = {}  # features row -> (bank, content)
        self.edits = LocalFeatureIndex()  # spread features of rows stored with a region grid (match_edits.py)
        self.disabled: dict[int, int] = {}  # content -> disable_until_ts, for contents not plainly enabled
        self.seq: int | None = None  # the last change of the feed applied; None until loaded
        self.removed = False  # a change applied since the load removed rows: load again

    def refresh(self, session: Session) -> None:
        """Apply the banks' changes since the last call (one query when there are none); load
        in full the first time, after a removal, or when the feed was compacted past what was applied."""
        if self.seq is not None:
            try:
                self.seq, _ = bank_feed.follow(session, self.seq, lambda kind, ids: self._apply(session, kind, ids))
                if not self.removed:
                    return
            except bank_feed.FeedGap:
                pass
            self._reset()
        seq = bank_feed.latest(session)  # changes after it are applied next; twice does no harm
        self._read_banks(session)
        self.disabled = bank_feed.disabled_contents(session)
        self._add_contents(session, None)
        self.seq = seq

    def _read_banks(self, session: Session) -> None:
        # populate_existing: a scan's session keeps its rows across commits, with the old threshold.
        query = select(Bank).execution_options(populate_existing=True)
        if self.bank_ids is not None:
            query = query.where(Bank.id.in_(self.bank_ids) | Bank.is_allow)
        self.banks = {bank.id: bank for bank in session.scalars(query)}
        if self.banks:
            self.index.ensure_radius(max(b.pdq_threshold for b in self.banks.values()))

    def _apply(self, session: Session, kind: str, ids: list[int]) -> None:
        if self.removed:  # loaded again in full once the feed is read
            return
        if kind == "bank":
            banks = set(self.banks)
            self._read_banks(session)
            self.removed = not banks <= set(self.banks)  # a deleted bank's rows go with it
            return
        if kind == "remove" or bank_feed.read_states(session, ids, self.disabled):  # deleted (since)
            self.removed = True
        elif kind == "add":
            self._add_contents(session, ids)

    def _add_contents(self, session: Session, content_ids: list[int] | None) -> None:
        """PDQ and frame rows, and local features, of these contents (all when None) in the selected banks."""
        if not self.banks:
            return
        # Types checked here: with `signal_type IN` SQLite picks the (signal_type, value) index
        # and sorts every PDQ row.
        signals = (select(BankSignal.id, BankSignal.bank_id, BankSignal.content_id, BankSignal.signal_type,
                          BankSignal.value, BankSignal.quality, BankSignal.timestamp)
                   .where(BankSignal.bank_id.in_(self.banks)).order_by(BankSignal.id))
        features = (select(BankFeatures.id, BankFeatures.bank_id, BankFeatures.content_id, BankFeatures.features,
                           BankFeatures.edit_features, BankFeatures.regions.is_not(None).label("has_regions"))
                    .where(BankFeatures.bank_id.in_(self.banks)).order_by(BankFeatures.id))
        if content_ids is not None:
            signals = signals.where(BankSignal.content_id.in_(content_ids))
            features = features.where(BankFeatures.content_id.in_(content_ids))
        usable = [r for r in session.execute(signals).all() if r.signal_type in INDEXED_TYPES
                  and (r.quality is None or r.quality >= PDQ_QUALITY_THRESHOLD)]
        if content_ids is not None:  # a change applied twice adds nothing twice
            usable = [r for r in usable if r.id not in self.indexed]
        for r in usable:
            self.indexed[r.id] = _Indexed(r.bank_id, r.content_id, r.signal_type, r.value, r.timestamp)
            if r.signal_type == "vpdq":
                self.video_frames[r.content_id].add(r.value)
        if usable:
            self.index.add(pdq_hex_to_bytes([r.value for r in usable]), np.array([r.id for r in usable], dtype=np.int64))
        for r in session.execute(features):
            if r.id not in self.partial_owner:
                self.partial_owner[r.id] = (r.bank_id, r.content_id)
                self.partial.add(r.id, LocalFeatures.from_bytes(r.features))
                if r.edit_features and r.has_regions:
                    self.edits.add(r.id, LocalFeatures.from_bytes(r.edit_features))

    def _enabled(self, content_id: int, now: float) -> bool:
        state = self.disabled.get(content_id)
        return state is None or bank_feed.is_enabled(state, now)

    def match(self, session: Session, content: Content, local_features: bytes | None = None,
              pixels: Callable[[], np.ndarray | None] | None = None) -> list[Found]:
        """`local_features` (of a content just hashed) enable the second stage; `pixels`
        (decoding it) the search for edited copies when nothing else matched."""
        self.refresh(session)
        if not self.banks:
            return []
        found = self._exact(session, content)
        queries = [{"pdq": content.pdq}] if content.pdq and (content.pdq_quality or 0) >= PDQ_QUALITY_THRESHOLD else []
        queries += content.pdq_variants or []
        if queries:
            found += self._image(queries)
        if content.frames:
            found += self._video(content)
        if local_features and not found and len(self.partial):
            found += self._partial(LocalFeatures.from_bytes(local_features))
        if local_features and not found and pixels is not None and len(self.edits):
            post = pixels()
            if post is not None:
                found += self._edited(session, post)
        return found

    def _partial(self, features: LocalFeatures) -> list[Found]:
        now = unix_time()
        return [Found("partial", *self.partial_owner[m.key], None, m.detail()) for m in self.partial.search(features)
                if self._enabled(self.partial_owner[m.key][1], now)]

    def _edited(self, session: Session, post: np.ndarray) -> list[Found]:
        """Banked pictures the post is an edited copy of (match_edits.py): still "partial",
        with what share of the banked picture was changed."""
        def regions(row: int):
            stored = session.get(BankFeatures, row)
            return None if stored is None or stored.regions is None else banked_regions(stored.edit_features, stored.regions)

        now, found = unix_time(), []
        for match, change in edited_copies(self.edits, regions, post):
            if match.key in self.partial_owner and self._enabled(self.partial_owner[match.key][1], now):
                detail = {**match.detail(), "changed_fraction": change.changed_fraction,
                          "kept_fraction": change.kept_fraction}
                found.append(Found("partial", *self.partial_owner[match.key], None, detail))
        return found

    def _exact(self, session: Session, content: Content) -> list[Found]:
        rows = session.execute(
            select(BankSignal.signal_type, BankSignal.bank_id, BankSignal.content_id)
            .where(BankSignal.bank_id.in_(self.banks))
            .where(
                ((BankSignal.signal_type == "sha256") & (BankSignal.value == content.sha256))
                | ((BankSignal.signal_type == "md5") & (BankSignal.value == content.md5))
                | ((BankSignal.signal_type == "sha1") & (BankSignal.value == content.sha1))
            )
            .order_by(BankSignal.id)
        ).all()
        now = unix_time()
        unique = dict.fromkeys((r.signal_type, r.bank_id, r.content_id) for r in rows if self._enabled(r.content_id, now))
        return [Found(kind, bank, target, 0) for kind, bank, target in unique]

    def _hits(self, hashes: list[str]) -> list[list[tuple[_Indexed, int]]]:
        """Per query hash: live, enabled signals within their own bank's threshold."""
        radius = max(b.pdq_threshold for b in self.banks.values())
        results = self.index.search(pdq_hex_to_bytes(hashes), radius)
        now, indexed = unix_time(), self.indexed
        return [
            [
                (indexed[sid], dist)
                for sid, dist in hits
                if sid in indexed and dist <= self.banks[indexed[sid].bank_id].pdq_threshold
                and self._enabled(indexed[sid].content_id, now)
            ]
            for hits in results
        ]

    def _image(self, queries: list[dict]) -> list[Found]:
        """The closest of the image's hashes to each known content; the plain hash wins ties."""
        best: dict[tuple[int, int], Found] = {}
        for query, hits in zip(queries, self._hits([q["pdq"] for q in queries])):
            for signal, dist in hits:
                key = (signal.bank_id, signal.content_id)
                if key not in best or dist < best[key].distance:
                    detail = {"known_frame_time": signal.timestamp} if signal.signal_type == "vpdq" else {}
                    if "variant" in query:
                        detail["variant"] = query["variant"]
                    if "box" in query:
                        detail["box"] = query["box"]
                    best[key] = Found("pdq", signal.bank_id, signal.content_id, dist, detail)
        return list(best.values())

    def _video(self, content: Content) -> list[Found]:
        frames = {}
        for frame in content.frames:  # dedupe by hash, keep the first time it appears
            if frame.quality >= PDQ_QUALITY_THRESHOLD:
                frames.setdefault(frame.pdq, frame.timestamp)
        if not frames:
            return []
        stills: dict[tuple[int, int], Found] = {}
        query_hits: dict[tuple[int, int], dict[str, int]] = defaultdict(dict)
        known_hits: dict[tuple[int, int], set[str]] = defaultdict(set)
        for (pdq, time), hits in zip(frames.items(), self._hits(list(frames))):
            for signal, dist in hits:
                key = (signal.bank_id, signal.content_id)
                if signal.signal_type == "pdq":
                    if key not in stills or dist < stills[key].distance:
                        stills[key] = Found("pdq", *key, dist, {"frame_time": time})
                else:
                    query_hits[key][pdq] = min(dist, query_hits[key].get(pdq, dist))
                    known_hits[key].add(signal.value)
        videos = []
        for key, matched in query_hits.items():
            query_percent = 100.0 * len(matched) / len(frames)
            known_percent = 100.0 * len(known_hits[key]) / len(self.video_frames[key[1]])
            if max(query_percent, known_percent) >= VPDQ_MATCH_PERCENT:
                detail = {
                    "query_match_percent": round(query_percent, 1),
                    "compared_match_percent": round(known_percent, 1),
                    "matched_frames": len(matched),
                }
                mean = sum(matched.values()) / len(matched)
                videos.append(Found("vpdq", *key, round(mean, 2), detail))
        return list(stills.values()) + videos


class SubjectMatcher:
    """Finds enrolled subjects among the faces of a content.

    Every subject in the workspace by default (one room usually holds many victims), or only
    a case's own. Each subject is reported once per item, with her closest face. A face is
    compared only with templates of its own model (one index per model): distances between
    two models' vectors mean nothing. A subject enrolled from several photos is one mean
    template per model, with the thresholds measured for that many photos (enrolled from 5,
    her other photos are found 0.90 of the time against 0.82 from 2, at a false-match rate
    among East Asian women of ~1e-3; docs/faces.md). Each match carries its `level`:
    "confident" within the stricter threshold, else "possible".
    """

    def __init__(self, templates: list[Template], key: bytes):
        self.key = key
        self.names = {t.subject_id: t.subject_name for t in templates}
        self.models: dict[str, tuple[FaceEmbedder, FaceIndex]] = {}
        self.thresholds: dict[tuple[str, int], tuple[float, float]] = {}  # (model, subject) -> (possible, confident)
        self.loosest: dict[str, float] = {}  # per model: the search radius that holds every subject's threshold
        for model_id in sorted({t.model_id for t in templates}):
            model = embedder(model_id)
            index = FaceIndex(model.dimensions)
            subjects = sorted({t.subject_id for t in templates if t.model_id == model_id})
            for subject_id in subjects:
                mine = [t.embedding for t in templates if t.model_id == model_id and t.subject_id == subject_id]
                index.add(mean_template(np.stack(mine))[None, :], [subject_id])
                self.thresholds[(model_id, subject_id)] = model.thresholds(len(mine))
            self.models[model_id] = (model, index)
            self.loosest[model_id] = max(self.thresholds[(model_id, s)][0] for s in subjects)

    def match(self, content: Content) -> list[Found]:
        best: dict[int, Found] = {}
        for face in content.faces:
            if face.model not in self.models:
                continue
            model, index = self.models[face.model]
            embedding = np.frombuffer(decrypt(self.key, face.embedding, face_associated_data(face.id), what="face data"),
                                      dtype=np.float32)
            for subject_id, distance in index.search(embedding, self.loosest[face.model]):
                possible, confident = self.thresholds[(face.model, subject_id)]
                if distance <= possible and (subject_id not in best or distance < best[subject_id].distance):
                    detail = {"box": face.box, "frame_time": face.frame_time, "model": face.model,
                              "level": match_level(distance, confident), "threshold": possible}
                    best[subject_id] = Found("face", None, None, round(distance, 4), detail, subject_id, face.id)
        return sorted(best.values(), key=lambda f: f.distance)


def match_level(distance: float, confident: float) -> str:
    """ "confident" within the subject's stricter threshold, else "possible" (see face_embedding)."""
    return "confident" if distance <= confident else "possible"


def face_associated_data(face_id: int) -> bytes:
    """Binds an encrypted face embedding to its row, so rows cannot be swapped."""
    return f"content_face:{face_id}".encode()
