"""The real gateway: the official `stripe` SDK against api.stripe.com."""

from __future__ import annotations

from typing import Any

import stripe

from integrations.stripe.gateway import CheckoutSession, GatewayError


class SdkGateway:
    def __init__(self, api_key: str) -> None:
        # The SDK retries network errors and 409/429/5xx itself, with idempotency keys on POSTs.
        self._client = stripe.StripeClient(api_key, max_network_retries=2)

    def create_customer(self, *, email: str, user_id: int) -> str:
        try:
            customer = self._client.v1.customers.create(
                params={"email": email, "metadata": {"user_id": str(user_id)}},
                # A double click or a retried request must not leave two customers for one user.
                options={"idempotency_key": f"threshold-customer-{user_id}"},
            )
        except stripe.StripeError as exc:
            raise GatewayError(type(exc).__name__) from exc
        return str(customer.id)

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
        subscription_data: dict[str, Any] = {"metadata": {"user_id": str(user_id)}}
        if trial_days > 0:
            subscription_data["trial_period_days"] = trial_days
        # Any: the SDK's TypedDicts are stricter than the nested literals mypy infers from this dict.
        params: Any = {
            "mode": "subscription",
            "customer": customer_id,
            "client_reference_id": str(user_id),
            "line_items": [{"price": price_id, "quantity": 1}],
            "subscription_data": subscription_data,
            "success_url": success_url,
            "cancel_url": cancel_url,
            "metadata": {"user_id": str(user_id)},
        }
        try:
            session = self._client.v1.checkout.sessions.create(params=params)
        except stripe.StripeError as exc:
            raise GatewayError(type(exc).__name__) from exc
        if not session.url:
            raise GatewayError("checkout session without a URL")
        return CheckoutSession(id=str(session.id), url=str(session.url))

    def create_portal_session(self, *, customer_id: str, return_url: str) -> str:
        try:
            session = self._client.v1.billing_portal.sessions.create(
                params={"customer": customer_id, "return_url": return_url}
            )
        except stripe.StripeError as exc:
            raise GatewayError(type(exc).__name__) from exc
        return str(session.url)

    def retrieve_subscription(self, subscription_id: str) -> dict[str, Any]:
        try:
            subscription = self._client.v1.subscriptions.retrieve(subscription_id)
        except stripe.StripeError as exc:
            raise GatewayError(type(exc).__name__) from exc
        return dict(subscription.to_dict())
