"""The Stripe webhook: signatures checked before anything is written, each event stored once and processed
exactly once (also under ten concurrent deliveries), out-of-order events resolved by the latest state."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import pytest
from django.test import Client

from accounts import billing
from accounts.models import AuditEvent, BillingAccount
from accounts.tasks import requeue_stalled_work
from integrations.stripe.fake import FAKE
from integrations.stripe.models import StripeEvent
from tests.billing_helpers import WEBHOOK, billing_on, commit_each_request, deliver, post_event, sign
from tests.conftest import ServerThread, make_athlete

__all__ = ["billing_on", "commit_each_request"]  # fixtures used by name

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("billing_on", "commit_each_request")]


def subscribe(client: Client, user: Any, plan: str = "athlete_monthly") -> str:
    """Through our Checkout view and the fake's Checkout page; returns the subscription id."""
    client.force_login(user)
    response = client.post("/billing/checkout/", {"plan": plan})
    assert response.status_code == 302 and "/billing/fake-stripe/checkout/" in response["Location"]
    session_id = response["Location"].rstrip("/").rsplit("/", 1)[-1]
    assert deliver(client, FAKE.complete_checkout(session_id)) == [200, 200, 200]
    return str(FAKE.sessions[session_id]["subscription"])


def processed(event_id: str) -> int:
    return AuditEvent.objects.filter(action="billing.event_processed", detail__event_id=event_id).count()


@pytest.fixture
def mara() -> Any:
    return make_athlete("mara@example.com", athlete_id=None)


def a_subscription_event(mara: Any, **overrides: Any) -> dict[str, Any]:
    client = Client()
    sub_id = subscribe(client, mara)
    return FAKE.event("customer.subscription.updated", FAKE.subscriptions[sub_id], **overrides)


def test_it_rejects_an_unsigned_webhook_and_writes_nothing() -> None:
    body = json.dumps(FAKE.event("customer.subscription.updated", {"id": "sub_x", "customer": "cus_x"}))
    response = Client().post(WEBHOOK, body, content_type="application/json")
    assert response.status_code == 400
    assert not StripeEvent.objects.exists()


def test_it_rejects_a_tampered_body_and_writes_nothing() -> None:
    event = FAKE.event("customer.subscription.updated", {"id": "sub_x", "customer": "cus_x", "status": "canceled"})
    body = json.dumps(event)
    header = sign(body)
    tampered = body.replace('"canceled"', '"active"')
    response = Client().post(WEBHOOK, tampered, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)
    assert response.status_code == 400
    assert not StripeEvent.objects.exists()


def test_it_rejects_a_stale_signature_and_writes_nothing() -> None:
    event = FAKE.event("customer.subscription.updated", {"id": "sub_x", "customer": "cus_x"})
    response = post_event(Client(), event, timestamp=int(time.time()) - 301)  # outside Stripe's 5 minutes
    assert response.status_code == 400
    assert not StripeEvent.objects.exists()


def test_it_rejects_a_signature_made_with_another_secret() -> None:
    event = FAKE.event("customer.subscription.updated", {"id": "sub_x", "customer": "cus_x"})
    response = post_event(Client(), event, secret="whsec_someone_else")
    assert response.status_code == 400
    assert not StripeEvent.objects.exists()


def test_it_rejects_a_live_event_on_a_test_mode_server() -> None:
    event = FAKE.event("customer.subscription.updated", {"id": "sub_x", "customer": "cus_x"})
    event["livemode"] = True
    response = post_event(Client(), event)
    assert response.status_code == 400
    assert not StripeEvent.objects.exists()


def test_it_needs_no_csrf_token_but_only_accepts_post() -> None:
    client = Client(enforce_csrf_checks=True)
    event = FAKE.event("ping", {"id": "x"})
    assert post_event(client, event).status_code == 200
    assert client.get(WEBHOOK).status_code == 405


def test_it_subscribes_through_checkout_and_records_the_trial(mara: Any) -> None:
    subscribe(Client(), mara)
    account = BillingAccount.objects.get(user=mara)
    assert account.status == "trialing"
    assert account.plan == "athlete_monthly"
    assert account.trial_end is not None and account.current_period_end is not None
    assert StripeEvent.objects.filter(processed_at__isnull=False).count() == 3
    assert billing.mcp_block_reasons([mara.pk]) == {}


def test_it_stores_and_processes_a_redelivered_event_once(mara: Any) -> None:
    event = a_subscription_event(mara)
    client = Client()
    first, second = post_event(client, event), post_event(client, event)
    assert first.status_code == second.status_code == 200
    assert first.json()["duplicate"] is False and second.json()["duplicate"] is True
    assert StripeEvent.objects.filter(event_id=event["id"]).count() == 1
    assert processed(event["id"]) == 1


def test_it_resolves_out_of_order_events_by_the_latest_state(mara: Any) -> None:
    client = Client()
    sub_id = subscribe(client, mara)
    now = int(time.time())
    active = FAKE.event("customer.subscription.updated", FAKE.subscriptions[sub_id], created=now + 10)
    [cancelled] = FAKE.cancel_now(sub_id)
    cancelled["created"] = now + 20
    # Stripe delivers the cancellation first, then the older "active" snapshot.
    assert deliver(client, [cancelled, active]) == [200, 200]
    FAKE.calls.clear()
    assert BillingAccount.objects.get(user=mara).status == "canceled"
    assert mara.pk in billing.mcp_block_reasons([mara.pk])


def test_it_asks_stripe_again_when_two_events_share_a_second(mara: Any) -> None:
    client = Client()
    sub_id = subscribe(client, mara)
    now = int(time.time()) + 30
    active = FAKE.event("customer.subscription.updated", FAKE.subscriptions[sub_id], created=now)
    [cancelled] = FAKE.cancel_now(sub_id)
    cancelled["created"] = now
    FAKE.calls.clear()
    assert deliver(client, [cancelled, active]) == [200, 200]
    # The second snapshot was not newer than what we had: Stripe's current state decided, not the snapshot.
    assert FAKE.calls == ["retrieve_subscription"]
    assert BillingAccount.objects.get(user=mara).status == "canceled"


def test_it_keeps_an_event_for_later_when_stripe_is_unreachable(mara: Any, settings: Any) -> None:
    client = Client()
    sub_id = subscribe(client, mara)
    [failed, _updated] = FAKE.fail_payment(sub_id)
    FAKE.fail_next = "retrieve_subscription"  # the invoice event needs a fresh read of the subscription
    assert post_event(client, failed).status_code == 200  # stored: Stripe must not redeliver forever
    row = StripeEvent.objects.get(event_id=failed["id"])
    assert row.processed_at is None and "refused retrieve_subscription" in row.last_error
    assert BillingAccount.objects.get(user=mara).payment_failed_at is None

    settings.OUTBOX_REQUEUE_AFTER_SECONDS = 0
    assert requeue_stalled_work()["events"] == 1
    row.refresh_from_db()
    assert row.processed_at is not None
    account = BillingAccount.objects.get(user=mara)
    assert account.status == "past_due" and account.payment_failed_at is not None


def test_it_processes_one_stored_event_once_under_ten_concurrent_tasks(mara: Any) -> None:
    event = a_subscription_event(mara)
    row, _ = StripeEvent.objects.get_or_create(
        event_id=event["id"], defaults={"type": event["type"], "stripe_created": "2026-01-01T00:00Z", "payload": event}
    )
    outcomes = [billing.process_event(row.pk) for _ in range(10)]
    assert sum(o.startswith("synced") for o in outcomes) == 1
    assert outcomes.count("already processed") == 9


@pytest.mark.django_db(transaction=True)
def test_it_processes_ten_concurrent_deliveries_of_one_event_exactly_once(product: ServerThread) -> None:
    mara = make_athlete("mara@example.com", athlete_id=None)
    event = a_subscription_event(mara)
    body = json.dumps(event)
    header = sign(body)
    barrier = threading.Barrier(10)
    statuses: list[int] = []

    def deliver_once() -> None:
        barrier.wait()
        response = httpx.post(product.url + WEBHOOK, content=body, headers={"Stripe-Signature": header}, timeout=30)
        statuses.append(response.status_code)

    threads = [threading.Thread(target=deliver_once) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 10
    assert StripeEvent.objects.filter(event_id=event["id"]).count() == 1
    assert StripeEvent.objects.get(event_id=event["id"]).processed_at is not None
    assert processed(event["id"]) == 1
