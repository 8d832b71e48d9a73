import pickle

from jikimi.limits import Limits
from jikimi.signals.content import compute_signals
from jikimi.signals.pdq import pdq_from_image
from media_helpers import astronaut, write_video

LIMITS = Limits()


def test_image_signals_even_under_a_lying_extension(tmp_path):
    path = tmp_path / "clip.mp4"
    astronaut().save(path, "JPEG", quality=95)
    signals = compute_signals(path, LIMITS)
    assert (signals.kind, signals.mime_type, signals.width, signals.height) == ("image", "image/jpeg", 512, 512)
    assert signals.pdq and signals.pdq_quality == 100 and signals.error is None
    assert signals.thumbnail.startswith(b"\xff\xd8")
    assert pickle.loads(pickle.dumps(signals)) == signals


def test_video_signals(tmp_path):
    signals = compute_signals(write_video(tmp_path / "round.mp4", seconds=3), LIMITS)
    assert (signals.kind, signals.width, signals.height) == ("video", 320, 240)
    assert [f.timestamp for f in signals.frames] == [0.0, 1.0, 2.0]
    assert signals.thumbnail and signals.error is None and signals.pdq is None
    assert pickle.loads(pickle.dumps(signals)) == signals


def test_bad_media_becomes_a_one_line_error(tmp_path):
    whole = tmp_path / "whole.jpg"
    astronaut().save(whole, "JPEG")
    (tmp_path / "cut.jpg").write_bytes(whole.read_bytes()[:2000])
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "cut.mp4").write_bytes(write_video(tmp_path / "v.mp4").read_bytes()[:5000])
    cut = compute_signals(tmp_path / "cut.jpg", LIMITS)
    assert cut.kind == "image" and cut.error.startswith("image is truncated or corrupt (JPEG") and "\n" not in cut.error
    assert compute_signals(tmp_path / "empty.jpg", LIMITS).error == "empty file"
    assert compute_signals(tmp_path / "cut.mp4", LIMITS).error.startswith("video is truncated or corrupt")
    assert compute_signals(tmp_path / "missing.jpg", LIMITS).error
    (tmp_path / "noise.jpg").write_bytes(bytes(range(256)))
    noise = compute_signals(tmp_path / "noise.jpg", LIMITS)
    assert (noise.kind, noise.error) == ("other", "not a known image or video format, though the name ends in .jpg")


def test_other_files_have_no_error(tmp_path):
    path = tmp_path / "result.json"
    path.write_text("{}")
    signals = compute_signals(path, LIMITS)
    assert (signals.kind, signals.error, signals.pdq, signals.frames) == ("other", None, None, [])


def test_limits_apply(tmp_path):
    path = tmp_path / "a.png"
    astronaut().save(path)
    assert "more than the limit" in compute_signals(path, Limits(max_file_bytes=100)).error
    assert "512x512" in compute_signals(path, Limits(max_image_pixels=1000)).error
    assert compute_signals(path, LIMITS).pdq == pdq_from_image(astronaut()).hex
