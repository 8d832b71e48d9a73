"""Accounts, sessions, CSRF, rate limiting, headers, languages and the CLI for users and tokens."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from typer.testing import CliRunner

from jikimi.cli_web import app as cli
from jikimi import accounts, login_throttle
from jikimi.web.auth import SESSION_COOKIE
from test_web_support import PASSWORD, add_role_users, csrf_of, login, serve


@pytest.fixture
def server(ws):
    add_role_users(ws)
    with serve(ws) as base:
        yield base


def _login_form(client: httpx.Client) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)


def test_login_sets_a_protected_session_cookie_and_logout_ends_it(server):
    client = login(server, "ada")
    cookie = next(c for c in client.cookies.jar if c.name == SESSION_COOKIE)
    assert cookie.has_nonstandard_attr("HttpOnly")
    assert cookie.get_nonstandard_attr("SameSite").lower() == "lax"
    assert not cookie.secure  # plain HTTP on localhost; Secure is set when the request is HTTPS
    assert client.get("/api/cases").status_code == 200
    stolen = client.cookies.get(SESSION_COOKIE)
    assert client.post("/logout", data={"csrf_token": csrf_of(client)}).status_code == 303
    replay = httpx.get(f"{server}/api/cases", cookies={SESSION_COOKIE: stolen})
    assert replay.status_code == 401


def test_wrong_passwords_slow_the_account_down_but_never_lock_the_real_user_out(server):
    """Regression (issue 10, item 6): five bad tries locked the right password out for 15 minutes."""
    client = httpx.Client(base_url=server)

    def attempt(password: str) -> httpx.Response:
        return client.post("/login", data={"name": "ada", "password": password, "csrf_token": _login_form(client)})

    for _ in range(login_throttle.ACCOUNT.free):
        assert attempt("wrong password").status_code == 401
    for failures in (login_throttle.ACCOUNT.free, login_throttle.ACCOUNT.free + 1):
        throttled = attempt("wrong password")  # at once: the growing delay, no password checked
        assert throttled.status_code == 429
        assert 0 < int(throttled.headers["retry-after"]) <= login_throttle.ACCOUNT.delay(failures)
        time.sleep(int(throttled.headers["retry-after"]))
        assert attempt("wrong password").status_code == 401
    answer = attempt(PASSWORD)
    wait = int(answer.headers.get("retry-after", 0))
    assert answer.status_code == 429 and wait <= login_throttle.ACCOUNT.max_delay
    time.sleep(wait)
    assert attempt(PASSWORD).status_code == 303  # the right password, after at most the delay
    # another name from the same address was never slowed down
    assert login(server, "cora").get("/api/cases").status_code == 200


def test_login_needs_its_csrf_token(server):
    client = httpx.Client(base_url=server)
    client.get("/login")
    answer = client.post("/login", data={"name": "ada", "password": PASSWORD, "csrf_token": "forged"})
    assert answer.status_code == 403
    assert SESSION_COOKIE not in client.cookies


def test_forms_need_the_session_csrf_token(server):
    client = login(server, "cora")
    assert client.post("/cases", data={"title": "no token"}).status_code == 403
    assert client.post("/cases", data={"title": "wrong", "csrf_token": "x" * 43}).status_code == 403
    assert client.post("/api/cases", json={"title": "json without header"}).status_code == 403
    token = csrf_of(client)
    assert client.post("/cases", data={"title": "ok", "csrf_token": token}).status_code == 303
    assert client.post("/api/cases", json={"title": "ok"}, headers={"X-CSRF-Token": token}).status_code == 201
    assert [c["title"] for c in client.get("/api/cases").json()["cases"]] == ["ok", "ok"]


def test_login_redirects_only_within_the_site(server):
    client = httpx.Client(base_url=server)
    answer = client.post("/login", data={"name": "ada", "password": PASSWORD, "csrf_token": _login_form(client),
                                         "next": "//evil.example/"})
    assert answer.headers["location"] == "/"


def test_security_headers_on_pages_and_api(server):
    client = login(server, "ada")
    for path in ("/", "/api/dashboard", "/login", "/healthz"):
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-frame-options"] == "DENY"
        assert headers["cache-control"] == "no-store"
    assert "<script>" not in client.get("/").text  # no inline scripts anywhere


def test_uploads_over_the_limit_are_refused(ws):
    add_role_users(ws)
    with serve(ws, max_upload_bytes=10_000) as base:
        client = login(base, "cora")
        answer = client.post("/scans", data={"csrf_token": csrf_of(client)},
                             files={"file": ("big.zip", b"0" * 20_000, "application/zip")})
        assert answer.status_code == 413


def test_language_from_the_browser_and_switchable(server):
    client = login(server, "ada")
    assert "사건" in client.get("/cases", headers={"Accept-Language": "ko-KR,ko;q=0.9,en;q=0.8"}).text
    assert "Cases" in client.get("/cases", headers={"Accept-Language": "en-US,en;q=0.9"}).text
    assert "<html lang=\"en\">" in client.get("/cases", headers={"Accept-Language": "fr"}).text
    switched = client.get("/cases?lang=ko", headers={"Accept-Language": "en"})
    assert "<html lang=\"ko\">" in switched.text
    assert "<html lang=\"ko\">" in client.get("/cases", headers={"Accept-Language": "en"}).text  # remembered


def test_cli_adds_users_and_creates_tokens(ws):
    runner = CliRunner()
    added = runner.invoke(cli, ["user", "add", "mina", "--role", "reviewer", "--password-stdin"],
                          input="a long enough password\n")
    assert added.exit_code == 0, added.output
    refused = runner.invoke(cli, ["user", "add", "x", "--role", "root", "--password-stdin"], input="a long enough password\n")
    assert refused.exit_code != 0
    created = runner.invoke(cli, ["token", "create", "mina"])
    assert created.exit_code == 0
    token = created.output.strip()
    with ws.session() as session:
        owner, scopes = accounts.find_token(session, token)
        assert owner.name == "mina" and scopes == {"read"}
        stored = session.scalars(__import__("sqlalchemy").select(accounts.ApiToken.token_hash)).all()
        assert token not in stored and accounts.hash_token(token) in stored
        assert accounts.get_user(session, "mina").password_hash.startswith("$argon2")
    with serve(ws) as base:
        answer = httpx.get(f"{base}/api/review", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200 and answer.json()["can_review"] is False  # a read token cannot review
