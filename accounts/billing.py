"""Billing: the only code that turns Stripe's view of a customer into limits.

It decides one thing, whether a user's MCP access is paid for, and exposes it as `mcp_block_reasons`
(for the MCP gate) and `billing_state` (for pages). Stripe is reached only through the
`integrations.stripe` seam. With settings.BILLING_ENABLED off (the embedded default) nobody is blocked.

Rules:
- An athlete's URL works while their subscription is `trialing` or `active`, and for GRACE_DAYS after
  a payment first fails (`past_due` / `unpaid`). Coaches they invited are covered by the athlete's
  subscription (the caller asks about the athlete's user id). An Option B coach (own Intervals.icu
  roster) needs a coach plan of their own (`coach=True`).
- Webhook events are processed exactly once, in the transaction that marks them processed. An event
  newer than anything applied is applied from its snapshot; anything else ("unsure": older, same
  second, or not a subscription) is resolved by fetching the subscription from Stripe again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.actions import audit
from accounts.models import BillingAccount, User
from integrations.stripe import webhooks
from integrations.stripe.gateway import GatewayError, get_gateway
from integrations.stripe.models import StripeEvent

logger = logging.getLogger(__name__)

LIVE = frozenset({"trialing", "active"})
GRACE = frozenset({"past_due", "unpaid"})
PLANS = {
    BillingAccount.Plan.ATHLETE_MONTHLY: "STRIPE_PRICE_ATHLETE_MONTHLY",
    BillingAccount.Plan.ATHLETE_YEARLY: "STRIPE_PRICE_ATHLETE_YEARLY",
    BillingAccount.Plan.COACH: "STRIPE_PRICE_COACH",
}
STATUS_LABELS = {
    "": "No subscription",
    "trialing": "Free trial",
    "active": "Active",
    "past_due": "Payment failed",
    "unpaid": "Unpaid",
    "canceled": "Cancelled",
    "incomplete": "Waiting for the first payment",
    "incomplete_expired": "Expired before the first payment",
    "paused": "Paused",
}


class RetryLater(Exception):
    """Stripe could not be asked right now; the event stays unprocessed and is retried."""


def billing_url() -> str:
    """The dashboard page where a user fixes their billing (absolute, for emails and MCP answers)."""
    return settings.SITE_URL + reverse("billing")


def price_id(plan: str) -> str:
    return str(getattr(settings, PLANS[BillingAccount.Plan(plan)]))


def plan_for_price(price: str) -> str:
    for plan, setting in PLANS.items():
        if getattr(settings, setting) == price:
            return str(plan)
    return ""


# --- limits --------------------------------------------------------------------------------------------
def _block_reason(account: BillingAccount | None, *, coach: bool, now: datetime) -> str | None:
    """None when access is paid for; otherwise the user-facing reason, naming the page that fixes it."""
    url = billing_url()
    status = account.status if account is not None else ""
    if account is None or not status:
        if coach:
            return (
                "Coaching athletes from your own Intervals.icu roster needs a Threshold coach subscription. "
                f"Start it at {url} and this MCP URL works right away, nothing to reconfigure."
            )
        return (
            "This Threshold MCP URL needs an active subscription. Start the free trial at "
            f"{url} and it works right away, nothing to reconfigure."
        )
    if coach and account.plan != BillingAccount.Plan.COACH:
        return (
            "Coaching athletes from your own Intervals.icu roster needs a Threshold coach subscription; this "
            f"account has an athlete plan. Switch plans at {url}."
        )
    if status in LIVE:
        return None
    if status in GRACE:
        started = account.payment_failed_at or now
        if now < started + timedelta(days=settings.GRACE_DAYS):
            return None
        return (
            "The last Threshold payment for this account failed and the "
            f"{settings.GRACE_DAYS}-day grace period is over, so this MCP URL is paused. Update the card at "
            f"{url}; the same URL works again as soon as the payment goes through."
        )
    if status == "incomplete":
        return f"The Threshold subscription for this account is waiting for its first payment. Finish it at {url}."
    return (
        f"The Threshold subscription for this account has ended ({STATUS_LABELS.get(status, status).lower()}), "
        f"so this MCP URL is paused. Renew it at {url}; the same URL works again right away."
    )


def block_reason(account: BillingAccount | None, *, coach: bool = False) -> str:
    """`mcp_block_reasons` for one user whose billing row (or None) the caller already loaded: "" when
    access is paid for or billing is off, else the user-facing reason. No query."""
    if not settings.BILLING_ENABLED:
        return ""
    return _block_reason(account, coach=coach, now=timezone.now()) or ""


def mcp_block_reasons(user_ids: Iterable[int], *, coach: bool = False) -> dict[int, str]:
    """The users among `user_ids` whose MCP access billing blocks, each with a clear, user-facing reason
    that names the billing page by its absolute URL. One query; {} when billing is off.

    Ask about the athlete's user id for an athlete's own URL and for the coaches that athlete invited;
    pass `coach=True` with an Option B coach's own user id (only a coach plan covers it).
    """
    return mcp_access(user_ids, coach=coach)[0]


def mcp_access(user_ids: Iterable[int], *, coach: bool = False) -> tuple[dict[int, str], datetime | None]:
    """`mcp_block_reasons`, and the earliest time the clock alone changes one of them (a running grace
    period ending), or None. One query."""
    ids = {int(i) for i in user_ids}
    if not settings.BILLING_ENABLED or not ids:
        return {}, None
    now = timezone.now()
    accounts = {a.user_id: a for a in BillingAccount.objects.filter(user_id__in=ids)}
    reasons = {}
    for uid in ids:
        reason = _block_reason(accounts.get(uid), coach=coach, now=now)
        if reason is not None:
            reasons[uid] = reason
    ends = [end for end in map(access_changes_at, accounts.values()) if end is not None]
    return reasons, min(ends, default=None)


def access_changes_at(account: BillingAccount | None) -> datetime | None:
    """When this account's MCP access changes with no write at all: the end of a grace period still
    running (after a failed payment). None when only a write (a webhook, a plan change) can change it."""
    if not settings.BILLING_ENABLED or account is None or account.status not in GRACE:
        return None
    if account.payment_failed_at is None:
        return None  # grace counted from "now": it never runs out on its own
    end = account.payment_failed_at + timedelta(days=settings.GRACE_DAYS)
    return end if end > timezone.now() else None


@dataclass(frozen=True)
class BillingState:
    """What the billing page and the dashboard show."""

    enabled: bool
    status: str
    status_label: str
    plan: str
    plan_label: str
    renews_on: datetime | None
    trial_ends_on: datetime | None
    cancel_at_period_end: bool
    grace_until: datetime | None
    mcp_blocked_reason: str | None
    has_customer: bool
    trial_available: bool


def billing_state(user: User) -> BillingState:
    account = BillingAccount.objects.filter(user=user).first()
    status = account.status if account else ""
    grace_until = None
    if account is not None and status in GRACE and account.payment_failed_at is not None:
        grace_until = account.payment_failed_at + timedelta(days=settings.GRACE_DAYS)
    plan = account.plan if account else ""
    return BillingState(
        enabled=settings.BILLING_ENABLED,
        status=status,
        status_label=STATUS_LABELS.get(status, status),
        plan=plan,
        plan_label=BillingAccount.Plan(plan).label if plan else "",
        renews_on=account.current_period_end if account and status in LIVE | GRACE else None,
        trial_ends_on=account.trial_end if account and status == "trialing" else None,
        cancel_at_period_end=bool(account and account.cancel_at_period_end),
        grace_until=grace_until,
        mcp_blocked_reason=mcp_block_reasons([user.pk]).get(user.pk),
        has_customer=bool(account and account.stripe_customer_id),
        trial_available=account is None or not account.stripe_subscription_id,
    )


# --- Checkout and Portal -------------------------------------------------------------------------------
def _account_for_update(user: User) -> BillingAccount:
    BillingAccount.objects.get_or_create(user=user)
    return BillingAccount.objects.select_for_update().get(user=user)


@transaction.atomic
def start_checkout(user: User, plan: str) -> str:
    """Begin a subscription to `plan` in Stripe Checkout; returns the URL to send the user to.

    Someone whose subscription is still live is sent to the Portal instead (one subscription each).
    The free trial is offered only to someone who never subscribed. Raises GatewayError.
    """
    account = _account_for_update(user)
    if account.status in LIVE | GRACE and account.stripe_customer_id:
        return open_portal(user)
    if not account.stripe_customer_id:
        account.stripe_customer_id = get_gateway().create_customer(email=user.email, user_id=user.pk)
        account.save(update_fields=["stripe_customer_id"])
    trial_days = settings.TRIAL_DAYS if not account.stripe_subscription_id and plan != "coach" else 0
    session = get_gateway().create_checkout_session(
        customer_id=account.stripe_customer_id,
        price_id=price_id(plan),
        user_id=user.pk,
        trial_days=trial_days,
        success_url=billing_url() + "?checkout=done",
        cancel_url=billing_url() + "?checkout=cancelled",
    )
    audit("billing.checkout_started", actor=user, subject=user, plan=plan, trial_days=trial_days)
    return session.url


def open_portal(user: User) -> str:
    """A Customer Portal URL for `user` (change card, plan, cancel). Raises GatewayError, or
    BillingAccount.DoesNotExist if they never reached Checkout."""
    account = BillingAccount.objects.get(user=user, stripe_customer_id__isnull=False)
    assert account.stripe_customer_id is not None
    return get_gateway().create_portal_session(customer_id=account.stripe_customer_id, return_url=billing_url())


# --- webhooks ------------------------------------------------------------------------------------------
def receive_event(event: dict[str, Any]) -> bool:
    """Store a verified event and, if it is new, queue its processing after commit. False = duplicate."""
    from accounts.tasks import process_stripe_event, submit_after_commit

    with transaction.atomic():
        row, created = webhooks.record(event)
        if created:
            submit_after_commit(process_stripe_event, row.pk)
    return created


def note_event_failure(event_row_id: int, exc: Exception) -> None:
    StripeEvent.objects.filter(pk=event_row_id).update(last_error=f"{type(exc).__name__}: {exc}"[:300])


def process_event(event_row_id: int) -> str:
    """Apply one stored event exactly once. Returns what happened; raises RetryLater when Stripe is
    unreachable (nothing is written then, and the event stays unprocessed)."""
    StripeEvent.objects.filter(pk=event_row_id, processed_at__isnull=True).update(queued_at=timezone.now())
    with transaction.atomic():
        row = StripeEvent.objects.select_for_update().filter(pk=event_row_id).first()
        if row is None or row.processed_at is not None:
            return "already processed"
        row.attempts += 1
        try:
            outcome = _apply_event(row.payload)
        except GatewayError as exc:
            raise RetryLater(str(exc)) from exc
        row.processed_at = timezone.now()
        row.last_error = ""
        row.save(update_fields=["attempts", "processed_at", "last_error"])
        audit(
            "billing.event_processed", actor=None, subject=None, event_id=row.event_id, type=row.type, outcome=outcome
        )
        return outcome


def _subscription_id_of_invoice(invoice: dict[str, Any]) -> str:
    # Older API versions put it at the top; 2025 versions under parent.subscription_details.
    sub = invoice.get("subscription") or (
        ((invoice.get("parent") or {}).get("subscription_details") or {}).get("subscription")
    )
    if isinstance(sub, dict):
        sub = sub.get("id")
    return str(sub or "")


def _apply_event(event: dict[str, Any]) -> str:
    type_ = event["type"]
    obj = event["data"]["object"]
    created = datetime.fromtimestamp(event["created"], tz=UTC)
    if type_ == "checkout.session.completed":
        if obj.get("mode") != "subscription" or not obj.get("subscription"):
            return "ignored: not a subscription checkout"
        _link_customer(str(obj.get("customer") or ""), obj.get("client_reference_id"))
        return _sync(_fetch(str(obj["subscription"])), created=created, fetched=True)
    if type_.startswith("customer.subscription."):
        account = _account_for_subscription(obj)
        if account is not None and account.synced_event_created is not None and created <= account.synced_event_created:
            # Not newer than what we applied: the snapshot may be stale. Ask Stripe for the truth.
            return _sync(_fetch(str(obj["id"])), created=created, fetched=True)
        return _sync(obj, created=created, fetched=False)
    if type_ == "invoice.payment_failed":
        sub_id = _subscription_id_of_invoice(obj)
        if not sub_id:
            return "ignored: invoice without subscription"
        return _sync(_fetch(sub_id), created=created, fetched=True, payment_failed=True)
    if type_ in ("invoice.paid", "invoice.payment_succeeded"):
        sub_id = _subscription_id_of_invoice(obj)
        if not sub_id:
            return "ignored: invoice without subscription"
        return _sync(_fetch(sub_id), created=created, fetched=True)
    return f"ignored: {type_}"


def _fetch(subscription_id: str) -> dict[str, Any]:
    return get_gateway().retrieve_subscription(subscription_id)


def _link_customer(customer_id: str, user_ref: Any) -> None:
    if not customer_id or not str(user_ref or "").isdigit():
        return
    user = User.objects.filter(pk=int(user_ref)).first()
    if user is None:
        return
    account = _account_for_update(user)
    if not account.stripe_customer_id:
        account.stripe_customer_id = customer_id
        account.save(update_fields=["stripe_customer_id"])


def _account_for_subscription(sub: dict[str, Any]) -> BillingAccount | None:
    customer = sub.get("customer")
    customer_id = str(customer.get("id") if isinstance(customer, dict) else customer or "")
    account = BillingAccount.objects.select_for_update().filter(stripe_customer_id=customer_id).first()
    if account is None and customer_id:
        # The subscription can arrive before checkout.session.completed: its metadata names the user.
        user_ref = str((sub.get("metadata") or {}).get("user_id") or "")
        user = User.objects.filter(pk=int(user_ref)).first() if user_ref.isdigit() else None
        if user is not None:
            account = _account_for_update(user)
            if account.stripe_customer_id and account.stripe_customer_id != customer_id:
                return None  # belongs to another customer of this user: never mix them
            account.stripe_customer_id = customer_id
            account.save(update_fields=["stripe_customer_id"])
    return account


def _ts(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), tz=UTC) if value else None


def _period_end(sub: dict[str, Any]) -> datetime | None:
    if sub.get("current_period_end"):
        return _ts(sub["current_period_end"])
    items = (sub.get("items") or {}).get("data") or []
    return _ts(items[0].get("current_period_end")) if items else None  # API 2025-03-31 moved it to items


def _price_of(sub: dict[str, Any]) -> str:
    items = (sub.get("items") or {}).get("data") or []
    price = items[0].get("price") if items else None
    return str((price or {}).get("id") or "") if isinstance(price, dict) else str(price or "")


def _sync(sub: dict[str, Any], *, created: datetime, fetched: bool, payment_failed: bool = False) -> str:
    """Apply a subscription snapshot to its account (locked). `fetched` snapshots are Stripe's current
    state, so they also move the ordering mark forward."""
    account = _account_for_subscription(sub)
    if account is None:
        logger.warning("stripe subscription %s matches no Threshold user", sub.get("id"))
        return "ignored: unknown customer"
    sub_id = str(sub["id"])
    status = str(sub.get("status") or "")
    if account.stripe_subscription_id and account.stripe_subscription_id != sub_id:
        if account.status in LIVE | GRACE and status not in LIVE | GRACE:
            return "ignored: another subscription is current"  # an old subscription's late news
    now = timezone.now()
    was = account.status
    account.stripe_subscription_id = sub_id
    account.status = status
    account.plan = plan_for_price(_price_of(sub)) or account.plan
    account.current_period_end = _period_end(sub)
    account.trial_end = _ts(sub.get("trial_end"))
    account.cancel_at_period_end = bool(sub.get("cancel_at_period_end"))
    first_failure = False
    if status in GRACE or (payment_failed and status not in LIVE):
        if account.payment_failed_at is None:
            account.payment_failed_at = now
            first_failure = True
    elif status in LIVE:
        account.payment_failed_at = None
    if account.synced_event_created is None or created > account.synced_event_created or fetched:
        account.synced_event_created = max(filter(None, [account.synced_event_created, created]))
    account.updated_at = now
    account.save()
    user = account.user
    if was != status:
        audit("billing.status_changed", actor=None, subject=user, old=was, new=status, subscription=sub_id)
    from accounts.emails import send_billing_problem_email

    if first_failure:
        send_billing_problem_email(
            user.email,
            problem="payment_failed",
            grace_until=account.payment_failed_at + timedelta(days=settings.GRACE_DAYS)
            if account.payment_failed_at
            else None,
        )
    elif was in LIVE | GRACE and status not in LIVE | GRACE:
        send_billing_problem_email(user.email, problem="subscription_ended", status=STATUS_LABELS.get(status, status))
    return f"synced: {was or 'none'} -> {status}"
