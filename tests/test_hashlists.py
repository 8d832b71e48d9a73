import json

import pytest

from jikimi import hashlists
from jikimi.errors import ExportFormatError

PDQ = "f" * 32 + "0" * 32
MD5 = "d41d8cd98f00b204e9800998ecf8427e"


def test_tx_round_trip_keeps_types_and_frames():
    frames = [hashlists.FrameSignal(PDQ, 90, 0.0), hashlists.FrameSignal("0" * 64, 70, 1.0)]
    listed = [
        hashlists.ListedSignal("pdq", PDQ, "a.jpg"),
        hashlists.ListedSignal("video_md5", MD5, "v.mp4"),
        hashlists.ListedSignal("vpdq", "", "v.mp4", frames),
    ]
    text = hashlists.format_list(listed, "tx")
    assert text.splitlines()[0] == f"pdq {PDQ}"
    assert json.loads(text.splitlines()[2].split(" ", 1)[1]) == [f"{PDQ},90,0.000", f"{'0' * 64},70,1.000"]
    parsed = hashlists.parse(text, "tx")
    assert [(p.signal_type, p.value) for p in parsed[:2]] == [("pdq", PDQ), ("video_md5", MD5)]
    assert parsed[2].frames == frames


def test_csv_round_trip_keeps_notes():
    listed = [hashlists.ListedSignal("md5", MD5, "note, with comma")]
    text = hashlists.format_list(listed, "csv")
    assert text.splitlines()[0] == "signal_type,signal,note"
    assert hashlists.parse(text, "csv")[0].note == "note, with comma"


@pytest.mark.parametrize(
    "text, message",
    [
        ("pdq abc\n", "line 1: a pdq signal must be 64 hex characters"),
        (f"pdq {PDQ}\nphash {PDQ}\n", "line 2: unknown signal type 'phash'"),
        ("vpdq [\"nothex,1,2\"]\n", "line 1: a vpdq signal must be a JSON list"),
        ("vpdq not json\n", "line 1: a vpdq signal must be a JSON list"),
    ],
)
def test_bad_lines_name_the_line(text, message):
    with pytest.raises(ExportFormatError, match=message.replace("[", r"\[")):
        hashlists.parse(text, "tx")


def test_comments_and_blank_lines_are_skipped():
    assert len(hashlists.parse(f"# exported\n\npdq {PDQ}\n", "tx")) == 1
