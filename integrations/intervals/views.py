"""Connect / disconnect Intervals.icu (OAuth 2 authorization-code flow). Views stay thin."""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from urllib.parse import urlencode

from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from integrations.intervals import errors
from integrations.intervals.actions import link_intervals, unlink_intervals
from integrations.intervals.client import Bearer, IntervalsClient

logger = logging.getLogger(__name__)

_SESSION_KEY = "intervals_oauth"


def callback_url() -> str:
    return settings.SITE_URL + reverse("intervals_callback")


@login_required
@require_POST
def connect(request: HttpRequest) -> HttpResponse:
    """Start the OAuth flow: a fresh state, bound to this session, then off to Intervals.icu."""
    state = secrets.token_urlsafe(32)
    request.session[_SESSION_KEY] = {"state": state, "created": time.time()}
    query = urlencode(
        {
            "client_id": settings.INTERVALS_CLIENT_ID,
            "redirect_uri": callback_url(),
            "scope": ",".join(settings.INTERVALS_SCOPES),
            "state": state,
        }
    )
    return HttpResponseRedirect(f"{settings.INTERVALS_BASE_URL}/oauth/authorize?{query}")


def _take_state(request: HttpRequest) -> dict[str, object] | None:
    """Pop the pending state: whatever happens next, it can never be used twice."""
    pending = request.session.pop(_SESSION_KEY, None)
    return pending if isinstance(pending, dict) else None


@login_required
@require_GET
def callback(request: HttpRequest) -> HttpResponse:
    pending = _take_state(request)
    given = request.GET.get("state", "")
    valid_state = (
        pending is not None
        and isinstance(pending.get("state"), str)
        and bool(given)
        and hmac.compare_digest(str(pending["state"]), given)
        and time.time() - float(pending.get("created", 0)) <= settings.INTERVALS_OAUTH_STATE_MAX_AGE  # type: ignore[arg-type]
    )
    if not valid_state:
        messages.error(
            request, "That Intervals.icu connection attempt expired or did not start here. Please try again."
        )
        return redirect("dashboard")
    if request.GET.get("error"):
        if request.GET["error"] == "access_denied":
            messages.info(request, "No problem: Intervals.icu was not connected. You can connect it whenever you like.")
        else:
            messages.error(request, "Intervals.icu did not complete the connection. Please try again.")
        return redirect("dashboard")
    code = request.GET.get("code", "")
    if not code:
        messages.error(request, "Intervals.icu did not send an authorization code. Please try again.")
        return redirect("dashboard")
    try:
        token = async_to_sync(IntervalsClient().exchange_code)(code)
    except errors.IntervalsError as exc:
        logger.warning("intervals connect failed for user %s: %s", request.user.pk, type(exc).__name__)
        messages.error(request, f"Connecting Intervals.icu failed: {exc.user_message}")
        return redirect("dashboard")
    timezone = ""
    try:
        # The athlete record gives the display name and time zone; it needs SETTINGS:READ, which the
        # athlete may have unticked, so the link is stored either way.
        athlete = async_to_sync(IntervalsClient(Bearer(token.access_token)).get_athlete)("0")
        # Upstream models are frozen (parsed answers may be shared): build the named copy.
        named = token.athlete.model_copy(update={"name": athlete.display_name or token.athlete.name})
        token = token.model_copy(update={"athlete": named})
        timezone = athlete.timezone or ""
    except errors.IntervalsError as exc:
        logger.info("intervals athlete read after connect failed: %s", type(exc).__name__)
    link_intervals(request.user, token, timezone=timezone)  # type: ignore[arg-type]
    messages.success(request, f"Connected to Intervals.icu as {token.athlete.name}.")
    return redirect("dashboard")


@login_required
@require_POST
def disconnect(request: HttpRequest) -> HttpResponse:
    upstream_ok = unlink_intervals(request.user)  # type: ignore[arg-type]
    if upstream_ok:
        messages.success(request, "Intervals.icu disconnected. Your Threshold account stays as it was.")
    else:
        messages.warning(
            request,
            "We forgot your Intervals.icu connection, but could not reach Intervals.icu to revoke it there. "
            "You can also remove Threshold under Settings → Connected apps on Intervals.icu.",
        )
    return redirect("dashboard")
