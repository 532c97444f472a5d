"""In headless Chromium: subscribe through the fake Checkout, cancel in the fake Portal, resend and regenerate
the MCP URL through the emailed links, regenerate from the dashboard. Every page is screenshotted."""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from django.core import mail
from mcp.client import Client

from accounts import billing
from tests.billing_helpers import billing_on
from tests.conftest import MARA, PASSWORD, Sandbox, ServerThread, make_athlete, mcp_url
from tests.test_browser_spine import ARTIFACTS, page

__all__ = ["billing_on", "page"]

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"billing-tokens-{name}.png"), full_page=True)


def off_loop(fn: Any, *args: Any) -> Any:
    """Run ORM work on a helper thread: Playwright's sync API owns this thread's event loop."""
    from django.db import connection

    def run() -> Any:
        try:
            return fn(*args)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result(timeout=30)


def reasons(user_id: int) -> dict[int, str]:
    return off_loop(billing.mcp_block_reasons, [user_id])  # type: ignore[no-any-return]


def call_tool(url: str, tool: str = "get_training_history") -> Any:
    async def use_it() -> Any:
        async with Client(url, mode="legacy") as client:
            return await client.call_tool(tool, {})

    # Playwright's sync API owns this thread's event loop: run the MCP client on its own thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, use_it()).result(timeout=60)


def log_in(page: Any, product: ServerThread, email: str) -> None:
    page.goto(product.url + "/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name=re.compile("sign in", re.I)).click()
    page.wait_for_url(re.compile(r"/dashboard/"))


def subscribe(page: Any, product: ServerThread) -> None:
    page.get_by_role("link", name=re.compile("Choose a plan")).click()
    page.wait_for_url(re.compile(r"/dashboard/billing/"))
    shot(page, "1-billing-plans")
    page.get_by_role("button", name="Subscribe: Athlete · monthly").click()
    page.wait_for_url(re.compile(r"/billing/fake-stripe/checkout/"))
    shot(page, "2-checkout")
    page.get_by_role("button", name="Start trial").click()
    page.wait_for_url(re.compile(r"/dashboard/billing/\?checkout=done"))
    assert page.inner_text("[data-testid=billing-status]") == "Free trial"
    assert page.inner_text("[data-testid=mcp-access]") == "Working"
    shot(page, "3-billing-trialing")


def cancel(page: Any) -> None:
    page.get_by_role("button", name=re.compile("Manage billing")).click()
    page.wait_for_url(re.compile(r"/billing/fake-stripe/portal/"))
    shot(page, "4-portal")
    page.get_by_role("button", name="Cancel subscription now").click()
    page.wait_for_url(re.compile(r"/dashboard/billing/"))
    assert page.inner_text("[data-testid=billing-status]") == "Cancelled"
    assert page.inner_text("[data-testid=mcp-access]") == "Paused"
    shot(page, "5-billing-cancelled")


@pytest.fixture
def mara(sandbox: Sandbox, product: ServerThread, transactional_db: Any) -> Any:
    user = make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)
    user.url = mcp_url(product, user)  # her MCP URL, issued before the browser starts
    return user


@pytest.mark.usefixtures("billing_on")
def test_it_subscribes_through_checkout_and_the_mcp_url_works(product: ServerThread, mara: Any, page: Any) -> None:
    url = mara.url
    page.goto(product.url + "/")
    shot(page, "0-landing")
    log_in(page, product, "mara@example.com")
    assert "No subscription" in page.inner_text("[data-testid=billing-status]")
    assert mara.pk in reasons(mara.pk)
    subscribe(page, product)
    page.goto(product.url + "/dashboard/")
    assert "Free trial" in page.inner_text("[data-testid=billing-status]")
    shot(page, "3b-dashboard-trialing")
    assert reasons(mara.pk) == {}
    result = call_tool(url)
    assert not result.is_error, result.content
    assert result.structured_content["athlete"]["name"] == {"untrusted": "Mara Lindqvist"}


@pytest.mark.usefixtures("billing_on")
def test_it_pauses_the_url_when_the_subscription_is_cancelled(product: ServerThread, mara: Any, page: Any) -> None:
    log_in(page, product, "mara@example.com")
    subscribe(page, product)
    cancel(page)
    assert "/dashboard/billing/" in page.inner_text("[role=alert]")
    assert f"{product.url}/dashboard/billing/" in reasons(mara.pk)[mara.pk]
    assert "subscription has ended" in mail.outbox[-1].subject


@pytest.mark.usefixtures("billing_on")
def test_it_answers_the_billing_message_over_mcp_after_cancelling(product: ServerThread, mara: Any, page: Any) -> None:
    url = mara.url
    log_in(page, product, "mara@example.com")
    subscribe(page, product)
    cancel(page)
    reason = reasons(mara.pk)[mara.pk]
    for tool in ("whoami", "get_training_history"):
        result = call_tool(url, tool)
        assert result.is_error
        assert reason in " ".join(getattr(c, "text", "") for c in result.content)


def follow_emailed_link(page: Any, button: str) -> None:
    link = re.search(r"https?://\S+/token/confirm/\S+/", mail.outbox[-1].body)
    assert link, mail.outbox[-1].body
    page.goto(link.group(0))
    shot(page, f"token-confirm-{button.split()[-2].lower()}")
    page.get_by_role("button", name=button).click()  # posted from a no-referrer page: Origin is "null"
    page.wait_for_selector("[data-testid=token-done]")


def test_it_resends_and_regenerates_the_url_through_the_emailed_links(
    product: ServerThread, mara: Any, page: Any
) -> None:
    old_url = mara.url
    old_token = old_url.rsplit("/", 1)[-1]
    page.goto(product.url + "/token/")
    shot(page, "token-page")
    page.fill("input[name=email]", "mara@example.com")
    page.get_by_label(re.compile("Resend my URL")).check()
    page.get_by_role("button", name="Email me a confirmation link").click()
    page.wait_for_selector("[data-testid=token-page-sent]")
    shot(page, "token-page-sent")
    follow_emailed_link(page, "Yes, email my URL")
    shot(page, "token-resent")
    assert mail.outbox[-1].subject == "[Threshold] Your Threshold MCP URL"
    assert old_token in mail.outbox[-1].body

    page.goto(product.url + "/token/")
    page.fill("input[name=email]", "mara@example.com")
    page.get_by_label(re.compile("Regenerate my token")).check()
    page.get_by_role("button", name="Email me a confirmation link").click()
    page.wait_for_selector("[data-testid=token-page-sent]")
    follow_emailed_link(page, "Yes, replace my URL")
    shot(page, "token-regenerated")
    new_url = page.input_value(".new-mcp-url")
    assert new_url.startswith(product.url + "/mcp/thr_") and new_url != old_url
    page.get_by_role("button", name="Copy Your MCP URL").click()
    assert page.evaluate("navigator.clipboard.readText()") == new_url

    assert httpx.post(old_url, json={}).status_code == 404  # the old URL stopped at once
    result = call_tool(new_url)
    assert not result.is_error, result.content
    # Following the link again does nothing.
    link = re.search(r"https?://\S+/token/confirm/\S+/", mail.outbox[-2].body)
    assert link and urlsplit(link.group(0)).path.startswith("/token/confirm/")
    page.goto(link.group(0))
    assert "already used" in page.inner_text("main")


def test_it_regenerates_from_the_dashboard_and_shows_the_new_url_once(
    product: ServerThread, mara: Any, page: Any
) -> None:
    old_url = mara.url
    log_in(page, product, "mara@example.com")
    shot(page, "dashboard")
    page.get_by_text("Regenerate your URL").click()
    page.get_by_role("button", name="Regenerate my MCP URL").click()
    page.wait_for_url(re.compile(r"/connect/"))
    assert "Here is your new MCP URL" in page.inner_text("[data-testid=new-url-notice]")
    new_url = page.input_value("#mcp-url")
    assert new_url != old_url and new_url.startswith(product.url + "/mcp/thr_")
    assert new_url in page.inner_text("#cfg-cursor")
    shot(page, "connect-guide")
    assert httpx.post(old_url, json={}).status_code == 404
    page.reload()
    assert page.locator("[data-testid=new-url-notice]").count() == 0  # shown once
    # Logging out from a display-only (no-referrer) page goes through allauth's logout page.
    page.get_by_role("link", name="Log out").click()
    page.get_by_role("button", name=re.compile("sign out", re.I)).click()
    page.wait_for_url(product.url + "/")
