"""The athlete's access log: what their assistant (and coaches) read and wrote, filterable, with undo."""

from __future__ import annotations

from datetime import date
from typing import cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.core.validators import validate_email
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts.actions import reveal_token
from accounts.models import McpToken, User
from coaching.access import api_key_for, grant_for, log_entry_for
from coaching.actions import GrantError, attach_coach_tokens, grant_tools, grantable_tools, invite_coach, revoke_coach
from coaching.models import AccessLogEntry, CoachApiKey, CoachGrant, RosterAthlete

PAGE_SIZE = 50


@login_required
def access_log(request: HttpRequest) -> HttpResponse:
    user = cast(User, request.user)
    entries = AccessLogEntry.objects.filter(athlete_user=user).select_related("undo_of")
    tool = request.GET.get("tool", "")
    outcome = request.GET.get("outcome", "")
    kind = request.GET.get("kind", "")
    if tool:
        entries = entries.filter(tool=tool)
    if outcome in AccessLogEntry.Outcome.values:
        entries = entries.filter(outcome=outcome)
    if kind == "writes":
        entries = entries.filter(is_write=True)
    elif kind == "reads":
        entries = entries.filter(is_write=False)
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    tools = AccessLogEntry.objects.filter(athlete_user=user).order_by("tool").values_list("tool", flat=True).distinct()
    context = {
        "page": page,
        "tools": list(tools),
        "filters": {"tool": tool, "outcome": outcome, "kind": kind},
        "outcomes": AccessLogEntry.Outcome.choices,
    }
    return render(request, "coaching/access_log.html", context)


@login_required
@require_POST
def undo_log_entry(request: HttpRequest, entry_id: int) -> HttpResponse:
    """Undo one write from the access log (the same action the `undo_last_write` tool runs)."""
    user = cast(User, request.user)
    entry = log_entry_for(user, entry_id)
    if not entry.undoable:
        messages.info(request, "That change cannot be undone (it was already undone, or it was not a write).")
        return redirect("access_log")
    from mcpserver.undo import undo_from_dashboard

    ok, text = undo_from_dashboard(user, entry.pk)
    (messages.success if ok else messages.error)(request, text)
    # Back to where the click came from, but only on this site: never an address another page put in `next`.
    back = request.POST.get("next", "")
    if back and url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(back)
    return redirect("access_log")


def _grant_form(request: HttpRequest) -> tuple[list[str], list[str], date | None]:
    tools = request.POST.getlist("tools")
    hidden = request.POST.getlist("hidden")
    raw = request.POST.get("expires_on", "").strip()
    try:
        expires = date.fromisoformat(raw) if raw else None
    except ValueError:
        raise GrantError("The expiry date is not a valid date.") from None
    return tools, hidden, expires


@login_required
def coaches(request: HttpRequest) -> HttpResponse:
    """The athlete's coaches: invite one (tools, expiry, hidden data), edit grants, revoke."""
    user = cast(User, request.user)
    if request.method == "POST":
        try:
            tools, hidden, expires = _grant_form(request)
            email = request.POST.get("coach_email", "").strip()
            validate_email(email)
            invite_coach(user, email, tools, hidden=hidden, expires_on=expires)
        except (GrantError, ValidationError) as exc:
            messages.error(request, exc.messages[0] if isinstance(exc, ValidationError) else str(exc))
        else:
            messages.success(request, f"{email} is invited: we emailed them their MCP URL and setup steps.")
            return redirect("coaches")
    grants = CoachGrant.objects.filter(athlete=user, revoked_at__isnull=True).order_by("coach_email")
    context = {
        "grants": grants,
        "groups": grantable_tools(),
        "data_classes": CoachGrant.DataClass.choices,
        "has_link": hasattr(user, "intervals_link"),
    }
    return render(request, "coaching/coaches.html", context)


@login_required
@require_POST
def edit_grant(request: HttpRequest, grant_id: int) -> HttpResponse:
    user = cast(User, request.user)
    grant = grant_for(user, grant_id)
    try:
        tools, hidden, expires = _grant_form(request)
        grant_tools(grant, tools, actor=user, hidden=hidden, expires_on=expires)
    except GrantError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Updated what {grant.coach_email} may do. It applies from their next request.")
    return redirect("coaches")


@login_required
@require_POST
def revoke_grant(request: HttpRequest, grant_id: int) -> HttpResponse:
    user = cast(User, request.user)
    grant = grant_for(user, grant_id)
    revoke_coach(grant, actor=user)
    messages.success(request, f"{grant.coach_email} no longer has access to your data.")
    return redirect("coaches")


@login_required
def coach_dashboard(request: HttpRequest) -> HttpResponse:
    """For a coach with an account: the athletes who invited them, with grants, and their coach URL."""
    user = cast(User, request.user)
    attach_coach_tokens(user)
    token = McpToken.objects.filter(kind=McpToken.Kind.COACH, user=user, revoked_at__isnull=True).first()
    grants = (
        CoachGrant.objects.filter(coach_token=token, revoked_at__isnull=True).select_related("athlete")
        if token
        else CoachGrant.objects.none()
    )
    context = {
        "token": token,
        "mcp_url": f"{settings.SITE_URL}/mcp/{reveal_token(token)}" if token else None,
        "grants": grants,
        "roster": RosterAthlete.objects.filter(coach=user).order_by("name"),
        "api_key": CoachApiKey.objects.filter(coach=user).first(),
    }
    response = render(request, "coaching/coach_dashboard.html", context)
    response["Cache-Control"] = "no-store"
    return response


# --- Option B: the coach's Intervals.icu API key and roster --------------------------------------------


@login_required
@require_POST
def coach_api_key(request: HttpRequest) -> HttpResponse:
    """Add or replace the coach's personal Intervals.icu API key; it is checked upstream before storing."""
    from coaching.actions import CoachKeyError, link_coach_api_key

    user = cast(User, request.user)
    try:
        link_coach_api_key(user, request.POST.get("api_key", ""))
    except CoachKeyError as exc:
        messages.error(request, str(exc))
    else:
        count = RosterAthlete.objects.filter(coach=user).count()
        messages.success(request, f"API key saved. Your Intervals.icu roster has {count} athletes (you included).")
    return redirect("coach_dashboard")


@login_required
@require_POST
def coach_roster_refresh(request: HttpRequest) -> HttpResponse:
    """Read the roster again now (queued after commit; with eager Celery it is done on return)."""
    from coaching.actions import request_roster_refresh
    from integrations.intervals.errors import IntervalsError

    user = cast(User, request.user)
    api_key_for(user)
    try:
        request_roster_refresh(user)
    except IntervalsError as exc:
        messages.error(request, f"The roster could not be refreshed: {exc.user_message}")
    else:
        messages.success(request, "Roster refresh requested: new athletes and permissions show up in a moment.")
    return redirect("coach_dashboard")


@login_required
@require_POST
def coach_api_key_remove(request: HttpRequest) -> HttpResponse:
    from coaching.actions import unlink_coach_api_key

    user = cast(User, request.user)
    api_key_for(user)
    unlink_coach_api_key(user)
    messages.success(request, "API key removed. Your Intervals.icu roster no longer reaches your coach URL.")
    return redirect("coach_dashboard")
