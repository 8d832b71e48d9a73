"""One JSON shape per concept: a case, a subject, a match, a decision, an audit entry.

Reports, pages, the API and the CLI all draw these shapes, so a face match has the same
keys everywhere. A face match to a subject of a case the reader may not see keeps only
that it happened (`other_case`): no name, no subject id, no face to crop.
"""

from __future__ import annotations

from datetime import datetime, timezone

from jikimi.error_codes import error_code
from jikimi.store.audit_models import AuditEntry
from collections.abc import Callable

from jikimi.store.models import SUBJECT_MATCH_KINDS, Bank, Case, Content, ContentFace, Decision, Item, Match, Subject
from jikimi.store.takedown_models import Notice

OTHER_CASE = "matches a person enrolled in another case"
OTHER_CASE_NAME = "(a person enrolled in another case)"  # in triage reasons, as scans write them


def iso(moment: datetime | None) -> str | None:
    """SQLite forgets time zones; every time we store is UTC."""
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).isoformat()


def case_json(case: Case) -> dict:
    return {"id": case.id, "title": case.title, "created_by": case.created_by, "created_at": iso(case.created_at)}


def subject_json(subject: Subject) -> dict:
    return {"id": subject.id, "case_id": subject.case_id, "name": subject.name, "consent": subject.consent,
            "cross_case": subject.consent.get("cross_case", True), "templates": len(subject.templates),
            "models": sorted({t.model for t in subject.templates}),
            "reference_crops_kept": sum(t.reference_crop is not None for t in subject.templates),
            "created_at": iso(subject.created_at), "removed_at": iso(subject.removed_at)}


def match_json(match: Match, hidden: bool = False) -> dict:
    """A hash match names its bank and banked file; a face match names its subject (`target`)."""
    if match.kind == "derived":
        if hidden:  # her source photo's label would name her, or what she posted
            return {"kind": "derived", "target": None, "subject_id": None, "case_id": None, "source": None,
                    "other_case": True, "note": OTHER_CASE, "changed_fraction": match.detail.get("changed_fraction"),
                    "inliers": match.detail.get("inliers"), "box": match.detail.get("box")}
        return {"kind": "derived", "target": match.subject.name if match.subject else None,
                "subject_id": match.subject_id, "case_id": match.subject.case_id if match.subject else None,
                "distance": None, "other_case": False, **match.detail}
    if match.kind != "face":
        return {"kind": match.kind, "bank": match.bank.name if match.bank else None,
                "target": match.bank_content.label if match.bank_content else None,
                "target_id": match.bank_content_id, "distance": match.distance, **match.detail}
    if hidden:
        return {"kind": "face", "target": None, "subject_id": None, "case_id": None, "face_id": None,
                "distance": None, "other_case": True, "note": OTHER_CASE}
    return {"kind": "face", "target": match.subject.name if match.subject else None, "subject_id": match.subject_id,
            "case_id": match.subject.case_id if match.subject else None, "face_id": match.face_id,
            "distance": match.distance, "other_case": False, **match.detail}


def item_json(item: Item, content: Content | None, hidden: Callable[[int], bool] = lambda case_id: False,
              scan_id: int | None = None) -> dict:
    """One unique file of a scan: where it was posted, its signals, what it matched.
    `hidden(case_id)`: whether the reader may not see that case's subjects named. `scan_id`:
    only the posts that scan found (an item found again by a later scan has those posts too)."""
    return {
        "id": item.id,
        "locators": [locator.fields for locator in item.locators if scan_id is None or locator.scan_id == scan_id],
        "sha256": item.sha256,
        "md5": content.md5 if content else None,
        "size": content.size if content else None,
        "kind": content.kind if content else "other",
        "mime_type": content.mime_type if content else None,
        "width": content.width if content else None,
        "height": content.height if content else None,
        "duration": content.duration if content else None,
        "pdq": content.pdq if content else None,
        "pdq_quality": content.pdq_quality if content else None,
        "matches": [match_json(m, m.kind in SUBJECT_MATCH_KINDS and hidden(m.subject.case_id)) for m in item.matches],
        "allowed_by": item.allowed_by,
        "priority": item.priority,
        "reason": reason_json(item, hidden),
        "reason_message": reason_message_json(item, hidden),
        "faces": [_face(f) for f in content.faces] if content else [],
        "nudity": _nudity(content.nudity) if content and content.nudity else None,
        "provenance": content.provenance if content else None,
        "error": item.error or (content.error if content else None),
        "error_code": error_code(item.error or (content.error if content else None)),
    }


def reason_json(item: Item, hidden: Callable[[int], bool]) -> str | None:
    """The triage reason without the names of subjects the reader may not see (scans write
    reasons that way; this also covers items scanned before they did)."""
    reason = item.reason
    for match in item.matches:
        if reason and match.kind in SUBJECT_MATCH_KINDS and match.subject and hidden(match.subject.case_id):
            reason = reason.replace(f"'{match.subject.name}'", f"'{OTHER_CASE_NAME}'")
            if match.kind == "derived":  # her source photo's label names her as surely as her name
                reason = reason.replace(f"'{match.detail['source']}'", f"'{OTHER_CASE_NAME}'")
    return reason


def reason_message_json(item: Item, hidden: Callable[[int], bool]) -> dict | None:
    """The reason as a code and parameters (jikimi.messages), hiding names as `reason_json` does."""
    stored = item.reason_message
    if not stored:
        return None
    hidden_matches = [match for match in item.matches
                      if match.kind in SUBJECT_MATCH_KINDS and match.subject and hidden(match.subject.case_id)]
    names = {match.subject.name for match in hidden_matches}
    labels = {match.detail["source"] for match in hidden_matches if match.kind == "derived"}
    params = dict(stored.get("params") or {})
    if isinstance(params.get("subject"), str) and params["subject"] in names:
        params["subject"] = {"code": "subject.other_case", "params": {}}
    if isinstance(params.get("source"), str) and params["source"] in labels:
        params["source"] = {"code": "subject.other_case", "params": {}}
    return {"code": stored["code"], "params": params}


def _face(face: ContentFace) -> dict:
    return {"id": face.id, "box": face.box, "frame_time": face.frame_time, "score": face.score}


def _nudity(nudity: dict) -> dict:
    """The contract's max score and classes; per-detection boxes stay in the database."""
    return {"max_exposed": nudity["max_exposed"], "classes": nudity["classes"]}


def decision_json(decision: Decision) -> dict:
    return {"id": decision.id, "item_id": decision.item_id, "case_id": decision.case_id,
            "verdict": decision.verdict, "note": decision.note, "actor": decision.actor,
            "created_at": iso(decision.created_at)}


def audit_json(entry: AuditEntry) -> dict:
    return {"seq": entry.seq, "time": entry.time, "actor": entry.actor, "action": entry.action,
            "subject": entry.subject, "case_id": entry.case_id, "details": entry.details,
            "entry_hash": entry.entry_hash}


def bank_json(bank: Bank, contents: int, signals: int) -> dict:
    return {"id": bank.id, "name": bank.name, "allow": bank.is_allow, "case_id": bank.case_id,
            "pdq_threshold": bank.pdq_threshold, "contents": contents, "signals": signals}


def notice_json(notice: Notice) -> dict:
    return {"id": notice.id, "reference": notice.reference, "host": notice.host.name, "case_id": notice.case_id,
            "language": notice.language, "status": notice.status, "send_count": notice.send_count,
            "drafted_at": iso(notice.drafted_at), "sent_at": iso(notice.sent_at),
            "last_sent_at": iso(notice.last_sent_at), "acknowledged_at": iso(notice.acknowledged_at),
            "removed_at": iso(notice.removed_at), "refused_at": iso(notice.refused_at), "note": notice.note,
            "eml_path": notice.eml_path,
            "items": [{"item_id": i.item_id, "sha256": i.sha256, "link": i.link} for i in notice.items]}
