import pytest

from conftest import picture, save_jpeg
from jikimi import banks
from jikimi.errors import ExportFormatError, JikimiError, WorkspaceError
from jikimi.match import Matcher
from jikimi.store.models import Content
from jikimi.signals.pdq import pdq_from_image
from threatexchange.signal_type.pdq.signal import PdqSignal


def test_create_rejects_duplicates_and_bad_thresholds(ws):
    with ws.session() as s:
        banks.create_bank(s, "known")
        with pytest.raises(JikimiError, match="already exists"):
            banks.create_bank(s, "known")
        with pytest.raises(JikimiError, match="between 0 and 128"):
            banks.create_bank(s, "wide", pdq_threshold=300)
    with ws.session() as s, pytest.raises(WorkspaceError, match="no bank named 'missing'"):
        banks.get_bank(s, "missing")


def test_add_files_keeps_hashes_not_files(ws, tmp_path):
    image = save_jpeg(picture("astronaut"), tmp_path / "known" / "a.jpg")
    (tmp_path / "known" / "notes.txt").write_text("not an image")
    with ws.session() as s:
        bank = banks.create_bank(s, "known")
        result = banks.add_files(s, bank, banks.files_under([tmp_path / "known"]))
    assert result.added == 2 and result.warnings == []
    with ws.session() as s:
        exported = banks.export_list(s, banks.get_bank(s, "known"), "tx").splitlines()
    kinds = [line.split()[0] for line in exported]
    assert kinds == ["sha256", "md5", "pdq", "sha256", "md5"]
    assert not any(ws.vault.root.rglob("*.jpg"))
    assert exported[2] == "pdq " + PdqSignal.hash_from_file(image)  # threatexchange's own hash


def test_import_is_all_or_nothing(ws):
    good = "pdq " + "a" * 64
    with ws.session() as s:
        bank = banks.create_bank(s, "imported")
        with pytest.raises(ExportFormatError, match="line 2"):
            banks.import_list(s, bank, f"{good}\npdq xyz\n", "tx")
    with ws.session() as s:
        assert banks.export_list(s, banks.get_bank(s, "imported"), "tx") == ""


def test_export_import_round_trip_between_workspaces(ws, tmp_path):
    save_jpeg(picture("coffee"), tmp_path / "k" / "coffee.jpg")
    with ws.session() as s:
        bank = banks.create_bank(s, "known")
        banks.add_files(s, bank, banks.files_under([tmp_path / "k"]))
        csv_text = banks.export_list(s, bank, "csv")
        bank2 = banks.create_bank(s, "copy")
        assert banks.import_list(s, bank2, csv_text, "csv").imported == 3
        assert banks.export_list(s, bank2, "csv") == csv_text


def test_a_hash_added_matches_in_the_very_next_lookup(ws):
    """The matcher tops up its index from new bank rows: no rebuild, no restart."""
    image = picture("chelsea")
    query = pdq_from_image(image)
    content = Content(sha256="0" * 64, md5="0" * 32, size=1, kind="image", pdq=query.hex, pdq_quality=query.quality)
    matcher = Matcher()
    with ws.session() as s:
        bank = banks.create_bank(s, "live")
        opposite = format(int(query.hex, 16) ^ (2**256 - 1), "064x")  # 256 bits away
        banks.import_list(s, bank, f"pdq {opposite}\n", "tx")
        assert matcher.match(s, content) == []
        index_before = matcher.index
        flipped = format(int(query.hex, 16) ^ 0b111, "064x")  # 3 bits away
        banks.import_list(s, bank, f"pdq {flipped}\n", "tx")
        found = matcher.match(s, content)
    assert matcher.index is index_before
    assert [(f.kind, f.distance) for f in found] == [("pdq", 3)]
