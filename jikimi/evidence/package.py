"""Export a case's evidence as one signed ZIP that police, lawyers and courts can check.

Contents (see `layout` for the exact byte layout):

    originals/<sha256>.<ext>  each original exactly as ingested, copied from the vault
    manifest.json             hashes, media type, provenance, collection, decisions, custody log
    manifest.sig              detached Ed25519 signature over the bytes of manifest.json
    public_key.pem            the workspace's public signing key
    SHA256SUMS                for `sha256sum -c SHA256SUMS`
    report.html, report.pdf   the same report for people, with blurred thumbnails only

The manifest also records the SHA-256 of the reports and the key, so the signature covers
every file but SHA256SUMS (itself checked line by line). Names inside the ZIP are made from
hashes, never from a name found in the evidence. The originals are re-hashed as they are
copied: a vault file that no longer has its hash stops the export with the item named.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session

import jikimi
from jikimi import clock, keys
from jikimi.audit import AuditLog, operator_name
from jikimi.audit_heads import sign_head
from jikimi.errors import JikimiError
from jikimi.evidence import layout
from jikimi.store.vault import VaultFileDamaged
from jikimi.private_output import open_private, partial_path
from jikimi.store.audit_models import AuditEntry
from jikimi.store.models import Case, Content, Decision, Item, utcnow
from jikimi.workspace import Workspace

LANGUAGES = ("ko", "en")
EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp",
              "image/heic": ".heic", "image/bmp": ".bmp", "image/tiff": ".tif", "video/mp4": ".mp4",
              "video/quicktime": ".mov", "video/webm": ".webm", "video/x-matroska": ".mkv",
              "video/x-msvideo": ".avi"}


class VaultTampered(JikimiError):
    """A vault file no longer has the SHA-256 it is named by."""


def contents_of(session: Session, items: list[Item]) -> dict[str, Content]:
    """The stored signals of each selected item's file, by SHA-256."""
    return {c.sha256: c for c in session.scalars(select(Content).where(Content.sha256.in_({i.sha256 for i in items})))}


def export_package(ws: Workspace, session: Session, case: Case, items: list[Item], *,
                   out: Path, lang: str = "ko", actor: str | None = None) -> Path:
    """Write the evidence package of a case's chosen items (`jikimi.core.case_items`) to `out`
    and record the export in the custody log."""
    if lang not in LANGUAGES:
        raise JikimiError(f"evidence reports are written in {' or '.join(LANGUAGES)}, not {lang!r}")
    actor = actor or operator_name()
    case_id = case.id
    contents = contents_of(session, items)
    manifest = _manifest(ws, session, case, items, contents, lang, actor)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_path(out)
    try:
        sums = _write_zip(ws, partial, manifest, items, contents, lang)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    AuditLog(session, ws.home).append(
        "evidence_export", f"case:{case_id}",
        {"file": out.name, "items": [i.id for i in items], "sha256s": sorted({i.sha256 for i in items}),
         "manifest_sha256": sums[layout.MANIFEST], "package_sha256": _file_sha256(out), "language": lang},
        case_id=case_id, actor=actor,
    )
    return out


def _manifest(ws: Workspace, session: Session, case, items: list[Item], contents: dict[str, Content],
              lang: str, actor: str) -> dict:
    decisions = session.scalars(
        select(Decision).where(Decision.item_id.in_([i.id for i in items]),
                               Decision.case_id.is_(None) | (Decision.case_id == case.id))
        .order_by(Decision.id)).all()
    operators = _scan_operators(session, {i.scan_id for i in items})
    entries = _custody_entries(session, case.id, items)
    return {
        "format": layout.FORMAT,
        "tool": {"name": "jikimi", "version": jikimi.__version__},
        "created_at": _iso(utcnow()),
        "created_by": actor,
        "language": lang,
        "case": {"id": case.id, "title": case.title},
        "public_key": keys.raw_public_bytes(keys.signing_key(ws.home).public_key()).hex(),
        "items": [_item_entry(item, contents[item.sha256], operators,
                              [d for d in decisions if d.item_id == item.id]) for item in items],
        "custody_log": {
            "entries": [_log_entry(e) for e in entries],
            "head": sign_head(session, ws.home).to_json(),
            "note": "Entries about these items, their scans and the case, each signed; the head is a signed "
                    "receipt for the whole log when the package was made (`jikimi audit verify --witness`).",
        },
        "files": {},
    }


def _item_entry(item: Item, content: Content, operators: dict[int, str], decisions: list[Decision]) -> dict:
    scan = item.scan
    return {
        "item_id": item.id,
        "file": layout.original_name(content.sha256, _extension(content.mime_type)),
        "sha256": content.sha256,
        "md5": content.md5,
        "size": content.size,
        "kind": content.kind,
        "media_type": content.mime_type,
        "provenance": [{**locator.fields, "source": scan.source, "source_kind": scan.source_kind,
                        "message_time_utc": _unix_iso(locator.fields.get("date_unixtime"))}
                       for locator in item.locators],
        "collection": {"scan_id": scan.id, "collected_at": _iso(scan.started_at),
                       "finished_at": _iso(scan.finished_at), "operator": operators.get(scan.id),
                       "machine": scan.host},
        "decisions": [{"verdict": d.verdict, "note": d.note, "actor": d.actor, "at": _iso(d.created_at),
                       "case_id": d.case_id} for d in decisions],
    }


def _scan_operators(session: Session, scan_ids: set[int]) -> dict[int, str]:
    """Who ran each scan, from the first custody-log entry about it (when there is one)."""
    subjects = {f"scan:{scan_id}": scan_id for scan_id in scan_ids}
    rows = session.execute(select(AuditEntry.subject, AuditEntry.actor)
                           .where(AuditEntry.subject.in_(subjects)).order_by(AuditEntry.seq.desc()))
    return {subjects[subject]: actor for subject, actor in rows}


def _custody_entries(session: Session, case_id: int, items: list[Item]) -> list[AuditEntry]:
    subjects = {f"case:{case_id}"}
    for item in items:
        subjects |= {f"item:{item.id}", f"scan:{item.scan_id}", f"content:{item.sha256}"}
    return list(session.scalars(
        select(AuditEntry).where(AuditEntry.subject.in_(subjects),
                                 AuditEntry.case_id.is_(None) | (AuditEntry.case_id == case_id))
        .order_by(AuditEntry.seq)))


def _log_entry(entry: AuditEntry) -> dict:
    return {"seq": entry.seq, "time": entry.time, "actor": entry.actor, "action": entry.action,
            "subject": entry.subject, "case_id": entry.case_id, "details": entry.details,
            "prev_hash": entry.prev_hash, "entry_hash": entry.entry_hash, "signature": entry.signature.hex()}


def _write_zip(ws: Workspace, path: Path, manifest: dict, items: list[Item], contents: dict[str, Content],
               lang: str) -> dict[str, str]:
    """Write every member; return name -> SHA-256 (the lines of SHA256SUMS)."""
    sums: dict[str, str] = {}
    with open_private(path) as private, layout.open_writer(private) as archive:
        for entry in manifest["items"]:
            name = entry["file"]
            if name in sums:
                continue  # the same original under two items
            sha256 = entry["sha256"]
            try:
                copied, md5, size = layout.add_stream(archive, name, ws.vault.chunks(sha256), entry["size"])
            except FileNotFoundError:
                raise VaultTampered(f"item {entry['item_id']}: its original {sha256} is missing from the vault") from None
            except VaultFileDamaged as e:
                raise VaultTampered(f"item {entry['item_id']}: {e}: it was altered after ingest; nothing was exported") from None
            if (copied, md5, size) != (sha256, entry["md5"], entry["size"]):
                raise VaultTampered(f"item {entry['item_id']}: the vault file {ws.vault.path_for(sha256)} no longer "
                                    "has its SHA-256: it was altered after ingest; nothing was exported")
            sums[name] = sha256
        public_pem = keys.public_pem(keys.signing_key(ws.home).public_key())
        html = render_report(manifest, {sha: ws.vault.open_thumbnail(sha, c.thumbnail)
                                        for sha, c in contents.items() if c.thumbnail}, lang)
        pdf = html_to_pdf(html)
        for name, data in ((layout.PUBLIC_KEY, public_pem), (layout.REPORT_HTML, html.encode("utf-8")),
                           (layout.REPORT_PDF, pdf)):
            sums[name] = layout.add_bytes(archive, name, data)
            manifest["files"][name] = sums[name]
        manifest_bytes = (json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
        sums[layout.MANIFEST] = layout.add_bytes(archive, layout.MANIFEST, manifest_bytes)
        signature = keys.signing_key(ws.home).sign(manifest_bytes)
        sums[layout.SIGNATURE] = layout.add_bytes(archive, layout.SIGNATURE, signature)
        lines = "".join(f"{digest}  {name}\n" for name, digest in sorted(sums.items()))
        layout.add_bytes(archive, layout.SUMS, lines.encode("ascii"))
    return sums


def render_report(manifest: dict, thumbnails: dict[str, bytes], lang: str) -> str:
    env = Environment(loader=PackageLoader("jikimi.evidence", "templates"), autoescape=select_autoescape(["html"]),
                      undefined=StrictUndefined)
    previews = {sha: "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")
                for sha, data in thumbnails.items()}
    signer = Ed25519PublicKey.from_public_bytes(bytes.fromhex(manifest["public_key"]))
    return env.get_template("report.html").render(
        m=manifest, t=REPORT_TEXT[lang], lang=lang, previews=previews,
        fingerprint=keys.fingerprint(signer), readable=_readable)


def html_to_pdf(html: str) -> bytes:
    from weasyprint import HTML  # imported here: it loads Pango, slow, and only exports need it

    return HTML(string=html).write_pdf()


def _extension(mime_type: str | None) -> str:
    extension = EXTENSIONS.get(mime_type or "", ".bin")
    return extension if re.fullmatch(r"\.[a-z0-9]{1,5}", extension) else ".bin"


def _iso(moment: datetime | None) -> str | None:
    """SQLite forgets time zones; every time Jikimi stores is UTC."""
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).isoformat()


def _unix_iso(unixtime: int | None) -> str | None:
    return None if unixtime is None else datetime.fromtimestamp(int(unixtime), timezone.utc).isoformat()


def _readable(iso: str | None) -> str:
    """The workspace's local time, named, with UTC next to it (jikimi.clock)."""
    return clock.local_and_utc(iso) if iso else "—"


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(layout.CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


REPORT_TEXT = {
    "en": {
        "title": "Evidence report", "case": "Case", "prepared_by": "Prepared by", "prepared_at": "Prepared at",
        "tool": "Tool", "item_count": "Items", "intro":
            "This report describes digital evidence of non-consensual intimate images collected by a victim-support "
            "service. Each original file is enclosed unaltered in this package under the name of its SHA-256 hash. "
            "Previews are deliberately blurred; the originals are in the folder originals/.",
        "verify_title": "How to check this package",
        "verify": [
            "In the unpacked folder, run `sha256sum -c SHA256SUMS`: every line must say OK.",
            "Check the signature of manifest.json with the enclosed public key, e.g. "
            "`openssl pkeyutl -verify -pubin -inkey public_key.pem -rawin -in manifest.json -sigfile manifest.sig`.",
            "Or run `jikimi evidence verify PACKAGE.zip --key FINGERPRINT`, with the fingerprint the organisation "
            "that made the package publishes: it also checks every custody-log entry and the signed log head.",
            "Compare the key fingerprint above with the one that organisation publishes; "
            "`openssl pkey -pubin -in public_key.pem -outform DER | sha256sum` computes it from the enclosed key.",
        ],
        "fingerprint": "Public key fingerprint (SHA-256)", "item": "Item", "file": "File in package",
        "size": "Size", "bytes": "bytes", "type": "Media type", "provenance": "Where it was found",
        "source": "Source", "chat": "Chat", "message": "Message id", "sender": "Sender", "time": "Message time", "when": "Time",
        "link": "Link", "path": "Path in source", "collected": "Collected", "operator": "Operator",
        "decisions": "Review decisions", "no_preview": "no preview", "custody": "Custody log",
        "custody_intro": "Every action on this evidence is logged; each entry carries the hash of the previous "
                         "entry and the workspace's Ed25519 signature.",
        "seq": "No.", "actor": "Who", "action": "Action", "subject": "Subject", "head": "Log head when exported",
        "head_signed": "signed receipt", "kind": "Kind", "kinds": {"image": "image", "video": "video", "other": "other file"},
        "actions": {"case_create": "case opened", "scan": "scan", "scan_resume": "scan resumed", "ingest": "collected",
                    "decision": "review decision", "view": "viewed", "reveal": "revealed unblurred",
                    "evidence_export": "evidence exported", "notice_draft": "notice drafted",
                    "subject_add": "subject enrolled", "subject_remove": "subject removed", "user_add": "user added"},
        "verdicts": {"confirm": "confirmed", "not_subject": "not the subject", "not_abusive": "not abusive",
                     "unsure": "unsure"},
    },
    "ko": {
        "title": "증거 보고서", "case": "사건", "prepared_by": "작성자", "prepared_at": "작성 일시",
        "tool": "도구", "item_count": "증거물 수", "intro":
            "이 보고서는 피해자 지원 기관이 수집한 비동의 성적 촬영물(딥페이크 포함)에 관한 디지털 증거를 설명합니다. "
            "각 원본 파일은 수집 당시 그대로 SHA-256 해시값을 파일명으로 하여 이 패키지에 포함되어 있습니다. "
            "미리보기 이미지는 의도적으로 흐리게 처리되었으며, 원본은 originals/ 폴더에 있습니다.",
        "verify_title": "패키지 무결성 확인 방법",
        "verify": [
            "압축을 푼 폴더에서 `sha256sum -c SHA256SUMS`를 실행하면 모든 줄에 OK가 표시되어야 합니다.",
            "동봉된 공개키로 manifest.json의 서명을 확인합니다. 예: "
            "`openssl pkeyutl -verify -pubin -inkey public_key.pem -rawin -in manifest.json -sigfile manifest.sig`",
            "또는 패키지를 작성한 기관이 공개한 지문으로 `jikimi evidence verify 패키지.zip --key 지문`을 실행하면 "
            "관리 연속성 기록의 모든 항목과 서명된 기록 마지막 항목까지 확인합니다.",
            "위의 공개키 지문을 그 기관이 공개한 지문과 대조하십시오. "
            "`openssl pkey -pubin -in public_key.pem -outform DER | sha256sum`으로 동봉된 공개키의 지문을 계산할 수 있습니다.",
        ],
        "fingerprint": "공개키 지문 (SHA-256)", "item": "증거물", "file": "패키지 내 파일",
        "size": "크기", "bytes": "바이트", "type": "미디어 유형", "provenance": "발견 위치",
        "source": "수집원", "chat": "대화방", "message": "메시지 번호", "sender": "게시자", "time": "게시 시각", "when": "일시",
        "link": "링크", "path": "수집원 내 경로", "collected": "수집 일시", "operator": "수집자",
        "decisions": "검토 결과", "no_preview": "미리보기 없음", "custody": "관리 연속성(Chain of Custody) 기록",
        "custody_intro": "이 증거에 대한 모든 조치가 기록되며, 각 항목은 직전 항목의 해시값과 "
                         "작업공간의 Ed25519 전자서명을 포함합니다.",
        "seq": "번호", "actor": "수행자", "action": "조치", "subject": "대상", "head": "반출 시점의 기록 마지막 항목",
        "head_signed": "서명된 확인서", "kind": "종류", "kinds": {"image": "이미지", "video": "동영상", "other": "기타 파일"},
        "actions": {"case_create": "사건 생성", "scan": "검사", "scan_resume": "검사 재개", "ingest": "수집",
                    "decision": "검토 결정", "view": "열람", "reveal": "흐림 해제 열람", "evidence_export": "증거 반출",
                    "notice_draft": "삭제 요청서 작성", "subject_add": "보호 대상 등록", "subject_remove": "보호 대상 삭제",
                    "user_add": "사용자 추가"},
        "verdicts": {"confirm": "피해물 확인", "not_subject": "피해자 아님", "not_abusive": "피해물 아님",
                     "unsure": "판단 보류"},
    },
}
