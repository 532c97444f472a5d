"""The fast part of bench/fuzz.py: malformed or mistyped JSON-RPC never yields a 5xx or runs a tool."""

from __future__ import annotations

import time

import httpx
import pytest
from asgiref.sync import async_to_sync
from django.conf import settings

from bench.fuzz import HEADERS, bodies
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
