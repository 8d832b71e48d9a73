import os

import pytest

from jikimi.errors import MediaTooLarge, UnsupportedMedia
from jikimi.limits import Limits
from jikimi.media import video
from jikimi.media.video import probe_video, sample_frames
from media_helpers import write_video

LIMITS = Limits()


def test_probe_reads_the_headers(tmp_path):
    info = probe_video(write_video(tmp_path / "clip.mp4"), LIMITS)
    assert (info.width, info.height, info.fps, info.codec) == (320, 240, 10.0, "h264")
    assert info.duration == pytest.approx(5.0, abs=0.2)


def test_frames_are_sampled_every_second_like_vpdq(tmp_path):
    samples = list(sample_frames(write_video(tmp_path / "clip.mp4", seconds=5, fps=10), LIMITS))
    assert [t for t, _ in samples] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert all(rgb.shape == (240, 320, 3) and rgb.dtype.name == "uint8" for _, rgb in samples)


def test_seconds_per_frame_changes_the_sampling(tmp_path):
    path = write_video(tmp_path / "clip.mp4", seconds=2, fps=10)
    assert [t for t, _ in sample_frames(path, LIMITS, seconds_per_frame=0.5)] == [0.0, 0.5, 1.0, 1.5]


def test_truncated_mp4_without_moov_is_unsupported(tmp_path):
    whole = write_video(tmp_path / "whole.mp4")  # the moov atom is written last
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(UnsupportedMedia, match="^video is truncated or corrupt"):
        probe_video(cut, LIMITS)
    with pytest.raises(UnsupportedMedia):
        list(sample_frames(cut, LIMITS))


def test_random_bytes_are_unsupported(tmp_path):
    path = tmp_path / "noise.mp4"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(UnsupportedMedia):
        probe_video(path, LIMITS)


def test_declared_duration_over_the_limit_is_refused(tmp_path):
    path = write_video(tmp_path / "clip.mp4", seconds=3)
    with pytest.raises(MediaTooLarge, match="longer than the limit of 2 seconds"):
        probe_video(path, Limits(max_video_seconds=2))


def test_decoding_stops_past_the_limit_when_the_header_is_silent(tmp_path, monkeypatch):
    path = write_video(tmp_path / "clip.mp4", seconds=4)
    monkeypatch.setattr(video, "_duration", lambda container, stream: None)
    seen = []
    with pytest.raises(MediaTooLarge):
        for timestamp, _ in sample_frames(path, Limits(max_video_seconds=2)):
            seen.append(timestamp)
    assert seen == [0.0, 1.0, 2.0]
