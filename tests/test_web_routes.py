"""Every route of the web app is protected: checked from the app's own route table.

A route added later without a `Need` dependency fails `test_every_route_declares_a_permission`;
one with a `Need` is checked unauthenticated and with every role that must be refused.
"""

from __future__ import annotations

import re

import httpx
import pytest

from jikimi.web.render import API_PREFIXES
from jikimi.web import create_app
from jikimi.web.auth import PERMISSIONS, Need
from test_web_support import ROLE_USERS, add_role_users, api_routes, login, serve

PUBLIC = {("GET", "/healthz"), ("GET", "/login"), ("POST", "/login")}


def _need(route) -> Need | None:
    stack = list(route.dependant.dependencies)
    while stack:
        dependency = stack.pop()
        if isinstance(dependency.call, Need):
            return dependency.call
        stack.extend(dependency.dependencies)
    return None


def _table(ws) -> list[tuple[str, str, Need | None]]:
    app = create_app(ws)
    return sorted((method, route.path, _need(route)) for route in api_routes(app.routes) for method in route.methods)


def _url(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from jikimi.workspace import Workspace

    ws = Workspace(tmp_path_factory.mktemp("web") / "home")
    ws.init()
    add_role_users(ws)
    with serve(ws) as base:
        yield ws, base


def test_every_route_declares_a_permission(server):
    ws, _ = server
    table = _table(ws)
    assert len(table) > 40
    unprotected = [(m, p) for m, p, need in table if need is None and (m, p) not in PUBLIC]
    assert unprotected == []


def test_every_route_refuses_the_unauthenticated(server):
    ws, base = server
    with httpx.Client(base_url=base, follow_redirects=False) as anonymous:
        for method, path, need in _table(ws):
            if need is None:
                continue
            answer = anonymous.request(method, _url(path))
            if path.startswith(API_PREFIXES):  # ours and the HMA-compatible platform API
                assert answer.status_code == 401, (method, path, answer.status_code)
                assert answer.headers["www-authenticate"] == "Bearer"
            else:
                assert answer.status_code == 303, (method, path, answer.status_code)
                assert answer.headers["location"].startswith("/login?next=")
            assert "ada" not in answer.text


def test_every_route_refuses_roles_without_its_permission(server):
    ws, base = server
    clients = {role: login(base, name) for role, name in ROLE_USERS.items()}
    checked = 0
    for method, path, need in _table(ws):
        if need is None:
            continue
        for role, client in clients.items():
            if role in PERMISSIONS[need.permission]:
                continue
            answer = client.request(method, _url(path))
            assert answer.status_code == 403, (role, method, path, answer.status_code)
            checked += 1
    assert checked > 40
    for client in clients.values():
        client.close()


def test_api_tokens_get_the_same_refusals(server):
    from jikimi import accounts

    ws, base = server
    with ws.session() as session:
        token = accounts.create_token(session, accounts.get_user(session, ROLE_USERS["viewer"]), "test")
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{base}/api/cases", headers=headers).status_code == 200
    assert httpx.post(f"{base}/api/cases", headers=headers, json={"title": "x"}).status_code == 403
    assert httpx.post(f"{base}/api/items/1/reveal", headers=headers).status_code == 403
    wrong = {"Authorization": "Bearer jk_not-a-token"}
    assert httpx.get(f"{base}/api/cases", headers=wrong).status_code == 401


def test_healthz_is_public_and_says_nothing_else(server):
    _, base = server
    answer = httpx.get(f"{base}/healthz")
    assert answer.status_code == 200 and answer.json() == {"ok": True}
