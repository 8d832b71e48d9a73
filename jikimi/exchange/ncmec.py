"""NCMEC hash-sharing entries, as its API returns them (XML, `queryResult` of `image` and
`video` entries with an `id`, a `classification` and `fingerprints`).

We use the MD5, SHA-1 and PDQ fingerprints; PhotoDNA, NetClean, Videntifier, TMK and SSVH
fingerprints are kept out (Jikimi cannot compute them) and an entry with none we can use
is skipped with a note, as are deleted entries. Other members' feedback in the file is not
imported. Our feedback is written back per fingerprint, as NCMEC records it: confirmed ->
`affirmativeFeedback`, not matching -> `negativeFeedback`.

The file is untrusted XML: a DOCTYPE (entity definitions, the "billion laughs") is refused
before parsing.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from jikimi.errors import ExportFormatError
from jikimi.exchange.records import ListedContent, Origin, ParsedList, check_hash

FORMAT = "ncmec"
NAMESPACE = "https://hashsharing.ncmec.org/hashsharing/v2"
USABLE = {"md5": "md5", "sha1": "sha1", "pdq": "pdq"}  # NCMEC fingerprint tag -> our signal type
FEEDBACK_TYPES = {"md5": "Md5", "sha1": "Sha1", "pdq": "Pdq"}
FEEDBACK_TAGS = {"confirmed": "affirmativeFeedback", "not_matching": "negativeFeedback"}
ENTRY_TAGS = ("image", "video", "deletedImage", "deletedVideo")


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def parse(text: str) -> ParsedList:
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise ExportFormatError("an NCMEC list must not contain a DOCTYPE or entity definitions")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        line, column = e.position
        raise ExportFormatError(f"line {line} column {column}: truncated or invalid XML") from None
    parsed = ParsedList([])
    entries = [e for e in root.iter() if _local(e.tag) in ENTRY_TAGS]
    for n, entry in enumerate(entries, 1):
        where, tag = f"record {n}", _local(entry.tag)
        children = {_local(c.tag): c for c in entry}
        entry_id = (children["id"].text or "").strip() if "id" in children else ""
        if not entry_id:
            raise ExportFormatError(f"{where}: an NCMEC {tag} entry without an <id>")
        where = f"record {n} (entry {entry_id})"
        if tag.startswith("deleted"):
            parsed.skipped.append(f"{where}: deleted at NCMEC (not imported)")
            continue
        signals, unused = [], []
        for fingerprint in children.get("fingerprints", []):
            name = _local(fingerprint.tag).lower()
            if name in USABLE:
                signals.append((USABLE[name], check_hash(f"{where}, {name}", USABLE[name], fingerprint.text or "")))
            else:
                unused.append(name)
        if not signals:
            parsed.skipped.append(f"{where}: no MD5, SHA-1 or PDQ fingerprint (skipped)")
            continue
        extra = {"classification": _text(children.get("classification")), "member_id": _member(children)}
        if unused:
            extra["unused_fingerprints"] = unused
        origin = Origin(FORMAT, entry_id, {}, "active", {k: v for k, v in extra.items() if v})
        parsed.contents.append(ListedContent(tag, f"NCMEC {entry_id}", signals, origin=origin))
    return parsed


def _text(element) -> str | None:
    if element is None:
        return None
    return (element.text or "").strip() or None


def _member(children: dict) -> str | None:
    member = children.get("member")
    return member.get("id") if member is not None else None


def format_list(contents: list[ListedContent]) -> str:
    ET.register_namespace("", NAMESPACE)
    root = ET.Element(f"{{{NAMESPACE}}}queryResult")
    groups = {kind: ET.SubElement(root, f"{{{NAMESPACE}}}{kind}s") for kind in ("image", "video")}
    for content in contents:
        usable = [(t, v) for t, v in content.signals if t in FEEDBACK_TYPES]
        if not usable or content.kind not in groups:
            continue
        origin = content.origin
        entry = ET.SubElement(groups[content.kind], f"{{{NAMESPACE}}}{content.kind}")
        own = origin if origin and origin.source_format == FORMAT else None
        ET.SubElement(entry, f"{{{NAMESPACE}}}id").text = own.external_id if own else f"jikimi-{content.local_id}"
        if own and own.extra.get("classification"):
            ET.SubElement(entry, f"{{{NAMESPACE}}}classification").text = own.extra["classification"]
        fingerprints = ET.SubElement(entry, f"{{{NAMESPACE}}}fingerprints")
        for signal_type, value in usable:
            ET.SubElement(fingerprints, f"{{{NAMESPACE}}}{signal_type}").text = value
        if origin and origin.feedback:
            feedback = ET.SubElement(entry, f"{{{NAMESPACE}}}feedback")
            for signal_type, _ in usable:
                ET.SubElement(feedback, f"{{{NAMESPACE}}}{FEEDBACK_TAGS[origin.feedback]}",
                              type=FEEDBACK_TYPES[signal_type])
    for kind, group in groups.items():
        group.set("count", str(len(group)))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
