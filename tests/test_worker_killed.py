"""A Celery worker killed mid-task: the message comes back, the task runs again, its effect happens once.

A real worker (solo pool, so SIGKILL lands mid-task) against a private redis-server and the test database
sends an email to a mail server that receives the message and then never answers: the worker is stuck
inside the send, its transaction open. We kill it, start another, and the email goes out exactly once.
"""

from __future__ import annotations

import json
import time
import uuid
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery.exceptions import AlwaysEagerIgnored

from accounts import crypto
from accounts.emails import outbox_context
from accounts.models import EmailOutbox
from config.celery import app
from tests.outage_helpers import SmtpSink, private_redis, stack_env, start_worker, wait_for

__all__ = ["private_redis"]  # fixture used by name

pytestmark = pytest.mark.django_db(transaction=True)

VISIBILITY_SECONDS = 2


@pytest.fixture
def broker(private_redis: int) -> Iterator[str]:
    client = redis.Redis(port=private_redis, db=1)
    client.flushdb()
    yield f"redis://127.0.0.1:{private_redis}/1"
    client.flushdb()


def recorded_email(to_email: str) -> EmailOutbox:
    """A pending outbox row, as accounts.emails.record_email stores it (the broker is the test's to feed)."""
    key = uuid.uuid4()
    message = {"subject": "Your Threshold MCP URL", "text": "Paste it into your assistant.\n", "html": None}
    sealed = crypto.encrypt(json.dumps(message), context=outbox_context(key))
    return EmailOutbox.objects.create(key=key, kind="token_link", to_email=to_email, sealed=sealed)


def publish(broker: str, task: str, *args: Any) -> None:
    """Queue a task on `broker` from this (eager-mode) test process, as the web process would."""
    # This process runs tasks eagerly (the suite's setting); send_task publishes anyway, and says so.
    with app.connection_for_write(broker) as connection, warnings.catch_warnings():
        warnings.simplefilter("ignore", AlwaysEagerIgnored)
        app.send_task(task, args=args, connection=connection)


def test_it_sends_an_email_exactly_once_when_the_worker_is_killed_mid_send(broker: str) -> None:
    sink = SmtpSink(stall_first=1)
    row = recorded_email("mara@example.com")
    env = stack_env(
        REDIS_URL=broker,
        EMAIL_PORT=str(sink.port),
        CELERY_VISIBILITY_TIMEOUT=str(VISIBILITY_SECONDS),
    )
    first = start_worker(env, "doomed")
    second = None
    try:
        publish(broker, "accounts.tasks.send_outbox_email", row.pk)
        assert sink.stalled.wait(timeout=60), first.log()  # the message is on the wire, the 250 never comes
        first.kill()
        killed_at = time.monotonic()
        row.refresh_from_db()
        # The kill rolled the task's transaction back: still pending, the attempt not even counted.
        assert row.status == "pending" and row.attempts == 0 and sink.delivered == []
        assert redis.Redis.from_url(broker).hlen("unacked") == 1  # taken, never acknowledged
        # A worker starting after the visibility timeout gives the abandoned message back to the queue.
        time.sleep(max(0.0, VISIBILITY_SECONDS + 0.5 - (time.monotonic() - killed_at)))
        second = start_worker(env, "heir")
        wait_for(lambda: EmailOutbox.objects.get(pk=row.pk).status == "sent", 60, "the email to be sent", second)
        time.sleep(VISIBILITY_SECONDS + 0.5)  # long enough for a stray second copy to surface, if one existed
    finally:
        first.stop()
        if second is not None:
            second.stop()
        sink.close()
    row.refresh_from_db()
    assert sink.data_received == 2  # the task ran again...
    assert len(sink.delivered) == 1  # ...and the email went out once
    assert b"Paste it into your assistant." in sink.delivered[0]
    assert row.attempts == 1 and row.sealed == ""
    client = redis.Redis.from_url(broker)
    assert client.llen("celery") == 0 and client.hlen("unacked") == 0
