"""Access follows billing: who may use their MCP URL, the message for those who may not, and the pages."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from accounts import billing
from accounts.models import BillingAccount
from integrations.stripe.fake import FAKE
from tests.billing_helpers import billing_on, commit_each_request, deliver
from tests.conftest import make_athlete
from tests.test_production_stack import ROOT, production_env

__all__ = ["billing_on", "commit_each_request"]

pytestmark = pytest.mark.django_db


def account(user: Any, status: str, plan: str = "athlete_monthly", **fields: Any) -> BillingAccount:
    return BillingAccount.objects.create(
        user=user,
        stripe_customer_id=f"cus_{user.pk}",
        stripe_subscription_id=f"sub_{user.pk}",
        status=status,
        plan=plan,
        **fields,
    )


@pytest.fixture
def people() -> dict[str, Any]:
    return {
        name: make_athlete(f"{name}@example.com", athlete_id=None)
        for name in ("mara", "diego", "aroha", "sam", "newcomer")
    }


def test_it_blocks_nobody_when_billing_is_off(people: dict[str, Any], settings: Any) -> None:
    settings.BILLING_ENABLED = False
    account(people["mara"], "canceled")
    assert billing.mcp_block_reasons(p.pk for p in people.values()) == {}
    assert billing.mcp_block_reasons([people["sam"].pk], coach=True) == {}


@pytest.mark.usefixtures("billing_on")
def test_it_lets_trialing_and_active_athletes_through_and_names_the_page_for_the_rest(
    people: dict[str, Any], django_assert_num_queries: Any, settings: Any
) -> None:
    settings.SITE_URL = "https://threshold.example"
    account(people["mara"], "trialing")
    account(people["diego"], "active")
    account(people["aroha"], "canceled")
    ids = [p.pk for p in people.values()]
    with django_assert_num_queries(1):
        reasons = billing.mcp_block_reasons(ids)
    assert set(reasons) == {people["aroha"].pk, people["sam"].pk, people["newcomer"].pk}
    assert "has ended" in reasons[people["aroha"].pk]
    assert "free trial" in reasons[people["newcomer"].pk]
    for reason in reasons.values():
        assert "https://threshold.example/dashboard/billing/" in reason


@pytest.mark.usefixtures("billing_on")
def test_it_keeps_access_for_the_grace_period_after_a_failed_payment(people: dict[str, Any]) -> None:
    mara, diego = people["mara"], people["diego"]
    account(mara, "past_due", payment_failed_at=timezone.now() - timedelta(days=6))
    account(diego, "past_due", payment_failed_at=timezone.now() - timedelta(days=8))
    reasons = billing.mcp_block_reasons([mara.pk, diego.pk])
    assert list(reasons) == [diego.pk]
    assert "7-day grace period is over" in reasons[diego.pk]


@pytest.mark.usefixtures("billing_on")
def test_it_needs_a_coach_plan_for_an_option_b_coach(people: dict[str, Any]) -> None:
    sam, mara = people["sam"], people["mara"]
    account(sam, "active", plan="coach")
    account(mara, "active", plan="athlete_yearly")
    assert billing.mcp_block_reasons([sam.pk], coach=True) == {}
    reasons = billing.mcp_block_reasons([mara.pk], coach=True)
    assert "coach subscription" in reasons[mara.pk]
    # A coach plan also covers the coach's own athlete URL.
    assert billing.mcp_block_reasons([sam.pk]) == {}


@pytest.mark.usefixtures("billing_on", "commit_each_request")
def test_it_emails_when_a_payment_fails_and_when_the_subscription_ends(people: dict[str, Any]) -> None:
    mara = people["mara"]
    client = Client()
    client.force_login(mara)
    location = client.post("/billing/checkout/", {"plan": "athlete_monthly"})["Location"]
    session_id = location.rstrip("/").rsplit("/", 1)[-1]
    deliver(client, FAKE.complete_checkout(session_id))
    sub_id = FAKE.sessions[session_id]["subscription"]
    mail.outbox.clear()

    deliver(client, FAKE.fail_payment(sub_id))
    assert [m.subject for m in mail.outbox] == ["[Threshold] Your Threshold payment failed"]
    assert "/dashboard/billing/" in mail.outbox[0].body
    assert billing.mcp_block_reasons([mara.pk]) == {}  # still in grace
    state = billing.billing_state(mara)
    assert state.status_label == "Payment failed" and state.grace_until is not None

    deliver(client, FAKE.cancel_now(sub_id))
    assert mail.outbox[-1].subject == "[Threshold] Your Threshold subscription has ended"
    assert len(mail.outbox) == 2
    assert mara.pk in billing.mcp_block_reasons([mara.pk])


@pytest.mark.usefixtures("billing_on", "commit_each_request")
def test_it_shows_status_renewal_and_trial_end_on_the_billing_page(people: dict[str, Any]) -> None:
    mara = people["mara"]
    client = Client()
    client.force_login(mara)
    page = client.get("/dashboard/billing/")
    assert b"Choose a plan" in page.content and b"14-day free trial" in page.content
    location = client.post("/billing/checkout/", {"plan": "athlete_yearly"})["Location"]
    deliver(client, FAKE.complete_checkout(location.rstrip("/").rsplit("/", 1)[-1]))
    page = client.get("/dashboard/billing/?checkout=done").content.decode()
    assert "Free trial" in page and "Athlete · yearly" in page and "Trial ends" in page and "Renews" in page
    assert "Manage billing" in page and "Choose a plan" not in page
    portal = client.post("/billing/portal/")
    assert portal.status_code == 302 and "/billing/fake-stripe/portal/" in portal["Location"]
    dashboard = client.get("/dashboard/").content.decode()
    assert "Free trial" in dashboard and "trial ends" in dashboard


@pytest.mark.usefixtures("billing_on", "commit_each_request")
def test_it_sends_a_live_subscriber_to_the_portal_instead_of_a_second_checkout(people: dict[str, Any]) -> None:
    client = Client()
    client.force_login(people["diego"])
    location = client.post("/billing/checkout/", {"plan": "athlete_monthly"})["Location"]
    deliver(client, FAKE.complete_checkout(location.rstrip("/").rsplit("/", 1)[-1]))
    again = client.post("/billing/checkout/", {"plan": "athlete_monthly"})
    assert "/billing/fake-stripe/portal/" in again["Location"]


def test_it_says_billing_is_off_on_the_billing_page(people: dict[str, Any]) -> None:
    client = Client()
    client.force_login(people["mara"])
    assert b"everything is included" in client.get("/dashboard/billing/").content


def test_it_refuses_to_start_in_production_with_billing_on_and_no_stripe_secrets() -> None:
    env = production_env(BILLING_ENABLED="1", SITE_URL="https://threshold.example")
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "BILLING_ENABLED on; missing: STRIPE_PRICE_ATHLETE_MONTHLY" in result.stderr
    assert "STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET" in result.stderr
