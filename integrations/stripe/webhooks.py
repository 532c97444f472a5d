"""Verify and store incoming Stripe webhooks. Nothing is written unless the signature checks out."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import stripe
from django.conf import settings
from django.db import transaction

from integrations.stripe.models import StripeEvent


class InvalidWebhook(Exception):
    """Unsigned, tampered, stale, malformed, or from the other mode (test vs live). Answer 400."""


def verify(payload: bytes, signature: str | None) -> dict[str, Any]:
    """Return the event as a dict if `signature` (the Stripe-Signature header) is valid for `payload`,
    within the tolerance, and the event's livemode matches ours; raise InvalidWebhook otherwise."""
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise InvalidWebhook("no webhook secret configured")
    try:
        stripe.WebhookSignature.verify_header(
            payload, signature, secret, tolerance=settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS
        )
        event = json.loads(payload)
    except (stripe.SignatureVerificationError, ValueError, UnicodeDecodeError) as exc:
        raise InvalidWebhook(type(exc).__name__) from None
    if (
        not isinstance(event, dict)
        or event.get("object") != "event"
        or not isinstance(event.get("id"), str)
        or not isinstance(event.get("type"), str)
        or not isinstance(event.get("created"), int)
        or not isinstance(event.get("data"), dict)
    ):
        raise InvalidWebhook("not an event")
    if bool(event.get("livemode")) != settings.STRIPE_LIVEMODE:
        # A test-mode event on the live endpoint (or the reverse) is a misconfiguration or an attack.
        raise InvalidWebhook("livemode mismatch")
    return event


def record(event: dict[str, Any]) -> tuple[StripeEvent, bool]:
    """Store a verified event once. Returns (row, created); created is False for a redelivery, including
    one racing the first delivery in another worker (the unique index decides)."""
    with transaction.atomic():
        return StripeEvent.objects.get_or_create(
            event_id=event["id"],
            defaults={
                "type": event["type"],
                "livemode": bool(event.get("livemode")),
                "stripe_created": datetime.fromtimestamp(event["created"], tz=UTC),
                "payload": event,
            },
        )
