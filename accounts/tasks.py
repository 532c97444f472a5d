"""Celery tasks for accounts: sending outbox emails, processing Stripe events, re-queueing stalled work.

Tasks take ids, are submitted after commit, and retry with backoff. Anything submitted while the
broker is unreachable is already recorded in the database and is picked up by `requeue_stalled_work`
(every minute from beat) once Redis is back.
"""

from __future__ import annotations

import json
import logging
import random
from datetime import timedelta
from typing import Any

from celery import Task, shared_task
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from accounts import crypto
from accounts.models import EmailOutbox
from config import redis_guard

logger = logging.getLogger(__name__)


def backoff(retries: int) -> int:
    """Seconds before retry number `retries + 1`: exponential, capped at 15 minutes, jittered."""
    base = min(900, 10 * 2**retries)
    return int(base / 2 + random.uniform(0, base / 2))


# kombu re-raises connection failures as OperationalError; the rest are the raw socket/redis-py errors.
_BROKER_DOWN: tuple[type[BaseException], ...] = (OperationalError, OSError, *redis_guard.UNAVAILABLE)


def submit(task: Task, *args: Any) -> bool:
    """Queue `task(*args)` now; False (logged) when the broker is unreachable. The caller has already
    recorded the work, so the periodic sweep will submit it again.

    Bounded: at most one broker timeout (CELERY_BROKER_SOCKET_TIMEOUT, no connection retries), and none
    at all while this process knows Redis to be down (config/redis_guard.py), so a web request that
    records an email while Redis is black-holed is not held up by it."""
    broker = str(settings.CELERY_BROKER_URL)
    if not settings.CELERY_TASK_ALWAYS_EAGER and not redis_guard.circuit.available(broker):
        logger.warning("broker known to be down, %s(%s) left for the sweep", task.name, args)
        return False
    try:
        task.apply_async(args=args, retry=False)
    except _BROKER_DOWN as exc:
        redis_guard.circuit.trip(broker, exc, who=f"publish {task.name}")
        logger.warning("broker unreachable, %s(%s) left for the sweep: %s", task.name, args, type(exc).__name__)
        return False
    except Exception:
        # Eager mode runs the task right here: its failure must not undo the caller's committed work.
        if not settings.CELERY_TASK_ALWAYS_EAGER:
            raise
        logger.exception("eager task %s(%s) failed; the sweep will retry it", task.name, args)
        return False
    return True


def submit_after_commit(task: Task, *args: Any) -> None:
    """Queue `task(*args)` once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: submit(task, *args))


@shared_task(bind=True, max_retries=None, acks_late=True)
def send_outbox_email(self: Task, outbox_id: int) -> str:
    """Send one recorded email, once. A failure is retried with backoff up to EMAIL_MAX_ATTEMPTS.

    A worker killed mid-task leaves the message unacknowledged (acks_late) and the row pending (its
    transaction rolls back), so the redelivered task sends it. One window stays open: a kill after the
    mail server accepted the message (250 after DATA) and before the commit sends it twice; SMTP has no
    idempotency key to close it, and the window is the length of one UPDATE and COMMIT."""
    EmailOutbox.objects.filter(pk=outbox_id, status=EmailOutbox.Status.PENDING).update(queued_at=timezone.now())
    with transaction.atomic():
        # The row lock makes a duplicate task (a re-queue racing the original) wait, then find it sent.
        row = EmailOutbox.objects.select_for_update().filter(pk=outbox_id).first()
        if row is None or row.status != EmailOutbox.Status.PENDING:
            return "skipped"
        from accounts.emails import outbox_context

        message = json.loads(crypto.decrypt(row.sealed, context=outbox_context(row.key)))
        email = EmailMultiAlternatives(message["subject"], message["text"], settings.DEFAULT_FROM_EMAIL, [row.to_email])
        if message.get("html"):
            email.attach_alternative(message["html"], "text/html")
        row.attempts += 1
        try:
            email.send()
        except Exception as exc:
            row.last_error = f"{type(exc).__name__}: {exc}"[:300]
            if row.attempts >= settings.EMAIL_MAX_ATTEMPTS:
                row.status = EmailOutbox.Status.FAILED
                row.sealed = ""
            row.save(update_fields=["attempts", "last_error", "status", "sealed"])
            failed = row.status == EmailOutbox.Status.FAILED
        else:
            row.status = EmailOutbox.Status.SENT
            row.sent_at = timezone.now()
            row.sealed = ""  # the secret-bearing body is not kept once delivered
            row.last_error = ""
            row.save(update_fields=["attempts", "status", "sent_at", "sealed", "last_error"])
            return "sent"
    if failed:
        logger.error("email %s (%s) failed for good after %s attempts", row.pk, row.kind, row.attempts)
        return "failed"
    if self.request.is_eager:
        raise RuntimeError(row.last_error)  # left pending for the sweep; eager mode has no countdown
    raise self.retry(countdown=backoff(self.request.retries))


@shared_task(bind=True, max_retries=10, acks_late=True)
def process_stripe_event(self: Task, event_row_id: int) -> str:
    """Apply one stored Stripe event exactly once (see accounts.billing.process_event)."""
    from accounts import billing

    try:
        return billing.process_event(event_row_id)
    except billing.RetryLater as exc:
        billing.note_event_failure(event_row_id, exc)
        if self.request.is_eager:
            raise
        raise self.retry(countdown=backoff(self.request.retries)) from exc


@shared_task
def requeue_stalled_work() -> dict[str, int]:
    """Submit again what was recorded but never handled (e.g. queued while Redis was down)."""
    from integrations.stripe.models import StripeEvent

    cutoff = timezone.now() - timedelta(seconds=settings.OUTBOX_REQUEUE_AFTER_SECONDS)
    emails = list(
        EmailOutbox.objects.filter(status=EmailOutbox.Status.PENDING, created_at__lt=cutoff)
        .exclude(queued_at__gte=cutoff)
        .values_list("pk", flat=True)[:500]
    )
    events = list(
        StripeEvent.objects.filter(processed_at__isnull=True, received_at__lt=cutoff)
        .exclude(queued_at__gte=cutoff)
        .values_list("pk", flat=True)[:500]
    )
    sent = sum(submit(send_outbox_email, pk) for pk in emails)
    processed = sum(submit(process_stripe_event, pk) for pk in events)
    return {"emails": sent, "events": processed}
