"""A newcomer in headless Chromium: sign up, verify, connect the sandbox athlete, copy the URL, use it."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from mcp.client import Client

from tests.conftest import PASSWORD, Sandbox, ServerThread, make_athlete

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def page() -> Iterator[Any]:
    """A Chromium page. Request it last: Playwright's sync API runs an event loop on this thread, so
    database set-up must happen in fixtures that come before it."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is required for browser tests (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        context = browser.new_context(viewport={"width": 1100, "height": 900})
        context.grant_permissions(["clipboard-read", "clipboard-write"])
        yield context.new_page()
        browser.close()


def test_it_takes_a_newcomer_from_signup_to_a_working_mcp_url(
    product: ServerThread, sandbox: Sandbox, page: Any
) -> None:
    email = "newcomer@example.com"
    page.goto(product.url + "/")
    page.get_by_role("link", name="Create your account").click()
    page.fill("input[name=email]", email)
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.get_by_role("button", name=re.compile("sign up", re.I)).click()
    page.wait_for_url(re.compile(r"/accounts/confirm-email/"))

    # The verification email (printed to the console in `make run`) carries the confirmation link.
    assert len(mail.outbox) == 1
    link = re.search(r"https?://\S+/accounts/confirm-email/\S+/", mail.outbox[0].body)
    assert link, mail.outbox[0].body
    page.goto(link.group(0))
    page.get_by_role("button", name=re.compile("confirm", re.I)).click()
    page.wait_for_url(re.compile(r"/dashboard/"))
    assert "Not connected yet" in page.inner_text("[data-testid=link-status]")

    page.get_by_role("button", name="Connect Intervals.icu").click()
    page.wait_for_url(re.compile(re.escape(sandbox.url) + r"/oauth/authorize"))
    page.screenshot(path=str(ARTIFACTS / "spine-2-authorize.png"), full_page=True)
    page.select_option("select[name=athlete]", "i100001")
    page.get_by_role("button", name=re.compile("approve", re.I)).click()
    page.wait_for_url(re.compile(r"/dashboard/"))
    status = page.inner_text("[data-testid=link-status]")
    assert "Mara Lindqvist" in status and "Europe/Stockholm" in status
    assert "read & write" in page.inner_text("table.scopes")

    page.screenshot(path=str(ARTIFACTS / "spine-3-dashboard.png"), full_page=True)

    # The URL lives on its own display-only page (no-store, no-referrer), with the setup guide.
    page.get_by_role("link", name="Show & copy your MCP URL").click()
    page.wait_for_url(re.compile(r"/connect/"))
    mcp_url = page.input_value("#mcp-url")
    assert mcp_url.startswith(product.url + "/mcp/thr_")
    page.get_by_role("button", name="Copy your MCP URL").click()
    assert page.evaluate("navigator.clipboard.readText()") == mcp_url
    page.screenshot(path=str(ARTIFACTS / "spine-4-mcp-url.png"), full_page=True)

    async def use_it() -> Any:
        async with Client(mcp_url, mode="legacy") as client:
            return await client.call_tool("get_training_history", {})

    # Playwright's sync API owns this thread's event loop: run the MCP client on its own thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        result = pool.submit(asyncio.run, use_it()).result(timeout=60)
    assert not result.is_error, result.content
    assert result.structured_content["athlete"]["name"] == {"untrusted": "Mara Lindqvist"}
    assert result.structured_content["count"] > 0


@pytest.fixture
def denier(transactional_db: Any) -> Any:
    return make_athlete("denier@example.com", athlete_id=None)


def test_it_keeps_the_account_usable_after_a_denied_consent(
    product: ServerThread, sandbox: Sandbox, denier: Any, page: Any
) -> None:
    page.goto(product.url + "/accounts/login/")
    page.fill("input[name=login]", "denier@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name=re.compile("sign in", re.I)).click()
    page.wait_for_url(re.compile(r"/dashboard/"))
    page.get_by_role("button", name="Connect Intervals.icu").click()
    page.get_by_role("button", name=re.compile("deny", re.I)).click()
    page.wait_for_url(re.compile(r"/dashboard/"))
    assert "not connected" in page.inner_text(".messages").lower()
    assert "Not connected yet" in page.inner_text("[data-testid=link-status]")
    page.screenshot(path=str(ARTIFACTS / "spine-denied.png"), full_page=True)
