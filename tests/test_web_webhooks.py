"""The admins' webhook page over real HTTP (uvicorn on a free port): dead letters and retry."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from jikimi.core import Actor, Jikimi
from jikimi.webhooks import outbox
from test_web_support import add_role_users, csrf_of, login, serve
from test_webhooks import Receiver


def test_admins_see_dead_letters_and_retry_them(ws):
    add_role_users(ws)
    jk, cli = Jikimi(ws), Actor.cli()
    receiver = Receiver()
    try:
        receiver.statuses = [500]
        jk.webhooks.allow_host(cli, "127.0.0.1", ["127.0.0.1"])
        jk.webhooks.add(cli, receiver.url)
        with ws.session() as session:
            outbox.enqueue(session, "decision.made", {"decision_id": 1})
        assert jk.webhooks.send_due(cli, now=datetime.now(timezone.utc), max_attempts=1).dead == 1
        [dead] = jk.webhooks.deliveries(cli, "dead")
        with serve(ws) as base:
            caseworker = login(base, "cora")
            assert caseworker.get("/admin/webhooks").status_code == 403
            admin = login(base, "ada")
            page = admin.get("/admin/webhooks", headers={"Accept-Language": "ko"})
            assert page.status_code == 200
            assert "전달 실패 목록" in page.text and "the receiver answered 500" in page.text
            assert receiver.url in page.text
            assert admin.get("/api/admin/webhooks").json()["dead"][0]["id"] == dead["id"]
            answer = admin.post("/admin/webhooks/retry", data={"delivery_id": dead["id"],
                                                                "csrf_token": csrf_of(admin, "/admin/webhooks")})
            assert answer.status_code == 303 and answer.headers["location"] == "/admin/webhooks"
        assert jk.webhooks.deliveries(cli, "dead") == []
        assert jk.webhooks.send_due(cli, now=datetime.now(timezone.utc) + timedelta(seconds=1)).delivered == 1
    finally:
        receiver.close()
