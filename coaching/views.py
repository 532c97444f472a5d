"""The athlete's access log: what their assistant (and coaches) read and wrote, filterable, with undo."""

from __future__ import annotations

from datetime import date, datetime
from typing import cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.core.validators import validate_email
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone as dj_timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from accounts.actions import reveal_token
from accounts.models import McpToken, User
from accounts.token_views import secret_page
from coaching.access import api_key_for, coach_grant_for, grant_for, log_entry_for
from coaching.actions import (
    GrantError,
    accept_invite,
    answer_invite_link,
    attach_coach_tokens,
    decline_invite,
    display_name,
    grant_summary,
    grant_tools,
    grantable_tools,
    inspect_invite_link,
    invite_coach,
    latest_expiry,
    pending_invites,
    remove_athlete,
    revoke_coach,
)
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


def _invite_message(grant: CoachGrant, started: datetime) -> str:
    emailed = grant.invite_sent_at is not None and grant.invite_sent_at >= started
    if not grant.is_pending:
        return f"Updated what {grant.coach_email} may do. It applies from their next request." + (
            " We emailed them the change." if emailed else ""
        )
    if emailed:
        return f"{grant.coach_email} is invited: we emailed them a link to accept. Until they do, they see nothing."
    return (
        f"Updated the invite to {grant.coach_email}. We emailed them less than an hour ago, so no new email went "
        "out; their link shows what you ticked now."
    )


def _ended_by_coach(user: User, live: set[str]) -> list[CoachGrant]:
    """The newest invite each coach declined or grant they removed, unless the athlete invited them since."""
    ended = CoachGrant.objects.filter(
        athlete=user, end_reason__in=[CoachGrant.EndReason.DECLINED, CoachGrant.EndReason.REMOVED]
    ).order_by("-revoked_at")[:50]
    newest: dict[str, CoachGrant] = {}
    for grant in ended:
        if grant.coach_email not in live:
            newest.setdefault(grant.coach_email, grant)
    return list(newest.values())[:10]


@login_required
def coaches(request: HttpRequest) -> HttpResponse:
    """The athlete's coaches: invite one (tools, expiry, hidden data), edit grants, revoke; what coaches
    answered (waiting, declined, removed)."""
    user = cast(User, request.user)
    if request.method == "POST":
        started = dj_timezone.now()
        try:
            tools, hidden, expires = _grant_form(request)
            email = request.POST.get("coach_email", "").strip()
            validate_email(email)
            grant = invite_coach(user, email, tools, hidden=hidden, expires_on=expires)
        except (GrantError, ValidationError) as exc:
            messages.error(request, exc.messages[0] if isinstance(exc, ValidationError) else str(exc))
        else:
            messages.success(request, _invite_message(grant, started))
            return redirect("coaches")
    grants = list(CoachGrant.objects.filter(athlete=user, revoked_at__isnull=True).order_by("coach_email"))
    today = dj_timezone.localdate()
    context = {
        "grants": grants,
        "ended": _ended_by_coach(user, {g.coach_email for g in grants}),
        "groups": grantable_tools(),
        "data_classes": CoachGrant.DataClass.choices,
        "has_link": hasattr(user, "intervals_link"),
        "today": today,
        "latest_expiry": latest_expiry(today),
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
    if grant.is_pending:
        messages.success(request, f"The invite to {grant.coach_email} is withdrawn: its link no longer works.")
    else:
        messages.success(request, f"{grant.coach_email} no longer has access to your data.")
    return redirect("coaches")


@login_required
def coach_dashboard(request: HttpRequest) -> HttpResponse:
    """For a coach with an account: invites waiting for an answer, the athletes they accepted (each can be
    removed), their Intervals.icu roster and their coach URL."""
    user = cast(User, request.user)
    attach_coach_tokens(user)
    token = McpToken.objects.filter(kind=McpToken.Kind.COACH, user=user, revoked_at__isnull=True).first()
    grants = (
        CoachGrant.objects.filter(coach_token=token, revoked_at__isnull=True, accepted_at__isnull=False)
        .select_related("athlete__intervals_link")
        .order_by("pk")
        if token
        else CoachGrant.objects.none()
    )
    context = {
        "token": token,
        "mcp_url": f"{settings.SITE_URL}/mcp/{reveal_token(token)}" if token else None,
        "pending": [
            (g, display_name(g.athlete), grant_summary(g)) for g in pending_invites(token.pk if token else None)
        ],
        "grants": [(g, display_name(g.athlete)) for g in grants],
        "roster": RosterAthlete.objects.filter(coach=user).order_by("name"),
        "api_key": CoachApiKey.objects.filter(coach=user).first(),
    }
    response = render(request, "coaching/coach_dashboard.html", context)
    response["Cache-Control"] = "no-store"
    return response


# --- The coach's answer: the invite link's page, and the coach page's buttons ---------------------------


# csrf_exempt is safe here and needed, as for the token page's links (accounts.token_views): the POST is
# authorised by the signed, single-use secret in the URL, which only the invited mailbox has, and this page
# is no-referrer (the URL is a secret), which makes browsers send `Origin: null` that CSRF would refuse.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def invite_page(request: HttpRequest, signed: str) -> HttpResponse:
    """The invite email's link. GET shows who invites and what the coach could do, with Accept and
    Decline buttons (mail scanners only GET, so they answer nothing); POST answers once."""
    if request.method == "POST":
        link = answer_invite_link(signed, accept=request.POST.get("decision") == "accept")
    else:
        link = inspect_invite_link(signed)
    grant = link.grant
    others = (
        [(g, display_name(g.athlete)) for g in pending_invites(grant.coach_token_id) if g.pk != grant.pk]
        if grant is not None
        else []
    )
    context = {
        "link": link,
        "grant": grant,
        "athlete_name": display_name(grant.athlete) if grant is not None else "",
        "summary": grant_summary(grant) if grant is not None else None,
        "others": others,
        "display_only": True,
    }
    return secret_page(render(request, "coaching/invite.html", context))


@login_required
@require_POST
def answer_invite(request: HttpRequest, grant_id: int) -> HttpResponse:
    """A logged-in coach accepts or declines an invite from their coach page."""
    user = cast(User, request.user)
    grant = coach_grant_for(user, grant_id)
    name = display_name(grant.athlete)
    if not grant.is_pending:
        messages.info(request, f"You already coach {name}.")
    elif request.POST.get("decision") == "accept":
        accept_invite(grant, actor=user)
        messages.success(request, f"You now coach {name}: your coach URL reaches them from its next request.")
    else:
        decline_invite(grant, actor=user)
        messages.success(request, f"You declined {name}'s invite. They see that on their coaches page.")
    return redirect("coach_dashboard")


@login_required
@require_POST
def remove_coached_athlete(request: HttpRequest, grant_id: int) -> HttpResponse:
    """A logged-in coach takes an athlete off their roster (the athlete sees who ended it)."""
    user = cast(User, request.user)
    grant = coach_grant_for(user, grant_id)
    name = display_name(grant.athlete)
    if grant.is_pending:
        decline_invite(grant, actor=user)
    else:
        remove_athlete(grant, actor=user)
    messages.success(request, f"{name} is no longer on your roster: your coach URL stops reaching them at once.")
    return redirect("coach_dashboard")


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
