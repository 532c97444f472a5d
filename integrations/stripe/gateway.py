"""The one door to Stripe. `get_gateway()` returns the real SDK client or the in-process fake.

Subscriptions come back as plain dicts shaped like Stripe's API objects, so the billing code reads
the same fields whichever side answered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings


class GatewayError(Exception):
    """Stripe could not be reached or refused the call. Callers retry later or tell the user to."""


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str


class StripeGateway(Protocol):
    def create_customer(self, *, email: str, user_id: int) -> str:
        """Create a Customer for `user_id` (idempotent per user) and return its id."""
        ...

    def create_checkout_session(
        self,
        *,
        customer_id: str,
        price_id: str,
        user_id: int,
        trial_days: int,
        success_url: str,
        cancel_url: str,
    ) -> CheckoutSession:
        """A subscription-mode Checkout Session; `trial_days` 0 means no trial."""
        ...

    def create_portal_session(self, *, customer_id: str, return_url: str) -> str:
        """A Customer Portal session; returns the URL to send the customer to."""
        ...

    def retrieve_subscription(self, subscription_id: str) -> dict[str, Any]:
        """The subscription's current state, as Stripe has it now."""
        ...


def get_gateway() -> StripeGateway:
    """The configured gateway: settings.STRIPE_GATEWAY is "stripe" (api.stripe.com) or "fake"."""
    if settings.STRIPE_GATEWAY == "stripe":
        from integrations.stripe.sdk import SdkGateway

        return SdkGateway(settings.STRIPE_SECRET_KEY)
    from integrations.stripe.fake import FakeGateway

    return FakeGateway()
