"""Exchange formats (StopNCII, NCMEC, HMA) through the core on real SQLite: round trips,
feedback sent back, and malformed lists refused whole with their line or record number."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from conftest import picture, save_jpeg
from jikimi import hashlists
from jikimi.core import Actor, Jikimi
from jikimi.errors import ExportFormatError
from jikimi.exchange import ncmec
from jikimi.exchange.records import MAX_RECORD_CHARS
from jikimi.scan import ScanOptions
from jikimi.signals.pdq import pdq_from_image

ADMIN = Actor.cli()
PDQ = "f" * 32 + "0" * 16 + "a" * 16
MD5 = "d41d8cd98f00b204e9800998ecf8427e"
SHA1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"


@pytest.fixture
def jk(ws):
    jikimi = Jikimi(ws)
    jikimi.banks.create(ADMIN, "feed")
    return jikimi


def stopncii_list(*records) -> str:
    return json.dumps({"count": len(records), "nextPageToken": "x", "nextSetTimestamp": 5, "hasMoreRecords": False,
                       "hashRecords": list(records)})


def record(signal_type="ImagePDQ", value=PDQ, status="Active", cases=None, **extra) -> dict:
    return {"lastModtimestamp": 1700000000, "signalType": signal_type, "hashValue": value, "hashStatus": status,
            "caseNumbers": cases if cases is not None else {"KR-2024-0001": "Active"}, "CSPFeedbacks": [], **extra}


def test_stopncii_import_export_round_trip_with_cases_statuses_and_feedback(jk):
    text = stopncii_list(record(), record("VideoMD5", MD5, cases={}),
                         record(value="ab" * 32, status="Withdrawn"), record("VideoTMK", "tmk..."))
    result = jk.banks.import_list(ADMIN, "feed", text, "stopncii")
    assert (result["imported"], result["updated"]) == (2, 0)
    assert result["skipped"] == ["record 3: Withdrawn at StopNCII (not imported)",
                                 "record 4: VideoTMK signals cannot be matched by Jikimi (skipped)"]
    assert jk.banks.import_list(ADMIN, "feed", text, "stopncii")["updated"] == 2  # a second pull updates, never doubles
    assert {b["name"]: b["contents"] for b in jk.banks.list(ADMIN)}["feed"] == 2

    jk.banks.feedback(ADMIN, "feed", PDQ, "confirmed")
    jk.banks.feedback(ADMIN, "feed", MD5.upper(), "not_matching")
    _, exported = jk.banks.export_list(ADMIN, "feed", "stopncii")
    records = json.loads(exported)["hashRecords"]
    assert [(r["signalType"], r["hashValue"], r["hashStatus"], r["caseNumbers"]) for r in records] == [
        ("ImagePDQ", PDQ, "Active", {"KR-2024-0001": "Active"}), ("VideoMD5", MD5, "Active", {})]
    assert [r["CSPFeedbacks"][0]["feedbackValue"] for r in records] == ["Blocked", "NotBlocked"]

    jk.banks.create(ADMIN, "copy")
    assert jk.banks.import_list(ADMIN, "copy", exported, "stopncii")["imported"] == 2
    again = json.loads(jk.banks.export_list(ADMIN, "copy", "stopncii")[1])["hashRecords"]
    assert [{k: v for k, v in r.items() if k != "CSPFeedbacks"} for r in again] == \
        [{k: v for k, v in r.items() if k != "CSPFeedbacks"} for r in records]
    # the video MD5 is a video's: it goes out under threatexchange's video name in tx lines
    assert f"video_md5 {MD5}" in jk.banks.export_list(ADMIN, "copy", "tx")[1]


NCMEC_XML = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<queryResult xmlns="https://hashsharing.ncmec.org/hashsharing/v2">
  <images count="3">
    <image><member id="42">Example Member</member><id>image1</id><classification>A1</classification>
      <fingerprints><md5>{MD5}</md5><sha1>{SHA1}</sha1><pdq>{PDQ}</pdq><pdna>a1a1...</pdna></fingerprints>
      <feedback><affirmativeFeedback type="Md5"/></feedback></image>
    <deletedImage><member id="43">Other</member><id>image4</id></deletedImage>
    <image><id>image5</id><fingerprints><pdna>a1a1...</pdna></fingerprints></image>
  </images>
  <videos count="1">
    <video><id>video1</id><fingerprints><md5>{"b1" * 16}</md5></fingerprints></video>
  </videos>
</queryResult>"""


def test_ncmec_entries_import_md5_sha1_pdq_and_export_feedback_per_fingerprint(jk):
    result = jk.banks.import_list(ADMIN, "feed", NCMEC_XML, "ncmec")
    assert result["imported"] == 2
    assert result["skipped"] == ["record 2 (entry image4): deleted at NCMEC (not imported)",
                                 "record 3 (entry image5): no MD5, SHA-1 or PDQ fingerprint (skipped)"]
    jk.banks.feedback(ADMIN, "feed", "image1", "not_matching")
    exported = jk.banks.export_list(ADMIN, "feed", "ncmec")[1]
    root = ET.fromstring(exported)
    ns = {"n": ncmec.NAMESPACE}
    image = root.find("n:images/n:image", ns)
    assert image.findtext("n:id", namespaces=ns) == "image1"
    assert image.findtext("n:classification", namespaces=ns) == "A1"
    assert [(f.tag.split("}")[1], f.text) for f in image.find("n:fingerprints", ns)] == [
        ("md5", MD5), ("sha1", SHA1), ("pdq", PDQ)]
    assert [(f.tag.split("}")[1], f.get("type")) for f in image.find("n:feedback", ns)] == [
        ("negativeFeedback", "Md5"), ("negativeFeedback", "Sha1"), ("negativeFeedback", "Pdq")]
    assert root.findtext("n:videos/n:video/n:id", namespaces=ns) == "video1"

    jk.banks.create(ADMIN, "copy")
    jk.banks.import_list(ADMIN, "copy", exported, "ncmec")
    assert ncmec_entries(jk.banks.export_list(ADMIN, "copy", "ncmec")[1]) == ncmec_entries(exported)


def ncmec_entries(text: str) -> list[tuple]:
    """Each entry's kind, id, classification and fingerprints (whitespace and feedback aside)."""
    root = ET.fromstring(text)
    return [(e.tag, e.findtext(f"{{{ncmec.NAMESPACE}}}id"), e.findtext(f"{{{ncmec.NAMESPACE}}}classification"),
             [(f.tag, f.text) for f in e.find(f"{{{ncmec.NAMESPACE}}}fingerprints")])
            for group in root for e in group]


def hma_content(content_id=7, signals=None, **extra) -> dict:
    return {"id": content_id, "disable_until_ts": 0, "original_media_uri": None,
            "bank": {"name": "NCII_BANK", "matching_enabled_ratio": 1.0},
            "signals": signals if signals is not None else {"pdq": PDQ}, "note": "from HMA", **extra}


def test_hma_bank_dump_round_trip_with_vpdq_and_feedback_in_metadata(jk):
    frames = json.dumps([f"{PDQ},100,0.000", f"{'c' * 64},80,1.000"])
    dump = json.dumps([hma_content(), hma_content(8, {"video_md5": MD5, "vpdq": frames, "url": "https://x"}),
                       hma_content(9, {"url": "https://x"})])
    result = jk.banks.import_list(ADMIN, "feed", dump, "hma")
    assert result["imported"] == 2 and result["skipped"] == ["record 3: no pdq, video_md5 or vpdq signal (skipped)"]
    jk.banks.feedback(ADMIN, "feed", "8", "confirmed")
    exported = json.loads(jk.banks.export_list(ADMIN, "feed", "hma")[1])
    assert [c["id"] for c in exported] == [7, 8]
    assert exported[0]["bank"] == {"name": "FEED", "matching_enabled_ratio": 1.0}
    assert exported[1]["signals"] == {"video_md5": MD5, "vpdq": json.dumps(json.loads(frames), separators=(",", ":"))}
    assert exported[1]["metadata"]["json"] == {"jikimi_feedback": "confirmed"}
    jk.banks.create(ADMIN, "copy")
    jk.banks.import_list(ADMIN, "copy", "\n".join(json.dumps(c) for c in exported), "hma")  # as JSON lines
    again = json.loads(jk.banks.export_list(ADMIN, "copy", "hma")[1])
    assert [c["signals"] for c in again] == [c["signals"] for c in exported]
    jk.banks.delete(ADMIN, "copy")  # with where its records came from
    assert "copy" not in {b["name"] for b in jk.banks.list(ADMIN)}


BAD_LISTS = [
    ("stopncii", stopncii_list(record(), record(value="0" * 64)),
     "record 2: an all-zero PDQ hash (a blank or corrupt picture) is refused"),
    ("stopncii", stopncii_list(record(), record(), record(value=PDQ[:40])), "record 3: a pdq signal must be 64 hex"),
    ("stopncii", stopncii_list(record(), record())[:-30], "line 1 column"),
    ("stopncii", stopncii_list(record(value=123)), "record 1: the field 'hashValue' must be str, not int"),
    ("stopncii", stopncii_list(record(cases=["KR-1"])), "record 1: the field 'caseNumbers' must be dict, not list"),
    ("stopncii", stopncii_list(record(status="Gone")), "record 1: unknown status 'Gone'"),
    ("stopncii", stopncii_list(record(lastModtimestamp=True)), "record 1: the field 'lastModtimestamp' must be int"),
    ("stopncii", "\n".join([json.dumps(record()), json.dumps(record()), '{"signalType": "ImagePDQ", "hashVa']),
     "line 3: truncated or invalid JSON"),
    ("stopncii", json.dumps([record(), "ImagePDQ"]), "record 2: expected a JSON object, not str"),
    ("ncmec", NCMEC_XML[:400], "truncated or invalid XML"),
    ("ncmec", NCMEC_XML.replace(MD5, MD5[:20]), "record 1 (entry image1), md5: a md5 signal must be 32 hex"),
    ("ncmec", NCMEC_XML.replace("<id>video1</id>", ""), "record 4: an NCMEC video entry without an <id>"),
    ("ncmec", '<?xml version="1.0"?><!DOCTYPE q [<!ENTITY a "aaaa">]><q>&a;</q>', "must not contain a DOCTYPE"),
    ("hma", json.dumps([hma_content(), hma_content(signals=["pdq", PDQ])]),
     "record 2: the field 'signals' must be dict, not list"),
    ("hma", json.dumps([hma_content(signals={"vpdq": '["nothex,1,0"]'})]), "record 1, vpdq: must be a JSON list of"),
    ("hma", json.dumps([hma_content(content_id="7")]), "record 1: the field 'id' must be int, not str"),
    ("tx", f"pdq {PDQ}\npdq {'0' * 64}\n", "line 2: an all-zero PDQ hash"),
    ("tx", f"pdq {PDQ}\nsha1 {SHA1}\n" + "md5 " + "a" * (MAX_RECORD_CHARS + 1) + "\n",
     f"line 3: longer than {MAX_RECORD_CHARS:,} characters"),
    ("csv", f"signal_type,signal,note\npdq,{PDQ},ok\nmd5,{MD5},\"{'x' * 200_000}\"\n", "line 3: not a CSV row"),
]


@pytest.mark.parametrize("fmt, text, message", BAD_LISTS, ids=[f"{f}-{n}" for n, (f, _, _) in enumerate(BAD_LISTS)])
def test_malformed_lists_are_refused_whole_with_their_line_or_record(jk, fmt, text, message):
    with pytest.raises(ExportFormatError) as refused:
        jk.banks.import_list(ADMIN, "feed", text, fmt)
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)
    assert {b["name"]: b["signals"] for b in jk.banks.list(ADMIN)}["feed"] == 0  # nothing partially imported


def test_unknown_format_is_named(jk):
    with pytest.raises(ExportFormatError, match="use tx, csv, stopncii, ncmec, hma"):
        hashlists.parse_contents("", "xls")
    with pytest.raises(ExportFormatError, match="use tx, csv, stopncii, ncmec, hma"):
        jk.banks.export_list(ADMIN, "feed", "xls")


def test_a_decision_on_a_match_records_feedback_for_the_imported_hash(jk, tmp_path):
    known = save_jpeg(picture("astronaut"), tmp_path / "source" / "posted.jpg")
    pdq = pdq_from_image(picture("astronaut")).hex
    jk.banks.import_list(ADMIN, "feed", stopncii_list(record(value=pdq)), "stopncii")
    scan_id = jk.scans.start(ADMIN, known.parent, ScanOptions(jobs=1, analyse=False))
    [item] = [i for i in json.loads(jk.scans.report(ADMIN, scan_id, "json"))["items"] if i["matches"]]
    assert [m["kind"] for m in item["matches"]] == ["pdq"]
    jk.review.decide(ADMIN, item["id"], "confirm")
    [exported] = json.loads(jk.banks.export_list(ADMIN, "feed", "stopncii")[1])["hashRecords"]
    assert exported["CSPFeedbacks"] == [{"feedbackValue": "Blocked", "tags": [], "source": "jikimi"}]


def test_a_scanned_file_matches_an_imported_ncmec_sha1(jk, tmp_path):
    """NCMEC entries may carry only a SHA-1: a scan computes it and reports the match."""
    import hashlib

    posted = tmp_path / "source" / "posted.bin"
    posted.parent.mkdir()
    posted.write_bytes(b"not a picture, only bytes a hash list names" * 50)
    sha1 = hashlib.sha1(posted.read_bytes()).hexdigest()
    only_sha1 = NCMEC_XML.replace(f"<md5>{MD5}</md5><sha1>{SHA1}</sha1><pdq>{PDQ}</pdq>", f"<sha1>{sha1}</sha1>")
    assert jk.banks.import_list(ADMIN, "feed", only_sha1, "ncmec")["imported"] == 2
    (tmp_path / "source" / "other.bin").write_bytes(b"something else")
    scan_id = jk.scans.start(ADMIN, posted.parent, ScanOptions(jobs=1, analyse=False))
    items = json.loads(jk.scans.report(ADMIN, scan_id, "json"))["items"]
    matched = {i["locators"][0]["path"]: [m["kind"] for m in i["matches"]] for i in items}
    assert matched == {"posted.bin": ["sha1"], "other.bin": []}
