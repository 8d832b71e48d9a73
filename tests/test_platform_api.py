"""The HMA-compatible platform API over real HTTP, called the way HMA's clients call it.

Requests are made with `requests` (what HMA itself and its Python users use), file uploads
as multipart fields named by content type (`photo`, `video`), JSON bodies for curation.
Shapes are checked field by field against HMA's blueprints and schemas
(OpenMediaMatch/blueprints/{hashing,matching,curation}.py, schemas/*.py).
"""

from __future__ import annotations

import time

import pytest
import requests
from threatexchange.signal_type.pdq.signal import PdqSignal

from conftest import jpeg_bytes, picture
from jikimi import accounts
from jikimi.core.platform import BATCH_LIMIT, FEED_POLL_SECONDS
from jikimi.workspace import Workspace
from media_helpers import write_video
from test_web_support import PASSWORD, serve

BANK = "NCII_CONFIRMED"


def flip(pdq: str, bits: int) -> str:
    """The hash with its first `bits` bits inverted: a copy at exactly that distance."""
    value = int(pdq, 16) ^ (((1 << bits) - 1) << (256 - bits))
    return f"{value:064x}"


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """A served workspace and a requests session per role, authenticated by API token."""
    ws = Workspace(tmp_path_factory.mktemp("platform") / "home")
    ws.init()
    tokens = {}
    with ws.session() as session:
        for role in ("admin", "caseworker", "viewer"):
            user = accounts.add_user(session, f"{role}-1", role, PASSWORD)
            tokens[role] = accounts.create_token(session, user, "platform", scopes=("lookup", "curate"))
    with serve(ws) as base:
        clients = {}
        for role, token in tokens.items():
            client = requests.Session()
            client.headers["Authorization"] = f"Bearer {token}"
            clients[role] = client
        yield ws, base, clients


@pytest.fixture(scope="module")
def photo_pdq():
    """The astronaut's PDQ as threatexchange (HMA's hasher) computes it."""
    return PdqSignal.hash_from_bytes(jpeg_bytes(picture("astronaut")))


def test_hash_upload_answers_hmas_signal_map(api, photo_pdq):
    _, base, c = api
    answer = c["caseworker"].post(f"{base}/h/hash", files={"photo": ("a.jpg", jpeg_bytes(picture("astronaut")))})
    assert answer.status_code == 200, answer.text
    assert set(answer.json()) == {"pdq"}
    assert bin(int(answer.json()["pdq"], 16) ^ int(photo_pdq, 16)).count("1") <= 2  # same picture, same hasher


def test_hash_video_upload_gives_video_md5(api, tmp_path):
    import hashlib

    _, base, c = api
    video = write_video(tmp_path / "clip.mp4", seconds=1)
    answer = c["caseworker"].post(f"{base}/h/hash", files={"video": ("clip.mp4", video.read_bytes())})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"video_md5": hashlib.md5(video.read_bytes()).hexdigest()}


def test_hashing_refuses_urls_and_bad_uploads_with_a_message(api):
    _, base, c = api
    answer = c["caseworker"].get(f"{base}/h/hash", params={"url": "https://example.org/a.jpg"})
    assert answer.status_code == 400 and "upload the file" in answer.json()["message"]
    two = c["caseworker"].post(f"{base}/h/hash", files=[("photo", ("a.jpg", b"1")), ("photo", ("b.jpg", b"2"))])
    assert two.status_code == 400 and two.json() == {"message": "Only one file allowed per request"}
    wrong = c["caseworker"].post(f"{base}/h/hash", files={"audio": ("a.mp3", b"123")})
    assert wrong.status_code == 400 and "no such content_type" in wrong.json()["message"]
    broken = c["caseworker"].post(f"{base}/h/hash", files={"photo": ("a.jpg", b"not a picture")})
    assert broken.status_code == 400 and "not a readable photo" in broken.json()["message"]


def test_bank_curation_as_hma_answers_it(api):
    _, base, c = api
    admin = c["admin"]
    created = admin.post(f"{base}/c/banks", json={"name": "MY_TEST_BANK"})
    assert created.status_code == 201
    assert created.json() == {"matching_enabled_ratio": 1.0, "name": "MY_TEST_BANK"}
    assert created.json() in admin.get(f"{base}/c/banks").json()
    assert admin.post(f"{base}/c/banks", json={"name": "MY_TEST_BANK"}).status_code == 403  # already exists
    renamed = admin.put(f"{base}/c/bank/MY_TEST_BANK", json={"name": "MY_TEST_BANK_RENAMED"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "MY_TEST_BANK_RENAMED"
    assert admin.put(f"{base}/c/bank/MY_TEST_BANK_RENAMED", json={"enabled": False}).json()["matching_enabled_ratio"] == 0
    half = admin.put(f"{base}/c/bank/MY_TEST_BANK_RENAMED", json={"enabled_ratio": 0.5})
    assert half.json() == {"name": "MY_TEST_BANK_RENAMED", "matching_enabled_ratio": 0.5}
    assert admin.get(f"{base}/c/bank/MY_TEST_BANK_RENAMED").json() == half.json()
    assert admin.get(f"{base}/c/bank/NO_SUCH").status_code == 404
    assert admin.put(f"{base}/c/bank/MY_TEST_BANK_RENAMED", json={"enabled_ratio": 2}).status_code == 400
    assert admin.delete(f"{base}/c/bank/MY_TEST_BANK_RENAMED").json() == {"message": "Done"}
    assert admin.delete(f"{base}/c/bank/MY_TEST_BANK_RENAMED").status_code == 200  # gone already: still done
    assert "MY_TEST_BANK_RENAMED" not in [b["name"] for b in admin.get(f"{base}/c/banks").json()]


def test_uploaded_content_is_hashed_banked_and_not_kept(api, photo_pdq):
    ws, base, c = api
    admin = c["admin"]
    admin.post(f"{base}/c/banks", json={"name": "UPLOADS"})
    added = admin.post(f"{base}/c/bank/UPLOADS/content", files={"photo": ("a.jpg", jpeg_bytes(picture("astronaut")))},
                       data={"note": "reported by a platform"})
    assert added.status_code == 200, added.text
    body = added.json()
    assert set(body) == {"id", "signals"} and set(body["signals"]) == {"pdq"}
    assert list((ws.home / "uploads").rglob("*.*")) == []  # the file itself is gone
    assert not any(p.is_file() for p in ws.vault.root.rglob("*"))
    content = admin.get(f"{base}/c/bank/UPLOADS/content/{body['id']}").json()
    assert content == {"id": body["id"], "disable_until_ts": 1, "original_media_uri": None,
                       "bank": {"name": "UPLOADS", "matching_enabled_ratio": 1.0}, "note": "reported by a platform"}
    with_signals = admin.get(f"{base}/c/bank/UPLOADS/content/{body['id']}", params={"include_signals": "true"}).json()
    assert with_signals["signals"]["pdq"] == body["signals"]["pdq"]
    assert admin.get(f"{base}/c/bank/UPLOADS/content/999999").status_code == 404
    assert admin.delete(f"{base}/c/bank/UPLOADS").json() == {"message": "Done"}  # with its content


def test_lookup_shapes_distances_and_switches(api, photo_pdq):
    _, base, c = api
    admin, platform = c["admin"], c["caseworker"]
    admin.post(f"{base}/c/banks", json={"name": BANK})
    added = admin.post(f"{base}/c/bank/{BANK}/signal", json={"pdq": photo_pdq, "note": "case 7"})
    assert added.status_code == 200 and added.json() == {"id": added.json()["id"], "signals": {"pdq": photo_pdq}}
    content_id = added.json()["id"]
    near = flip(photo_pdq, 5)

    lookup = platform.get(f"{base}/m/lookup", params={"signal_type": "pdq", "signal": near})
    assert lookup.status_code == 200
    assert lookup.json() == {BANK: [{"bank_content_id": content_id, "distance": "5"}]}
    raw = platform.get(f"{base}/m/raw_lookup", params={"signal_type": "pdq", "signal": near}).json()
    assert raw == {"matches": [content_id]}
    raw = platform.get(f"{base}/m/raw_lookup", params={"signal_type": "pdq", "signal": near,
                                                       "include_distance": "true"}).json()
    assert raw == {"matches": [{"bank_content_id": content_id, "distance": "5"}]}
    assert platform.get(f"{base}/m/lookup", params={"signal_type": "pdq", "signal": near,
                                                    "banks": "OTHER"}).json() == {}
    assert platform.get(f"{base}/m/lookup", params={"signal_type": "pdq", "signal": flip(photo_pdq, 40)}).json() == {}

    # HMA's switches: a disabled content stops matching in /m/lookup (not in raw_lookup, as in HMA)
    assert admin.put(f"{base}/c/bank/{BANK}/content/{content_id}", json={"disable_until_ts": 0}).status_code == 200
    assert platform.get(f"{base}/m/lookup", params={"signal_type": "pdq", "signal": near}).json() == {}
    assert platform.get(f"{base}/m/raw_lookup", params={"signal_type": "pdq", "signal": near}).json()["matches"]
    later = int(time.time()) + 3600
    updated = admin.put(f"{base}/c/bank/{BANK}/content/{content_id}", json={"disable_until_ts": later}).json()
    assert updated["disable_until_ts"] == later
    assert platform.get(f"{base}/m/lookup", params={"signal_type": "pdq", "signal": near}).json() == {}
    admin.put(f"{base}/c/bank/{BANK}/content/{content_id}", json={"disable_until_ts": int(time.time()) - 1})
    assert platform.get(f"{base}/m/lookup", params={"signal_type": "pdq", "signal": near}).json() != {}
    for wrong in (-1, int(time.time()) + 6 * 365 * 86400, "soon"):
        answer = admin.put(f"{base}/c/bank/{BANK}/content/{content_id}", json={"disable_until_ts": wrong})
        assert answer.status_code == 400 and "disable_until_ts" in answer.json()["message"]
    # a bank switched off answers no lookup, unless the coin flip is bypassed
    admin.put(f"{base}/c/bank/{BANK}", json={"enabled": False})
    assert platform.get(f"{base}/m/lookup", params={"signal_type": "pdq", "signal": near}).json() == {}
    assert platform.get(f"{base}/m/lookup", params={"signal_type": "pdq", "signal": near,
                                                    "bypass_coinflip": "true"}).json() != {}
    admin.put(f"{base}/c/bank/{BANK}", json={"enabled": True})


def test_per_bank_thresholds_and_allow_banks(api, photo_pdq):
    _, base, c = api
    admin, platform = c["admin"], c["caseworker"]
    other = flip(photo_pdq, 100)  # unrelated to the other tests' hash
    admin.post(f"{base}/c/banks", json={"name": "STRICT", "pdq_threshold": 4})
    admin.post(f"{base}/c/banks", json={"name": "LOOSE", "pdq_threshold": 40})
    strict = admin.post(f"{base}/c/bank/STRICT/signal", json={"pdq": other}).json()["id"]
    loose = admin.post(f"{base}/c/bank/LOOSE/signal", json={"pdq": other}).json()["id"]
    at = {d: platform.get(f"{base}/m/lookup", params={"signal_type": "pdq", "signal": flip(other, d)}).json()
          for d in (3, 10, 35)}
    assert at[3] == {"STRICT": [{"bank_content_id": strict, "distance": "3"}],
                     "LOOSE": [{"bank_content_id": loose, "distance": "3"}]}
    assert at[10] == {"LOOSE": [{"bank_content_id": loose, "distance": "10"}]}  # past STRICT's 4 bits
    assert at[35] == {"LOOSE": [{"bank_content_id": loose, "distance": "35"}]}  # past PDQ's default 31
    # an allow bank holding the hash silences every match of it, and says why in a header
    admin.post(f"{base}/c/banks", json={"name": "ALLOWED", "is_allow": True})
    admin.post(f"{base}/c/bank/ALLOWED/signal", json={"pdq": other})
    allowed = platform.get(f"{base}/m/lookup", params={"signal_type": "pdq", "signal": flip(other, 3)})
    assert allowed.json() == {} and allowed.headers["X-Jikimi-Allowed-By"] == "ALLOWED"


def test_bad_hashes_get_a_400_with_a_reason_never_a_crash(api):
    _, base, c = api
    platform = c["caseworker"]
    for path in ("/m/lookup", "/m/raw_lookup"):
        zero = platform.get(f"{base}{path}", params={"signal_type": "pdq", "signal": "0" * 64})
        assert zero.status_code == 400 and "all zeros" in zero.json()["message"]
        short = platform.get(f"{base}{path}", params={"signal_type": "pdq", "signal": "abc"})
        assert short.status_code == 400 and "64 hex digits" in short.json()["message"]
        kind = platform.get(f"{base}{path}", params={"signal_type": "tmk", "signal": "abc"})
        assert kind.status_code == 400 and kind.json() == {"message": "No such SignalType 'tmk'"}
    refused = c["admin"].post(f"{base}/c/bank/{BANK}/signal", json={"pdq": "0" * 64})
    assert refused.status_code == 400 and "all zeros" in refused.json()["message"]


def test_upload_lookup_returns_matches_by_signal_type_and_the_hashes(api, photo_pdq):
    _, base, c = api
    c["admin"].post(f"{base}/c/banks", json={"name": BANK})
    c["admin"].post(f"{base}/c/bank/{BANK}/signal", json={"pdq": photo_pdq})
    files = {"photo": ("a.jpg", jpeg_bytes(picture("astronaut"), quality=70))}
    answer = c["caseworker"].post(f"{base}/m/lookup", files=files)
    assert answer.status_code == 200, answer.text
    assert set(answer.json()) == {"pdq"} and BANK in answer.json()["pdq"]
    match = answer.json()["pdq"][BANK][0]
    assert set(match) == {"bank_content_id", "distance"} and isinstance(match["distance"], str)
    both = c["caseworker"].post(f"{base}/m/lookup", params={"include_hashes": "true"}, files=files).json()
    assert set(both) == {"hashes", "matches"} and set(both["hashes"]) == {"pdq"}
    assert both["matches"] == answer.json()


def test_batch_lookup_answers_each_hash_and_refuses_only_the_bad_ones(api, photo_pdq):
    _, base, c = api
    c["admin"].post(f"{base}/c/banks", json={"name": BANK})
    c["admin"].post(f"{base}/c/bank/{BANK}/signal", json={"pdq": photo_pdq})
    unknown = f"{int(photo_pdq, 16) ^ ((1 << 90) - 1):064x}"  # 90 bits away, far from every other test's hash
    sent = [flip(photo_pdq, 2), "0" * 64, "zz", unknown]
    answer = c["caseworker"].post(f"{base}/m/lookup/batch", json={"signal_type": "pdq", "signals": sent})
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [r["signal"] for r in results] == sent
    assert results[0]["matches"][BANK][0]["distance"] == "2"
    assert "all zeros" in results[1]["error"] and "64 hex digits" in results[2]["error"]
    assert results[3]["matches"] == {} and results[3]["allowed_by"] == []
    too_many = c["caseworker"].post(f"{base}/m/lookup/batch", json={"signals": [photo_pdq] * (BATCH_LIMIT + 1)})
    assert too_many.status_code == 400 and str(BATCH_LIMIT) in too_many.json()["message"]


def test_compare_and_index_status_shapes(api, photo_pdq):
    _, base, c = api
    compared = c["caseworker"].post(f"{base}/m/compare", json={"pdq": [photo_pdq, flip(photo_pdq, 9)]})
    assert compared.json() == {"pdq": [True, {"distance": 9}]}
    far = c["caseworker"].post(f"{base}/m/compare", json={"pdq": [photo_pdq, flip(photo_pdq, 90)]})
    assert far.json() == {"pdq": [False, {"distance": 90}]}
    assert c["caseworker"].post(f"{base}/m/compare", json={"pdq": [photo_pdq]}).status_code == 400
    status = c["caseworker"].get(f"{base}/m/index/status").json()
    assert set(status["pdq"]) == {"present", "built_to", "size"} and status["pdq"]["present"] is True
    assert status["pdq"]["size"] >= 1 and status["pdq"]["built_to"] > 0
    assert set(c["caseworker"].get(f"{base}/m/index/status", params={"signal_type": "video_md5"}).json()) == {
        "video_md5"}
    assert c["caseworker"].get(f"{base}/m/index/status", params={"signal_type": "nope"}).status_code == 400


def test_a_hash_added_by_another_process_matches_within_a_second(api, photo_pdq):
    """Another matcher (here: the core in this test process, as a second server would) adds
    straight to the database; the served process's index picks it up without a rebuild."""
    ws, base, c = api
    from jikimi.core import Actor, Jikimi

    other = Jikimi(Workspace(ws.home, ws.database_url))
    fresh = flip(photo_pdq, 200)
    c["admin"].post(f"{base}/c/banks", json={"name": "FRESH"})
    before = c["caseworker"].get(f"{base}/m/lookup", params={"signal_type": "pdq", "signal": fresh}).json()
    assert before == {}
    added = other.platform.add_signals(Actor.cli(), "FRESH", {"pdq": fresh}, None)
    started = time.monotonic()
    while not c["caseworker"].get(f"{base}/m/lookup", params={"signal_type": "pdq", "signal": fresh}).json():
        assert time.monotonic() - started < 1.0 + FEED_POLL_SECONDS
        time.sleep(0.05)
    assert time.monotonic() - started <= 1.0
    assert added["id"] > 0


def test_deleted_content_stops_matching(api, photo_pdq):
    _, base, c = api
    admin = c["admin"]
    admin.post(f"{base}/c/banks", json={"name": "GONE"})
    value = flip(photo_pdq, 150)
    content_id = admin.post(f"{base}/c/bank/GONE/signal", json={"pdq": value}).json()["id"]
    assert c["caseworker"].get(f"{base}/m/lookup", params={"signal_type": "pdq", "signal": value}).json()
    assert admin.delete(f"{base}/c/bank/GONE/content/{content_id}").json() == {"deleted": 1}
    assert admin.delete(f"{base}/c/bank/GONE/content/{content_id}").json() == {"deleted": 0}
    assert c["caseworker"].get(f"{base}/m/lookup", params={"signal_type": "pdq", "signal": value}).json() == {}


def test_scopes_of_the_platform_api(api, photo_pdq):
    _, base, c = api
    assert c["viewer"].get(f"{base}/m/lookup", params={"signal_type": "pdq", "signal": photo_pdq}).status_code == 403
    assert c["caseworker"].get(f"{base}/c/banks").status_code == 403
    assert c["caseworker"].post(f"{base}/c/banks", json={"name": "NOPE"}).status_code == 403
    anonymous = requests.get(f"{base}/m/raw_lookup", params={"signal_type": "pdq", "signal": photo_pdq})
    assert anonymous.status_code == 401


def test_a_changed_token_or_owner_is_refused_on_the_very_next_lookup(api, photo_pdq):
    """Lookups read the token and its owner afresh each time: nothing cached outlives a change."""
    from sqlalchemy import select, update

    from jikimi.core import Actor, Jikimi
    from jikimi.store.web_models import ApiToken, WebUser

    ws, base, _ = api
    core, cli = Jikimi(ws), Actor.cli()
    core.accounts.add_user(cli, "matcher-1", "caseworker", PASSWORD)
    params = {"signal_type": "pdq", "signal": photo_pdq}

    def lookup(token: str) -> int:
        return requests.get(f"{base}/m/raw_lookup", params=params, headers={"Authorization": f"Bearer {token}"},
                            timeout=30).status_code

    def new_token() -> str:
        with ws.session() as session:
            return accounts.create_token(session, accounts.get_user(session, "matcher-1"), "m", scopes=("lookup",))

    token = new_token()
    assert [lookup(token), lookup(token)] == [200, 200]
    core.accounts.set_role(cli, "matcher-1", "viewer")  # a viewer may not look up
    assert lookup(token) == 403
    core.accounts.set_role(cli, "matcher-1", "caseworker")
    assert lookup(token) == 200
    with ws.session() as session:
        token_id = session.scalar(select(ApiToken.id).where(ApiToken.token_hash == accounts.hash_token(token)))
    core.accounts.revoke_token(cli, token_id)
    assert lookup(token) == 401

    token = new_token()
    assert lookup(token) == 200
    with ws.session() as session:  # expired since the last request
        session.execute(update(ApiToken).where(ApiToken.token_hash == accounts.hash_token(token))
                        .values(expires_at=accounts.utcnow() - accounts.timedelta(seconds=1)))
    assert lookup(token) == 401

    token = new_token()
    assert lookup(token) == 200
    with ws.session() as session:  # disabled by hand, tokens left alone: the owner's state alone refuses it
        session.execute(update(WebUser).where(WebUser.name == "matcher-1").values(disabled_at=accounts.utcnow()))
    assert lookup(token) == 401
