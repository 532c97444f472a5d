"""Billing pages: the subscription page, Checkout and Portal redirects, and the Stripe webhook."""

from __future__ import annotations

import logging
from typing import cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts import billing
from accounts.models import BillingAccount, User
from integrations.stripe import webhooks
from integrations.stripe.gateway import GatewayError

logger = logging.getLogger(__name__)

PLAN_CHOICES = [
    ("athlete_monthly", "Athlete · monthly", "For your own training, billed monthly."),
    ("athlete_yearly", "Athlete · yearly", "For your own training, billed yearly (two months free)."),
    ("coach", "Coach", "Your own Intervals.icu roster (Option B). Coaches you invite are covered by you."),
]


@login_required
def billing_page(request: HttpRequest) -> HttpResponse:
    user = cast(User, request.user)
    outcome = request.GET.get("checkout")
    if outcome == "done":
        messages.success(request, "Thanks! Your subscription is set up; it may take a moment to show here.")
    elif outcome == "cancelled":
        messages.info(request, "Checkout cancelled: nothing was charged.")
    state = billing.billing_state(user)
    context = {
        "state": state,
        "plans": PLAN_CHOICES,
        "trial_days": settings.TRIAL_DAYS,
        "show_plans": state.status not in billing.LIVE | billing.GRACE,
    }
    return render(request, "billing/billing.html", context)


@login_required
@require_POST
def checkout(request: HttpRequest) -> HttpResponse:
    user = cast(User, request.user)
    plan = request.POST.get("plan", "")
    if not settings.BILLING_ENABLED or plan not in BillingAccount.Plan.values:
        return redirect("billing")
    try:
        url = billing.start_checkout(user, plan)
    except GatewayError:
        logger.warning("checkout for user %s failed at Stripe", user.pk)
        messages.error(request, "We could not reach our payment provider. Please try again in a minute.")
        return redirect("billing")
    return HttpResponseRedirect(url)


@login_required
@require_POST
def portal(request: HttpRequest) -> HttpResponse:
    user = cast(User, request.user)
    try:
        url = billing.open_portal(user)
    except BillingAccount.DoesNotExist:
        messages.info(request, "Choose a plan first.")
        return redirect("billing")
    except GatewayError:
        messages.error(request, "We could not reach our payment provider. Please try again in a minute.")
        return redirect("billing")
    return HttpResponseRedirect(url)


# Stripe cannot carry a CSRF token; the signature over the body (checked first) is the authentication.
@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    try:
        event = webhooks.verify(request.body, request.headers.get("Stripe-Signature"))
    except webhooks.InvalidWebhook as exc:
        logger.warning("rejected stripe webhook: %s", exc)
        return HttpResponseBadRequest("invalid signature or payload")
    created = billing.receive_event(event)
    return JsonResponse({"received": True, "duplicate": not created})
