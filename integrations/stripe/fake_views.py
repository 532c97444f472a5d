"""Stand-ins for Stripe's hosted Checkout and Customer Portal pages (embedded default and tests only).

Mounted only while the fake gateway is in use with DEBUG on or under test (config/urls.py). What the customer does
here changes the fake's state and sends the resulting webhook events to our endpoint, signed, over HTTP.
"""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from integrations.stripe.fake import FAKE, deliver

PLAN_NAMES = {
    "STRIPE_PRICE_ATHLETE_MONTHLY": "Athlete · monthly",
    "STRIPE_PRICE_ATHLETE_YEARLY": "Athlete · yearly",
    "STRIPE_PRICE_COACH": "Coach · monthly",
}


def _plan_name(price_id: str) -> str:
    for setting, name in PLAN_NAMES.items():
        if getattr(settings, setting) == price_id:
            return name
    return price_id


@require_http_methods(["GET", "POST"])
def checkout(request: HttpRequest, session_id: str) -> HttpResponse:
    session = FAKE.sessions.get(session_id)
    if session is None:
        raise Http404("No such Checkout Session")
    if request.method == "POST":
        deliver(FAKE.complete_checkout(session_id))
        return HttpResponseRedirect(session["success_url"])
    context = {"session": session, "plan_name": _plan_name(session["price"])}
    return render(request, "billing/fake_checkout.html", context)


@require_http_methods(["GET", "POST"])
def portal(request: HttpRequest, portal_id: str) -> HttpResponse:
    portal_session = FAKE.portal_sessions.get(portal_id)
    if portal_session is None:
        raise Http404("No such portal session")
    subscriptions = FAKE.subscriptions_of(portal_session["customer"])
    live = [s for s in subscriptions if s["status"] not in ("canceled", "incomplete_expired")]
    if request.method == "POST":
        action = request.POST.get("action", "")
        sub_id = request.POST.get("subscription", "")
        if sub_id not in {s["id"] for s in live}:
            raise Http404("No such subscription")
        if action == "cancel_now":
            deliver(FAKE.cancel_now(sub_id))
        elif action == "cancel_at_period_end":
            deliver(FAKE.update_subscription(sub_id, cancel_at_period_end=True))
        elif action == "resume":
            deliver(FAKE.update_subscription(sub_id, cancel_at_period_end=False))
        elif action == "fail_payment":
            deliver(FAKE.fail_payment(sub_id))
        elif action in ("switch_monthly", "switch_yearly"):
            price = (
                settings.STRIPE_PRICE_ATHLETE_MONTHLY
                if action == "switch_monthly"
                else settings.STRIPE_PRICE_ATHLETE_YEARLY
            )
            deliver(FAKE.update_subscription(sub_id, price=price))
        return HttpResponseRedirect(portal_session["return_url"])
    rows = [{"sub": s, "plan_name": _plan_name(s["items"]["data"][0]["price"]["id"])} for s in live]
    return render(request, "billing/fake_portal.html", {"rows": rows, "return_url": portal_session["return_url"]})
