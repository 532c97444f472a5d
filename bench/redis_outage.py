"""Redis refused, black-holed or stalled mid-reply: MCP tool-call latency and statuses, and the email and
webhook work recorded during a broker outage, resumed by a real Celery worker once Redis is back.

Run: BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/threshold_bench .venv/bin/python -m bench.redis_outage
     [--calls 60] [--webhooks 20] [--emails 10]
The web process runs in the production shape (DEBUG off, Celery publishing) with REDIS_URL pointing at a
proxy (tests/outage_helpers.FlakyProxy) in front of the bench's Redis database.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from collections import Counter
from typing import Any

import httpx

from bench._support import (
    athlete_token,
    bench_env,
    free_port,
    percentile,
    setup_django,
    start,
    start_sandbox,
    wait_http,
)

HEADERS = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "MCP-Protocol-Version": "2025-11-25",
}
WEBHOOK_SECRET = "whsec_bench_outage"


def call_tools(url: str, calls: int) -> tuple[list[float], Counter[str]]:
    """`calls` tools/call requests, rotating a local tool, an upstream read and a write; latency and outcome."""
    day = dt.datetime.now(dt.UTC).date()
    rotation: list[tuple[str, dict[str, Any]]] = [
        ("whoami", {}),
        ("get_training_history", {}),
        ("add_calendar_note", {"date": (day + dt.timedelta(days=20)).isoformat(), "title": "Bench note"}),
    ]
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    with httpx.Client(headers=HEADERS, timeout=30) as http:
        for i in range(calls):
            name, args = rotation[i % len(rotation)]
            body = {"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": name, "arguments": args}}
            started = time.monotonic()
            try:
                response = http.post(url, json=body)
            except httpx.TimeoutException:
                outcomes["timeout (30 s)"] += 1
                latencies.append(30.0)
                continue
            latencies.append(time.monotonic() - started)
            result = response.json().get("result", {}) if response.status_code == 200 else {}
            outcomes[f"{response.status_code}{' isError' if result.get('isError') else ''}"] += 1
            time.sleep(0.05)
    return latencies, outcomes


def signed_webhook(n: int, user_id: int) -> tuple[bytes, str]:
    import stripe

    from tests.outage_helpers import subscription_event

    body = json.dumps(subscription_event(f"evt_bench_{n}", f"sub_bench_{n}", f"cus_bench_{user_id}", user_id))
    return body.encode(), str(stripe.WebhookSignature.generate_signature_header(body, WEBHOOK_SECRET))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=60)
    parser.add_argument("--webhooks", type=int, default=20)
    parser.add_argument("--emails", type=int, default=10)
    opts = parser.parse_args()

    sandbox, sandbox_url = start_sandbox(latency_ms=0)
    processes = [sandbox]
    try:
        real_redis = bench_env()["REDIS_URL"]
        upstream_port = int(real_redis.rsplit(":", 1)[1].split("/", 1)[0])
        db = real_redis.rsplit("/", 1)[1]
        # Django in this process publishes for real (the sweep) and reads the shared test helpers.
        setup_django(INTERVALS_BASE_URL=sandbox_url, CELERY_TASK_ALWAYS_EAGER="0", OUTBOX_REQUEUE_AFTER_SECONDS="0")
        from tests.outage_helpers import FlakyProxy, SmtpSink, collected_static

        proxy = FlakyProxy(upstream_port)
        sink = SmtpSink()
        proxy_url = f"redis://127.0.0.1:{proxy.port}/{db}"
        from django.conf import settings

        settings.CELERY_BROKER_URL = proxy_url  # the sweep below publishes through the proxy too
        from config.celery import app

        app.conf.broker_url = proxy_url

        _, token, _ = athlete_token(sandbox_url, "bench@example.com")
        port = free_port()
        env = bench_env(
            INTERVALS_BASE_URL=sandbox_url,
            SITE_URL=f"https://127.0.0.1:{port}",
            REDIS_URL=proxy_url,
            CELERY_TASK_ALWAYS_EAGER="0",
            STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
            STRIPE_PRICE_ATHLETE_MONTHLY="price_athlete_monthly",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=str(sink.port),
            EMAIL_USE_TLS="0",
            OUTBOX_REQUEUE_AFTER_SECONDS="0",
            STATIC_ROOT=collected_static(),
        )
        web = start(
            [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port), "config.asgi:application"],
            env,
        )
        processes.append(web)
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/healthz")
        url = f"{base}/mcp/{token}"

        print(f"MCP tools/call, {opts.calls} calls per mode (whoami / get_training_history / add_calendar_note)")
        print(f"{'redis':<11}{'max ms':>9}{'p95 ms':>9}{'p50 ms':>9}  outcomes")
        for mode in ("up", "refused", "blackhole", "stall"):
            proxy.set_mode(mode)
            latencies, outcomes = call_tools(url, opts.calls)
            ms = [v * 1000 for v in latencies]
            summary = ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items()))
            print(f"{mode:<11}{max(ms):>9.0f}{percentile(ms, 95):>9.0f}{percentile(ms, 50):>9.0f}  {summary}")

        # Work arriving while the broker is down: webhooks and signups (each signup records a verification email).
        proxy.set_mode("refused")
        from accounts.models import EmailOutbox
        from integrations.stripe.models import StripeEvent

        statuses: Counter[int] = Counter()
        with httpx.Client(base_url=base, timeout=30) as http:
            from accounts.models import User

            for n in range(opts.webhooks):
                # One subscriber per event: each event is then new information, applied without asking Stripe.
                subscriber = User.objects.create_user(f"subscriber{n}@example.com", "bench-password-1")
                body, signature = signed_webhook(n, subscriber.pk)
                r = http.post(
                    "/billing/stripe/webhook/",
                    content=body,
                    headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
                )
                statuses[r.status_code] += 1
        from accounts.emails import send_verification_email

        for n in range(opts.emails):
            # The code path of a signup's verification email (record_email, then submit), here in-process.
            address = f"newcomer{n}@example.com"
            send_verification_email(address, activate_url=f"{base}/accounts/confirm-email/x{n}/", signup=True)
        pending_emails = EmailOutbox.objects.filter(status="pending").count()
        pending_events = StripeEvent.objects.filter(processed_at__isnull=True).count()
        print(
            f"\nbroker refused: webhooks answered {dict(statuses)}; recorded and pending: "
            f"{pending_events} events, {pending_emails} emails"
        )

        proxy.set_mode("up")
        time.sleep(float(settings.REDIS_RETRY_AFTER_SECONDS) + 0.2)  # this process's circuit period
        worker = start(
            [
                *(sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "--without-gossip"),
                *("--without-mingle", "--without-heartbeat", "--loglevel=WARNING"),
            ],
            env,
        )
        processes.append(worker)
        from accounts.tasks import requeue_stalled_work

        started = time.monotonic()
        swept = requeue_stalled_work()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and (
            EmailOutbox.objects.filter(status="pending").exists()
            or StripeEvent.objects.filter(processed_at__isnull=True).exists()
        ):
            time.sleep(0.2)
        drained = time.monotonic() - started
        second = requeue_stalled_work()
        time.sleep(2.0)
        from accounts.models import AuditEvent

        applied = Counter(
            AuditEvent.objects.filter(action="billing.event_processed").values_list("detail__event_id", flat=True)
        )
        to_counts = Counter(
            line.split(b":", 1)[1].strip().decode()
            for message in sink.delivered
            for line in message.splitlines()
            if line.lower().startswith(b"to:")
        )
        print(f"broker back: sweep queued {swept}, everything handled in {drained:.1f} s, next sweep {second}")
        print(
            f"events processed: {StripeEvent.objects.filter(processed_at__isnull=False).count()}/{pending_events}, "
            f"applied more than once: {sum(1 for c in applied.values() if c > 1)}"
        )
        print(
            f"emails sent: {EmailOutbox.objects.filter(status='sent').count()}/{pending_emails}, "
            f"delivered to the mail server: {len(sink.delivered)}, "
            f"addresses that got more than one: {sum(1 for c in to_counts.values() if c > 1)}"
        )
        proxy.close()
        sink.close()
    finally:
        for proc in processes:
            proc.terminate()
            proc.wait(timeout=20)


if __name__ == "__main__":
    main()
