"""The athlete's access log: what their assistant (and coaches) read and wrote, filterable, with undo."""

from __future__ import annotations

from typing import cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.models import User
from coaching.access import log_entry_for
from coaching.models import AccessLogEntry

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
    return redirect(request.POST.get("next") or "access_log")
