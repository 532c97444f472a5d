"""The gate in front of MCP: identical 404s, 405s, body caps, origin checks, and masked logs."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from accounts import tokens
from accounts.actions import ensure_athlete_token, regenerate_token, reveal_token
from config.logging_filters import mask
from tests.conftest import MARA, Sandbox, ServerThread, make_athlete

pytestmark = pytest.mark.django_db(transaction=True)

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def test_it_answers_unknown_revoked_and_malformed_tokens_with_one_identical_404(
    product: ServerThread, sandbox: Sandbox
) -> None:
    athlete = make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)
    row = ensure_athlete_token(athlete)
    assert row is not None
    revoked = reveal_token(row)
    regenerate_token(row, actor=athlete)
    candidates = {
        "unknown": tokens.generate(),
        "revoked": revoked,
        "malformed": "thr_nope",
        "typo": revoked[:-1] + ("x" if revoked[-1] != "x" else "y"),
    }
    answers = []
    for token in candidates.values():
        r = httpx.post(f"{product.url}/mcp/{token}", json=INIT, headers=HEADERS)
        answers.append((r.status_code, r.content, sorted((k, v) for k, v in r.headers.items() if k != "date")))
    assert answers[0][0] == 404
    assert all(a == answers[0] for a in answers), "every bad token must look the same"
    assert b"Traceback" not in answers[0][1]
    r = httpx.post(f"{product.url}/mcp/", json=INIT, headers={**HEADERS, "Authorization": f"Bearer {revoked}"})
    assert (r.status_code, r.content) == answers[0][:2]
    assert "www-authenticate" not in r.headers  # a 401 challenge would start an OAuth flow in Claude


def test_it_serves_no_oauth_discovery_documents(product: ServerThread) -> None:
    for path in (
        "/.well-known/oauth-authorization-server",
        "/.well-known/oauth-protected-resource",
        "/.well-known/openid-configuration",
    ):
        assert httpx.get(product.url + path).status_code == 404


def test_it_answers_405_to_get_and_delete_on_a_valid_url(product: ServerThread, sandbox: Sandbox) -> None:
    row = ensure_athlete_token(make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox))
    url = f"{product.url}/mcp/{reveal_token(row)}"  # type: ignore[arg-type]
    assert httpx.get(url, headers=HEADERS, timeout=5).status_code == 405
    assert httpx.delete(url, headers=HEADERS, timeout=5).status_code == 405


def test_it_rejects_malformed_json_rpc_with_a_client_error(product: ServerThread, sandbox: Sandbox) -> None:
    row = ensure_athlete_token(make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox))
    url = f"{product.url}/mcp/{reveal_token(row)}"  # type: ignore[arg-type]
    for body in (b"{not json", b'{"jsonrpc": "2.0"}', b"[]", "\udcff".encode("utf-8", "surrogatepass")):
        r = httpx.post(url, content=body, headers=HEADERS)
        assert 400 <= r.status_code < 500, (body, r.status_code)
        assert b"Traceback" not in r.content
    big = b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"' + b"a" * 2_000_000 + b'"}}'
    assert httpx.post(url, content=big, headers=HEADERS).status_code == 413


def test_it_refuses_a_foreign_origin(product: ServerThread, sandbox: Sandbox) -> None:
    row = ensure_athlete_token(make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox))
    url = f"{product.url}/mcp/{reveal_token(row)}"  # type: ignore[arg-type]
    r = httpx.post(url, json=INIT, headers={**HEADERS, "Origin": "https://evil.example"})
    assert r.status_code == 403
    ok = httpx.post(url, json=INIT, headers={**HEADERS, "Origin": "https://claude.ai"})
    assert ok.status_code == 200 and json.loads(ok.content)["result"]["serverInfo"]["name"] == "threshold"


def test_it_masks_the_token_in_every_log_line(
    product: ServerThread, sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    row = ensure_athlete_token(make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox))
    token = reveal_token(row)  # type: ignore[arg-type]
    caplog.set_level(logging.DEBUG)
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:1", "POST", f"/mcp/{token}", "1.1", 200
    )
    logging.getLogger("anything").warning("failed for url %s", f"https://host/mcp/{token}?x=1")
    httpx.post(f"{product.url}/mcp/{token}", json=INIT, headers=HEADERS)
    assert caplog.records
    for record in caplog.records:
        assert token not in record.getMessage()
        assert token[4:20] not in record.getMessage()


def test_it_masks_credentials_in_free_text() -> None:
    token = tokens.generate()
    text = f"GET /mcp/{token} Authorization: Bearer abcdef0123456789 code=deadbeefcafe&state=1 {token}"
    masked = mask(text)
    assert token not in masked and "abcdef0123456789" not in masked and "deadbeefcafe" not in masked


def test_it_masks_credentials_inside_log_arguments_that_are_objects() -> None:
    """httpx logs its request URL as an httpx.URL object, not a str: the token in it is masked too."""
    import logging

    import httpx

    from config.logging_filters import MaskSecretsFilter

    token = tokens.generate()
    record = logging.LogRecord("httpx", logging.INFO, __file__, 1, "HTTP Request: %s %s (%d)", None, None)
    record.args = ("POST", httpx.URL(f"http://127.0.0.1/mcp/{token}"), 200)
    MaskSecretsFilter().filter(record)
    line = record.getMessage()
    assert token not in line and line.endswith("(200)") and "/mcp/" in line
