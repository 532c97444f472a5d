"""An in-process stand-in for Stripe: the embedded default and the tests run against it.

It keeps customers, Checkout Sessions and subscriptions in memory (one process, thread-safe), answers
the gateway calls like Stripe would, and plays Stripe's side of the story: completing a Checkout,
cancelling in the Portal, failing a renewal. Each of those returns the webhook events Stripe would
send; `deliver` signs them with the `stripe` library's own helper and POSTs them to our endpoint, so
they take the same path as real ones.
"""

from __future__ import annotations

import copy
import json
import secrets
import threading
import time
from typing import Any

import httpx
import stripe
from django.conf import settings
from django.urls import reverse

from integrations.stripe.gateway import CheckoutSession, GatewayError

_DAY = 86400


def _id(prefix: str) -> str:
    return f"{prefix}_fake_{secrets.token_hex(8)}"


class FakeStripe:
    """Stripe's state, as far as Threshold can see it."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.customers: dict[str, dict[str, Any]] = {}
            self.sessions: dict[str, dict[str, Any]] = {}
            self.portal_sessions: dict[str, dict[str, Any]] = {}
            self.subscriptions: dict[str, dict[str, Any]] = {}
            self.calls: list[str] = []
            self.fail_next: str | None = None  # a gateway method name that should raise once

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if self.fail_next == name:
            self.fail_next = None
            raise GatewayError(f"fake Stripe refused {name}")

    # --- the gateway calls -------------------------------------------------------------------------
    def create_customer(self, *, email: str, user_id: int) -> str:
        with self._lock:
            self._call("create_customer")
            for cid, customer in self.customers.items():
                if customer["metadata"]["user_id"] == str(user_id):
                    return cid  # idempotent per user, like the real gateway's idempotency key
            cid = _id("cus")
            self.customers[cid] = {
                "id": cid,
                "object": "customer",
                "email": email,
                "metadata": {"user_id": str(user_id)},
            }
            return cid

    def create_checkout_session(
        self, *, customer_id: str, price_id: str, user_id: int, trial_days: int, success_url: str, cancel_url: str
    ) -> CheckoutSession:
        with self._lock:
            self._call("create_checkout_session")
            sid = _id("cs")
            self.sessions[sid] = {
                "id": sid,
                "object": "checkout.session",
                "mode": "subscription",
                "customer": customer_id,
                "client_reference_id": str(user_id),
                "price": price_id,
                "trial_days": trial_days,
                "success_url": success_url,
                "cancel_url": cancel_url,
                "status": "open",
                "subscription": None,
                "metadata": {"user_id": str(user_id)},
            }
            url = settings.SITE_URL + reverse("fake_stripe_checkout", args=[sid])
            return CheckoutSession(id=sid, url=url)

    def create_portal_session(self, *, customer_id: str, return_url: str) -> str:
        with self._lock:
            self._call("create_portal_session")
            pid = _id("bps")
            self.portal_sessions[pid] = {"customer": customer_id, "return_url": return_url}
            return settings.SITE_URL + reverse("fake_stripe_portal", args=[pid])

    def retrieve_subscription(self, subscription_id: str) -> dict[str, Any]:
        with self._lock:
            self._call("retrieve_subscription")
            if subscription_id not in self.subscriptions:
                raise GatewayError("No such subscription")
            return copy.deepcopy(self.subscriptions[subscription_id])

    # --- Stripe's side: what customers do on Stripe's pages, and what its billing engine does -------
    def event(self, type_: str, obj: dict[str, Any], *, created: int | None = None) -> dict[str, Any]:
        """A webhook event carrying a snapshot of `obj`, as Stripe builds them."""
        return {
            "id": _id("evt"),
            "object": "event",
            "api_version": "2025-08-27.basil",
            "created": created if created is not None else int(time.time()),
            "livemode": settings.STRIPE_LIVEMODE,
            "type": type_,
            "data": {"object": copy.deepcopy(obj)},
        }

    def complete_checkout(self, session_id: str) -> list[dict[str, Any]]:
        """The customer paid on the Checkout page: a subscription starts (trialing if a trial was asked)."""
        with self._lock:
            session = self.sessions[session_id]
            if session["status"] == "complete":
                return []
            now = int(time.time())
            trial_end = now + session["trial_days"] * _DAY if session["trial_days"] else None
            period_end = trial_end or now + 30 * _DAY
            sub_id = _id("sub")
            subscription = {
                "id": sub_id,
                "object": "subscription",
                "customer": session["customer"],
                "status": "trialing" if trial_end else "active",
                "cancel_at_period_end": False,
                "canceled_at": None,
                "trial_end": trial_end,
                "current_period_end": period_end,
                "metadata": dict(session["metadata"]),
                "items": {
                    "object": "list",
                    "data": [{"id": _id("si"), "current_period_end": period_end, "price": {"id": session["price"]}}],
                },
            }
            self.subscriptions[sub_id] = subscription
            session.update(status="complete", subscription=sub_id)
            invoice = {"id": _id("in"), "object": "invoice", "customer": session["customer"], "subscription": sub_id}
            return [
                self.event("customer.subscription.created", subscription),
                self.event("checkout.session.completed", session),
                self.event("invoice.paid", invoice),
            ]

    def update_subscription(self, sub_id: str, **changes: Any) -> list[dict[str, Any]]:
        with self._lock:
            subscription = self.subscriptions[sub_id]
            price = changes.pop("price", None)
            if price is not None:
                subscription["items"]["data"][0]["price"] = {"id": price}
            subscription.update(changes)
            return [self.event("customer.subscription.updated", subscription)]

    def cancel_now(self, sub_id: str) -> list[dict[str, Any]]:
        with self._lock:
            subscription = self.subscriptions[sub_id]
            subscription.update(status="canceled", canceled_at=int(time.time()))
            return [self.event("customer.subscription.deleted", subscription)]

    def fail_payment(self, sub_id: str) -> list[dict[str, Any]]:
        """A renewal charge was declined: the subscription goes past_due."""
        with self._lock:
            subscription = self.subscriptions[sub_id]
            subscription["status"] = "past_due"
            invoice = {
                "id": _id("in"),
                "object": "invoice",
                "customer": subscription["customer"],
                "subscription": sub_id,
                "attempt_count": 1,
            }
            return [
                self.event("invoice.payment_failed", invoice),
                self.event("customer.subscription.updated", subscription),
            ]

    def subscriptions_of(self, customer_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(s) for s in self.subscriptions.values() if s["customer"] == customer_id]


FAKE = FakeStripe()


class FakeGateway:
    """The StripeGateway protocol, answered by the process-wide FAKE."""

    def create_customer(self, *, email: str, user_id: int) -> str:
        return FAKE.create_customer(email=email, user_id=user_id)

    def create_checkout_session(
        self, *, customer_id: str, price_id: str, user_id: int, trial_days: int, success_url: str, cancel_url: str
    ) -> CheckoutSession:
        return FAKE.create_checkout_session(
            customer_id=customer_id,
            price_id=price_id,
            user_id=user_id,
            trial_days=trial_days,
            success_url=success_url,
            cancel_url=cancel_url,
        )

    def create_portal_session(self, *, customer_id: str, return_url: str) -> str:
        return FAKE.create_portal_session(customer_id=customer_id, return_url=return_url)

    def retrieve_subscription(self, subscription_id: str) -> dict[str, Any]:
        return FAKE.retrieve_subscription(subscription_id)


def signed(event: dict[str, Any], *, secret: str | None = None, timestamp: int | None = None) -> tuple[bytes, str]:
    """The body and Stripe-Signature header Stripe would send for `event`."""
    body = json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(
        body, secret or settings.STRIPE_WEBHOOK_SECRET, timestamp=timestamp
    )
    return body.encode(), header


def deliver(events: list[dict[str, Any]], *, url: str | None = None) -> list[int]:
    """POST each event, signed, to our webhook endpoint over HTTP (like Stripe). Returns the statuses."""
    target = url or settings.SITE_URL + reverse("stripe_webhook")
    statuses = []
    with httpx.Client(timeout=20) as client:
        for event in events:
            body, header = signed(event)
            response = client.post(
                target, content=body, headers={"Stripe-Signature": header, "Content-Type": "application/json"}
            )
            statuses.append(response.status_code)
    return statuses
