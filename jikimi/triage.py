"""Triage: which items a reviewer should see first, and a one-line reason why.

The order is the issue's: a face matching an enrolled subject together with sexual content,
then an edited copy of one of her registered source photos (the strongest sign of a fake of
her, found even when her face is turned away or covered), then a subject match alone, then a hash match with a known abusive file, then sexual content
without a known subject. Within a tier, closer faces and stronger nudity scores come first.

`SEXUAL_SCORE` is NudeNet's own customary cut-off. It cannot be tuned on labelled sexual
images here (the project holds none, by its ethical rules); reviewers always see the classes
and scores behind it.
"""

from __future__ import annotations

from dataclasses import dataclass

from jikimi import messages

SEXUAL_SCORE = 0.5
SUBJECT_AND_SEXUAL, DERIVED, SUBJECT, HASH, SEXUAL, NOTHING = 5, 4, 3, 2, 1, 0
TIER_SPAN = 1000  # priority = tier * TIER_SPAN + a 0-999 score within the tier


@dataclass(frozen=True)
class Triage:
    priority: int
    message: dict | None  # the reason as a code and parameters (jikimi.messages)

    @property
    def reason(self) -> str | None:
        """The reason in English, as reports and the CLI show it."""
        return messages.render_message(self.message, "en") if self.message else None


@dataclass(frozen=True)
class FaceMatch:
    subject: str | dict  # her name, or a message (jikimi.messages) for another case's subject
    distance: float
    threshold: float  # the model's match threshold: distances of different models differ in scale
    level: str  # "possible" | "confident"


@dataclass(frozen=True)
class DerivedMatch:
    subject: str | dict  # as in FaceMatch
    source: str | dict  # the label of her source photo, or "another case" (a message) when it is not this one
    changed_fraction: float


def triage(face_matches: list[FaceMatch], hash_matches: list[tuple[str, str, float | None]],
           max_exposed: float, derived: list[DerivedMatch] = ()) -> Triage:
    """`hash_matches`: (bank, kind, distance). Confident face matches rank above possible ones;
    among derived copies, the more changed comes first."""
    sexual = max_exposed >= SEXUAL_SCORE
    if derived and not (face_matches and sexual):
        match = max(derived, key=lambda m: m.changed_fraction)
        return Triage(_priority(DERIVED, match.changed_fraction), messages.message(
            "reason.derived", subject=match.subject, source=match.source, changed=round(100 * match.changed_fraction)))
    if face_matches:
        match = max(face_matches, key=lambda m: (m.level == "confident", -m.distance / m.threshold))
        closeness = max(0.0, 1 - match.distance / match.threshold) / 2 + (0.5 if match.level == "confident" else 0.0)
        face = {"subject": match.subject, "distance": round(match.distance, 4)}
        if sexual:
            return Triage(_priority(SUBJECT_AND_SEXUAL, (closeness + max_exposed) / 2),
                          messages.message(f"reason.face.{match.level}.nudity", **face, exposed=round(max_exposed, 4)))
        return Triage(_priority(SUBJECT, closeness), messages.message(f"reason.face.{match.level}", **face))
    if hash_matches:
        bank, kind, distance = min(hash_matches, key=lambda m: m[2] or 0)
        closeness = 1.0 if distance is None else max(0.0, 1 - distance / 64)
        found = (messages.message("reason.bank.distance", bank=bank, kind=kind, distance=distance) if distance
                 else messages.message("reason.bank", bank=bank, kind=kind))
        return Triage(_priority(HASH, closeness), found)
    if sexual:
        return Triage(_priority(SEXUAL, max_exposed), messages.message("reason.nudity", exposed=round(max_exposed, 4)))
    return Triage(NOTHING, None)


def _priority(tier: int, score: float) -> int:
    return tier * TIER_SPAN + min(TIER_SPAN - 1, int(score * TIER_SPAN))
