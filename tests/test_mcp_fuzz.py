"""The fast part of bench/fuzz.py: malformed or mistyped JSON-RPC never yields a 5xx or runs a tool."""

from __future__ import annotations

import logging
import time

import httpx
import pytest
from asgiref.sync import async_to_sync
from django.conf import settings

from bench.fuzz import HEADERS, bodies, deep_bodies
from coaching.models import AccessLogEntry
from mcpserver import read_log
from tests.conftest import MARA, Sandbox, ServerThread, make_athlete, mcp_url

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_answers_hundreds_of_broken_bodies_without_a_5xx_or_running_a_tool(
    product: ServerThread, sandbox: Sandbox
) -> None:
    url = mcp_url(product, make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox))
    upstream_before = sandbox.state.request_count
    statuses = []
    with httpx.Client(timeout=30) as http:
        for body in bodies(360):
            response = http.post(url, content=body, headers=HEADERS)
            statuses.append(response.status_code)
            assert b"Traceback" not in response.content
    assert max(statuses) < 500, sorted(set(statuses))
    assert sandbox.state.request_count == upstream_before, "no invalid call may reach Intervals.icu"
    time.sleep(settings.MCP_READ_LOG_FLUSH_SECONDS + 0.3)  # read rows reach the log in batches
    async_to_sync(read_log.flush)()
    assert not AccessLogEntry.objects.filter(outcome="ok").exists(), "no tool may run for invalid input"


@pytest.mark.parametrize("depth", [5_000, 100_000])
def test_it_refuses_a_deeply_nested_tool_call_with_a_parse_error_and_no_traceback(
    product: ServerThread, sandbox: Sandbox, depth: int, caplog: pytest.LogCaptureFixture
) -> None:
    url = mcp_url(product, make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox))
    upstream_before = sandbox.state.request_count
    caplog.set_level(logging.INFO)
    with httpx.Client(timeout=30) as http:
        for body in deep_bodies(depth):  # arrays, then objects
            assert len(body) <= settings.MCP_MAX_BODY_BYTES
            response = http.post(url, content=body, headers=HEADERS)
            assert response.status_code == 400, (response.status_code, response.text[:300])
            assert response.json()["error"]["code"] == -32700  # JSON-RPC parse error
            assert b"Traceback" not in response.content
    assert sandbox.state.request_count == upstream_before
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not failures, [(r.name, r.getMessage()) for r in failures]
