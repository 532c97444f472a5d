"""Redis down, black-holed or stalled mid-reply: the product keeps answering within 2 s, never 500 or hangs;
each limiter fails in its documented direction; emails and webhooks are kept in PostgreSQL and handled
exactly once when Redis is back.

The product runs in the production shape (DEBUG off, uvicorn, Celery publishing for real) with REDIS_URL
pointing at a proxy the test switches between up, refused, black hole and stall (tests/outage_helpers.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from mcp.client import Client

from accounts.models import AuditEvent, BillingAccount, EmailOutbox
from integrations.stripe.models import StripeEvent
from tests.billing_helpers import sign
from tests.conftest import MARA, Sandbox, free_port, make_athlete
from tests.outage_helpers import (
    FlakyProxy,
    Proc,
    SmtpSink,
    private_redis,
    stack_env,
    start_web,
    start_worker,
    subscription_event,
    wait_for,
)

__all__ = ["private_redis"]  # fixture used by name

pytestmark = pytest.mark.django_db(transaction=True)

WEBHOOK_SECRET = "whsec_outage_test"
BUDGET_SECONDS = 2.0


@pytest.fixture(scope="module")
def flaky(private_redis: int) -> Iterator[FlakyProxy]:
    proxy = FlakyProxy(private_redis)
    yield proxy
    proxy.close()


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    yield sink
    sink.close()


@pytest.fixture(scope="module")
def web(
    flaky: FlakyProxy, smtp: SmtpSink, sandbox: Sandbox, django_db_setup: None, django_db_blocker: Any
) -> Iterator[str]:
    """One production-shape web process for the module; its Redis is the flaky proxy."""
    port = free_port()
    env = stack_env(
        REDIS_URL=flaky.url(0),
        SITE_URL=f"https://127.0.0.1:{port}",
        INTERVALS_BASE_URL=sandbox.url,
        EMAIL_PORT=str(smtp.port),
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        # Probe Redis again every second, so each mode below is met by several fresh probes.
        REDIS_RETRY_AFTER_SECONDS="1",
        MCP_TOKEN_CALLS_PER_MINUTE="100000",
        MCP_TOKEN_BURST="10000",
    )
    proc = start_web(env, port)
    yield f"http://127.0.0.1:{port}"
    proc.stop()


@pytest.fixture(autouse=True)
def _redis_back_up(flaky: FlakyProxy, private_redis: int) -> Iterator[None]:
    flaky.set_mode("up")
    redis.Redis(port=private_redis).flushall()
    yield
    flaky.set_mode("up")


def athlete_url(web: str, user: Any) -> str:
    from accounts.actions import ensure_athlete_token, reveal_token

    row = ensure_athlete_token(user)
    assert row is not None
    return f"{web}/mcp/{reveal_token(row)}"


def _future_day(days: int) -> str:
    return (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=days)).isoformat()


async def _timed_calls(url: str, calls: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, float, bool]]:
    """Run each call in one MCP session; (tool, seconds, is_error). A hang fails the test, not the run."""
    out: list[tuple[str, float, bool]] = []
    async with asyncio.timeout(60):
        async with Client(url) as client:
            for name, args in calls:
                started = time.monotonic()
                result = await asyncio.wait_for(client.call_tool(name, args), timeout=10)
                out.append((name, time.monotonic() - started, result.is_error))
                await asyncio.sleep(0.25)  # spread over several circuit periods (1 s in this web process)
    return out


@pytest.mark.parametrize("mode", ["refused", "blackhole", "stall"])
def test_it_answers_an_athletes_tool_calls_within_two_seconds_while_redis_is(
    mode: str, web: str, flaky: FlakyProxy, sandbox: Sandbox
) -> None:
    mara = make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)
    url = athlete_url(web, mara)
    flaky.set_mode(mode)
    calls: list[tuple[str, dict[str, Any]]] = []
    for i in range(4):
        calls += [
            ("whoami", {}),
            ("get_training_history", {}),
            ("add_calendar_note", {"date": _future_day(10 + i), "title": f"Outage note {i}"}),
        ]
    timings = asyncio.run(_timed_calls(url, calls))
    slowest = max(seconds for _, seconds, _ in timings)
    assert slowest < BUDGET_SECONDS, timings
    # Tools need no Redis to be right: every one of them succeeded, reads and writes alike.
    assert not [t for t in timings if t[2]], timings


def test_it_uses_the_shared_cache_again_once_redis_is_back(
    web: str, flaky: FlakyProxy, sandbox: Sandbox, private_redis: int
) -> None:
    """While Redis is away the read cache is bypassed (nothing half-stored); after it the circuit closes by
    itself and answers are shared through Redis again."""
    mara = make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)
    url = athlete_url(web, mara)
    flaky.set_mode("blackhole")
    asyncio.run(_timed_calls(url, [("get_training_history", {})] * 2))
    real = redis.Redis(port=private_redis)
    assert not real.keys("*icu:c:e:*")
    flaky.set_mode("up")
    time.sleep(1.2)  # the web process's circuit period
    asyncio.run(_timed_calls(url, [("get_training_history", {})] * 2))
    assert real.keys("*icu:c:e:*")


class Browser:
    """httpx with its own cookie handling: DEBUG-off cookies are Secure, and the proxy header says https."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.cookies: dict[str, str] = {}
        https_origin = base.replace("http://", "https://")
        self.http = httpx.Client(
            base_url=base, timeout=10, headers={"X-Forwarded-Proto": "https", "Origin": https_origin}
        )

    def request(self, method: str, path: str, data: dict[str, str] | None = None) -> tuple[httpx.Response, float]:
        if data is not None:
            data = {"csrfmiddlewaretoken": self.cookies.get("csrftoken", ""), **data}
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        started = time.monotonic()
        response = self.http.request(method, path, data=data, headers={"Cookie": cookie} if cookie else {})
        elapsed = time.monotonic() - started
        for header in response.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return response, elapsed


@pytest.mark.parametrize("mode", ["refused", "blackhole"])
def test_it_keeps_the_pages_up_and_limits_in_their_documented_direction_while_redis_is(
    mode: str, web: str, flaky: FlakyProxy
) -> None:
    make_athlete("aroha@example.com", athlete_id=None)
    flaky.set_mode(mode)
    browser = Browser(web)
    seen: list[tuple[str, int, float]] = []

    def visit(method: str, path: str, data: dict[str, str] | None = None) -> httpx.Response:
        response, elapsed = browser.request(method, path, data)
        seen.append((path, response.status_code, elapsed))
        return response

    visit("GET", "/accounts/login/")
    # allauth's login limits count per process while Redis is away (fail open to a per-process bound).
    login = visit("POST", "/accounts/login/", {"login": "aroha@example.com", "password": "correct-horse-battery-42"})
    assert login.status_code == 302 and login.headers["location"] == "/dashboard/", seen
    assert visit("GET", "/dashboard/").status_code == 200
    visit("GET", "/token/")
    # The page that sends email fails closed: a defined 503, not a 500 and not an unlimited mailer.
    token = visit("POST", "/token/", {"email": "aroha@example.com", "action": "resend"})
    assert token.status_code == 503 and b"briefly unavailable" in token.content
    browser = Browser(web)  # a newcomer, not signed in
    visit("GET", "/accounts/signup/")
    signup = visit(
        "POST",
        "/accounts/signup/",
        {
            "email": f"tane-{mode}@example.com",
            "password1": "a-long-enough-pass-42",
            "password2": "a-long-enough-pass-42",
        },
    )
    assert signup.status_code == 302, seen
    assert [status for _, status, _ in seen if status >= 500] == [503], seen  # the token page's, nothing else
    assert max(elapsed for _, _, elapsed in seen) < BUDGET_SECONDS, seen
    # The verification email is kept, waiting for the broker.
    assert EmailOutbox.objects.get(to_email=f"tane-{mode}@example.com").status == "pending"


def _sweep(env: dict[str, str]) -> dict[str, int]:
    """What beat's requeue-stalled-work entry runs every minute, here on demand in its own process."""
    code = "import json; from accounts.tasks import requeue_stalled_work as s; print(json.dumps(s()))"
    proc = Proc("sweep", [sys.executable, "manage.py", "shell", "-c", code], env)
    assert proc.popen.wait(timeout=60) == 0, proc.log()
    counts: dict[str, int] = json.loads(proc.log().strip().splitlines()[-1])
    return counts


def _queued(client: redis.Redis) -> list[str]:
    """Task names waiting in the broker's default queue."""
    return [json.loads(raw)["headers"]["task"] for raw in client.lrange("celery", 0, -1)]


@pytest.mark.parametrize("mode", ["refused", "stall"])
def test_it_keeps_an_email_and_a_webhook_through_a_broker_outage_and_handles_each_once_after(
    mode: str, web: str, flaky: FlakyProxy, smtp: SmtpSink, private_redis: int
) -> None:
    """ "stall" is the nasty case: the publish reaches Redis but its reply never comes back, so the sender
    believes it failed while the message is queued, and the sweep queues it a second time."""
    wiremu = make_athlete("wiremu@example.com", athlete_id=None)
    real = redis.Redis(port=private_redis)
    delivered_before = len(smtp.delivered)
    password = "a-long-enough-pass-42"
    if mode == "stall":
        # Warm the web process's broker connection while Redis is up (a signup publishes its email), so
        # the webhook's publish below goes out on it and its reply is what gets lost.
        warm = Browser(web)
        warm.request("GET", "/accounts/signup/")
        warm.request(
            "POST",
            "/accounts/signup/",
            {"email": f"pita-{mode}@example.com", "password1": password, "password2": password},
        )
        assert _queued(real) == ["accounts.tasks.send_outbox_email"]
    flaky.set_mode(mode)
    browser = Browser(web)
    browser.request("GET", "/accounts/signup/")
    signup, _ = browser.request(
        "POST", "/accounts/signup/", {"email": f"hemi-{mode}@example.com", "password1": password, "password2": password}
    )
    assert signup.status_code == 302
    time.sleep(1.2)  # past the web process's circuit period: the webhook's publish really tries Redis
    body = json.dumps(
        subscription_event(f"evt_outage_{wiremu.pk}", f"sub_outage_{wiremu.pk}", f"cus_outage_{wiremu.pk}", wiremu.pk)
    )
    webhook = httpx.post(
        f"{web}/billing/stripe/webhook/",
        content=body,
        headers={"Stripe-Signature": sign(body, secret=WEBHOOK_SECRET), "Content-Type": "application/json"},
        timeout=10,
    )
    assert webhook.status_code == 200 and webhook.json()["duplicate"] is False
    email = EmailOutbox.objects.get(to_email=f"hemi-{mode}@example.com")
    event = StripeEvent.objects.get(event_id=f"evt_outage_{wiremu.pk}")
    assert email.status == "pending" and event.processed_at is None  # recorded in PostgreSQL, not yet done

    flaky.set_mode("up")
    env = stack_env(
        REDIS_URL=flaky.url(0),
        EMAIL_PORT=str(smtp.port),
        OUTBOX_REQUEUE_AFTER_SECONDS="0",
        STRIPE_PRICE_ATHLETE_MONTHLY="price_athlete_monthly",
    )
    assert _sweep(env)["events"] == 1  # beat's sweep, once Redis answers again
    # Refused: the sweep's message is the only one. Stall: the webhook's publish reached Redis although the
    # web process saw it fail, so the event is queued twice; it must still be applied once.
    assert _queued(real).count("accounts.tasks.process_stripe_event") == (2 if mode == "stall" else 1)
    worker = start_worker(env, f"outage-{mode}")
    try:
        wait_for(lambda: EmailOutbox.objects.get(pk=email.pk).status == "sent", 60, "the email to be sent", worker)
        wait_for(
            lambda: StripeEvent.objects.get(pk=event.pk).processed_at is not None, 60, "the event processed", worker
        )
        wait_for(lambda: not real.llen("celery") and not real.hlen("unacked"), 30, "the queue to drain", worker)
        assert _sweep(env) == {"emails": 0, "events": 0}  # beat's next minute finds nothing left to do
    finally:
        worker.stop()
    sent_to_hemi = [m for m in smtp.delivered[delivered_before:] if re.search(f"hemi-{mode}@example\\.com".encode(), m)]
    assert len(sent_to_hemi) == 1, len(sent_to_hemi)
    assert BillingAccount.objects.get(user=wiremu).status == "active"
    processed = AuditEvent.objects.filter(action="billing.event_processed", detail__event_id=event.event_id)
    assert processed.count() == 1
