import json
from pathlib import Path

import pytest

from jikimi.errors import ExportFormatError
from jikimi.limits import Limits
from jikimi.signals.pdq import PDQ_DEFAULT_THRESHOLD, PDQ_QUALITY_THRESHOLD, hamming
from jikimi.signals.video import FrameHash, from_vpdq_signal, to_vpdq_signal, video_frame_hashes
from media_helpers import SHARED_VIDEOS, write_video


def test_a_reencoded_rescaled_copy_has_matching_frame_hashes(tmp_path):
    original = video_frame_hashes(write_video(tmp_path / "a.mp4", size=(320, 240)), Limits())
    copy = video_frame_hashes(write_video(tmp_path / "b.mkv", size=(160, 120), codec="mpeg4"), Limits())
    assert [f.timestamp for f in original] == [f.timestamp for f in copy] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert all(f.quality >= PDQ_QUALITY_THRESHOLD for f in original)
    assert max(hamming(a.pdq, b.pdq) for a, b in zip(original, copy)) <= PDQ_DEFAULT_THRESHOLD


def test_vpdq_signal_round_trip():
    frames = [FrameHash(0.0, "ab" * 32, 100), FrameHash(123.4, "cd" * 32, 42)]
    signal = to_vpdq_signal(frames)
    assert json.loads(signal) == ["ab" * 32 + ",100,0.0", "cd" * 32 + ",42,1.23e+02"]
    assert from_vpdq_signal(signal) == [frames[0], FrameHash(123.0, "cd" * 32, 42)]


@pytest.mark.parametrize("bad", ["{", '["abc,1,0"]', '["' + "0" * 64 + ',101,0"]', '["' + "0" * 64 + ',1"]', "[1]"])
def test_malformed_vpdq_signals_are_refused(bad):
    with pytest.raises(ExportFormatError):
        from_vpdq_signal(bad)


def test_signal_is_what_threatexchange_writes_and_reads(tmp_path):
    vpdq_util = pytest.importorskip("threatexchange.extensions.vpdq.vpdq_util")
    frames = video_frame_hashes(write_video(tmp_path / "a.mp4", seconds=2), Limits())
    theirs = [vpdq_util.VpdqCompactFeature(f.pdq, f.quality, f.timestamp) for f in frames]
    assert to_vpdq_signal(frames) == vpdq_util.vpdq_to_json(theirs)
    assert [(f.pdq_hex, f.quality, f.timestamp) for f in vpdq_util.json_to_vpdq(to_vpdq_signal(frames))] == [
        (f.pdq, f.quality, f.timestamp) for f in frames
    ]


@pytest.mark.parametrize("name", ["v1.m4v", "v2.m4v", "v2s.mov"])
def test_same_frames_and_hashes_as_meta_vpdq(name):
    vpdq = pytest.importorskip("vpdq")
    path = SHARED_VIDEOS / name
    if not path.exists():
        pytest.skip(f"{path} is not on this machine")
    theirs = vpdq.computeHash(str(path))
    ours = video_frame_hashes(Path(path), Limits())
    assert [f.timestamp for f in ours] == pytest.approx([f.timestamp for f in theirs], abs=1e-6)
    assert [f.pdq for f in ours] == [f.hex for f in theirs]
