"""Helpers shared by the billing, token and email tests: signed webhooks, on-commit work, the fake Stripe."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
import stripe
from django.test import Client

from integrations.stripe.fake import FAKE

WEBHOOK = "/billing/stripe/webhook/"
SECRET = "whsec_test_threshold"


@pytest.fixture
def billing_on(settings: Any) -> Iterator[None]:
    """Billing enabled against a clean fake Stripe, with a known webhook secret."""
    settings.BILLING_ENABLED = True
    settings.STRIPE_GATEWAY = "fake"
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    settings.STRIPE_LIVEMODE = False
    settings.GRACE_DAYS = 7
    settings.TRIAL_DAYS = 14
    FAKE.reset()
    yield
    FAKE.reset()


@pytest.fixture
def commit_each_request(
    django_capture_on_commit_callbacks: Callable[..., AbstractContextManager[Any]], monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Work queued after commit (emails, webhook processing) runs when each test-client request ends, as a
    real commit would; the test's own transaction never commits."""
    original = Client.request

    def request(self: Client, **kwargs: Any) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return original(self, **kwargs)

    monkeypatch.setattr(Client, "request", request)
    yield


def sign(body: str, *, secret: str = SECRET, timestamp: int | None = None) -> str:
    """A Stripe-Signature header made by the stripe library's own helper."""
    return str(stripe.WebhookSignature.generate_signature_header(body, secret, timestamp=timestamp))


def post_event(client: Client, event: dict[str, Any], **sign_kwargs: Any) -> Any:
    body = json.dumps(event)
    return client.post(WEBHOOK, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=sign(body, **sign_kwargs))


def deliver(client: Client, events: list[dict[str, Any]]) -> list[int]:
    return [post_event(client, event).status_code for event in events]
