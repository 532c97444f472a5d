"""Emails: one function and a subject/text/HTML trio each, recorded before queueing, sent after commit,
never lost to a Redis outage, and never kept in clear text."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.core import mail
from django.db import transaction
from django.test import Client
from django.utils import timezone
from kombu.exceptions import OperationalError

from accounts import emails
from accounts.models import EmailOutbox
from accounts.tasks import requeue_stalled_work, send_outbox_email
from tests.billing_helpers import commit_each_request
from tests.conftest import PASSWORD

__all__ = ["commit_each_request"]

pytestmark = pytest.mark.django_db(transaction=True)

MCP_URL = "https://threshold.example/mcp/thr_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHxyzABC"


def send_each() -> None:
    emails.send_verification_email(
        "new@example.com", activate_url="https://t.example/accounts/confirm-email/k/", signup=True
    )
    emails.send_coach_invite_email(
        "coach.sam@example.com",
        inviting_athlete="Mara O'Brien",
        athlete_names=["Mara O'Brien", "Diego Alvarez"],
        mcp_url=MCP_URL,
        read_tools=["Training history", "Fitness, fatigue and form"],
        write_tools=[],
        accept_url="https://t.example/coach/invite/abc/",
    )
    emails.send_token_confirmation_email(
        "mara@example.com", action="regenerate", confirm_url="https://t.example/token/confirm/abc/", expires_minutes=60
    )
    emails.send_token_resend_email("mara@example.com", mcp_urls=[("Your MCP URL", MCP_URL)])
    emails.send_token_regenerated_email("mara@example.com", mcp_urls=[("Your MCP URL", MCP_URL)], via="dashboard")
    emails.send_billing_problem_email(
        "mara@example.com", problem="payment_failed", grace_until=timezone.now() + timedelta(days=7)
    )
    emails.send_billing_problem_email("mara@example.com", problem="subscription_ended", status="Cancelled")


def test_it_sends_every_email_with_a_subject_a_text_and_an_html_part() -> None:
    send_each()
    subjects = [m.subject for m in mail.outbox]
    assert subjects == [
        "[Threshold] Confirm your email address",
        "[Threshold] Mara O'Brien invited you to coach them on Threshold",
        "[Threshold] Confirm: replace your MCP URL",
        "[Threshold] Your Threshold MCP URL",
        "[Threshold] Your Threshold MCP URL was replaced",
        "[Threshold] Your Threshold payment failed",
        "[Threshold] Your Threshold subscription has ended",
    ]
    for message in mail.outbox:
        [(html, mime)] = message.alternatives
        assert mime == "text/html" and html.lstrip().startswith("<!doctype html>")
        assert "&#x27;" not in message.body and "&amp;" not in message.body  # plain text is not HTML-escaped
    invite = mail.outbox[1]
    assert MCP_URL in invite.body and MCP_URL in invite.alternatives[0][0]
    assert "Claude" in invite.body and "ChatGPT" in invite.body and "Fitness, fatigue and form" in invite.body
    assert "https://t.example/coach/invite/abc/" in invite.body, "the invite carries its accept link"
    assert "O&#x27;Brien" in invite.alternatives[0][0]  # but the HTML part is
    assert "7-day" not in mail.outbox[5].body and "keeps working until" in mail.outbox[5].body


def test_it_sends_nothing_when_the_action_rolls_back() -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        emails.send_token_resend_email("mara@example.com", mcp_urls=[("Your MCP URL", MCP_URL)])
        raise RuntimeError("the action failed")
    assert not mail.outbox and not EmailOutbox.objects.exists()


def test_it_never_stores_the_message_in_clear_and_wipes_it_once_sent() -> None:
    with mock.patch.object(send_outbox_email, "apply_async", side_effect=OperationalError("redis down")):
        emails.send_token_resend_email("mara@example.com", mcp_urls=[("Your MCP URL", MCP_URL)])
    row = EmailOutbox.objects.get()
    assert row.status == "pending" and row.sealed and "thr_" not in row.sealed
    send_outbox_email.delay(row.pk)
    row.refresh_from_db()
    assert row.status == "sent" and row.sealed == "" and row.sent_at is not None


def test_it_keeps_an_email_through_a_redis_outage_and_sends_it_once_redis_is_back(settings: Any) -> None:
    with mock.patch.object(send_outbox_email, "apply_async", side_effect=OperationalError("redis down")):
        emails.send_token_confirmation_email(
            "mara@example.com", action="resend", confirm_url="https://t.example/token/confirm/x/", expires_minutes=60
        )
        settings.OUTBOX_REQUEUE_AFTER_SECONDS = 0
        assert requeue_stalled_work() == {"emails": 0, "events": 0}  # still down: still recorded
    assert not mail.outbox and EmailOutbox.objects.get().status == "pending"

    assert requeue_stalled_work()["emails"] == 1  # beat's sweep, once Redis answers again
    assert len(mail.outbox) == 1 and EmailOutbox.objects.get().status == "sent"
    assert requeue_stalled_work()["emails"] == 0
    assert len(mail.outbox) == 1


def test_it_retries_a_failing_mail_server_and_gives_up_after_the_last_attempt(settings: Any) -> None:
    settings.EMAIL_MAX_ATTEMPTS = 2
    settings.OUTBOX_REQUEUE_AFTER_SECONDS = 0
    with mock.patch("django.core.mail.EmailMultiAlternatives.send", side_effect=OSError("smtp down")):
        emails.send_token_resend_email("mara@example.com", mcp_urls=[("Your MCP URL", MCP_URL)])
        row = EmailOutbox.objects.get()
        assert (row.status, row.attempts) == ("pending", 1) and "smtp down" in row.last_error
        requeue_stalled_work()
        row.refresh_from_db()
    assert (row.status, row.attempts, row.sealed) == ("failed", 2, "")
    assert not mail.outbox


@pytest.mark.usefixtures("commit_each_request")
def test_it_sends_the_signup_verification_through_its_own_template_trio() -> None:
    Client().post("/accounts/signup/", {"email": "new@example.com", "password1": PASSWORD, "password2": PASSWORD})
    [message] = mail.outbox
    assert message.subject == "[Threshold] Confirm your email address"
    assert "/accounts/confirm-email/" in message.body and "Confirm my email address" in message.alternatives[0][0]
    assert EmailOutbox.objects.get().kind == "verification"
