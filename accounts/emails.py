"""Every email Threshold sends: one function each, rendered from templates/emails/<kind>/.

Each kind has a trio: ``subject.txt``, ``body.txt`` and ``body.html``. A send records the rendered
message in the outbox (encrypted) inside the caller's transaction and queues a Celery task after
commit; if the broker is down the row waits and `accounts.tasks.requeue_stalled_work` queues it
again. So a rolled-back action sends nothing, and a committed one is never silently lost.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.template import Context, Engine
from django.template.loader import render_to_string
from django.urls import reverse

from accounts import crypto
from accounts.models import EmailOutbox

SUBJECT_PREFIX = "[Threshold] "


def outbox_context(key: uuid.UUID | str) -> str:
    # The sealed message is bound to its own row: pasted onto another row it will not decrypt.
    return f"email-outbox:{key}"


def _absolute(name: str) -> str:
    return settings.SITE_URL + reverse(name)


@functools.cache
def _text_engine() -> Engine:
    # Plain-text parts must not be HTML-escaped ("O'Brien", "&" in URLs), so they get their own engine.
    dirs: list[Any] = settings.TEMPLATES[0]["DIRS"]  # type: ignore[assignment]  # settings are untyped
    return Engine(dirs=[str(d) for d in dirs], app_dirs=True, autoescape=False)


def _render(kind: str, context: dict[str, Any]) -> tuple[str, str, str]:
    ctx = {"SITE_NAME": settings.SITE_NAME, "SITE_URL": settings.SITE_URL, "site_url": settings.SITE_URL, **context}
    text_engine = _text_engine()
    subject = " ".join(
        text_engine.get_template(f"emails/{kind}/subject.txt").render(Context(ctx, autoescape=False)).split()
    )
    text = text_engine.get_template(f"emails/{kind}/body.txt").render(Context(ctx, autoescape=False)).strip() + "\n"
    html = render_to_string(f"emails/{kind}/body.html", ctx)
    return SUBJECT_PREFIX + subject, text, html


def record_email(*, kind: str, to_email: str, subject: str, text: str, html: str | None) -> EmailOutbox:
    """Store a rendered email and queue its sending after the surrounding transaction commits."""
    from accounts.tasks import send_outbox_email, submit_after_commit

    key = uuid.uuid4()
    sealed = crypto.encrypt(json.dumps({"subject": subject, "text": text, "html": html}), context=outbox_context(key))
    with transaction.atomic():
        row = EmailOutbox.objects.create(key=key, kind=kind, to_email=to_email, sealed=sealed)
        submit_after_commit(send_outbox_email, row.pk)
    return row


def _send(kind: str, to_email: str, context: dict[str, Any]) -> EmailOutbox:
    subject, text, html = _render(kind, context)
    return record_email(kind=kind, to_email=to_email, subject=subject, text=text, html=html)


# --- one function per email ------------------------------------------------------------------------
def send_verification_email(to_email: str, *, activate_url: str, signup: bool) -> None:
    """Ask the owner of `to_email` to confirm it (allauth's verification, through our outbox)."""
    _send("verification", to_email, {"activate_url": activate_url, "signup": signup})


def send_coach_invite_email(
    to_email: str,
    *,
    inviting_athlete: str,
    athlete_names: Sequence[str],
    mcp_url: str,
    read_tools: Sequence[str],
    write_tools: Sequence[str],
    hidden: Sequence[str] = (),
    expires_on: date | None = None,
    accept_url: str = "",
    changed: bool = False,
) -> None:
    """Tell a coach who invites them and what they will be able to do, with the link to accept.

    `inviting_athlete`: display name of the athlete whose invite triggered this email. `athlete_names`:
    the athletes the coach's URL already reaches (accepted invites). `mcp_url`: the coach's full personal
    URL (a secret: stored encrypted in the outbox until sent, then wiped). `read_tools`/`write_tools`:
    titles of the tools granted; `hidden`: labels of the data classes hidden; `expires_on`: the last day
    of access. `accept_url`: the one-time page where the coach accepts or declines; empty when the invite
    was accepted already. `changed`: the grant existed and was accepted; the email tells what changed.
    Recorded in the caller's transaction and sent by a Celery task after commit.
    """
    _send(
        "coach_invite",
        to_email,
        {
            "inviting_athlete": inviting_athlete,
            "athlete_names": list(athlete_names),
            "mcp_url": mcp_url,
            "read_tools": list(read_tools),
            "write_tools": list(write_tools),
            "hidden": list(hidden),
            "expires_on": expires_on,
            "accept_url": accept_url,
            "changed": changed,
            "guide_url": _absolute("connect_guide"),
            "token_page_url": _absolute("token_page"),
        },
    )


def send_token_confirmation_email(to_email: str, *, action: str, confirm_url: str, expires_minutes: int) -> None:
    """The one-time link that confirms a "resend" or "regenerate" request from the public token page."""
    _send(
        "token_confirmation",
        to_email,
        {"action": action, "confirm_url": confirm_url, "expires_minutes": expires_minutes},
    )


def send_token_resend_email(to_email: str, *, mcp_urls: Sequence[tuple[str, str]]) -> None:
    """The address's current MCP URL(s), unchanged. `mcp_urls`: (label, url) pairs."""
    _send("token_resend", to_email, {"mcp_urls": list(mcp_urls), "guide_url": _absolute("connect_guide")})


def send_token_regenerated_email(to_email: str, *, mcp_urls: Sequence[tuple[str, str]], via: str) -> None:
    """Notice that the MCP URL(s) were replaced (old ones stopped), with the new ones.

    `via`: "dashboard" or "email link", named in the notice so the owner can spot a change they did not make.
    """
    _send(
        "token_regenerated",
        to_email,
        {
            "mcp_urls": list(mcp_urls),
            "via": via,
            "guide_url": _absolute("connect_guide"),
            "token_page_url": _absolute("token_page"),
        },
    )


def send_billing_problem_email(
    to_email: str, *, problem: str, grace_until: datetime | None = None, status: str = ""
) -> None:
    """Payment or subscription trouble. `problem`: "payment_failed" (MCP keeps working until
    `grace_until`) or "subscription_ended" (MCP paused now)."""
    _send(
        "billing_problem",
        to_email,
        {"problem": problem, "grace_until": grace_until, "status": status, "billing_url": _absolute("billing")},
    )
