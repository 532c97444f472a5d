"""Re-encrypt every stored secret with the current primary key (after adding a key to ENCRYPTION_KEYS).

Once it has run, the old key can be dropped from ENCRYPTION_KEYS: nothing stored needs it any more.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand
from django.db import models, transaction

from accounts import crypto
from accounts.actions import audit, token_context
from accounts.emails import outbox_context
from accounts.models import EmailOutbox, McpToken
from coaching.models import CoachApiKey
from integrations.intervals.models import IntervalsLink

# Every encrypted column: (what the count is called, model, column, the AEAD context of a row).
SECRETS: list[tuple[str, type[models.Model], str, Callable[[Any], str]]] = [
    ("mcp_tokens", McpToken, "token_encrypted", lambda row: token_context(row.token_hash)),
    ("intervals_links", IntervalsLink, "token_encrypted", lambda row: IntervalsLink.token_context(row.user_id)),
    ("coach_api_keys", CoachApiKey, "key_encrypted", lambda row: CoachApiKey.context(row.coach_id)),
    # Emails not sent yet (a sent one is wiped): they may carry an MCP URL or a one-time link.
    ("pending_emails", EmailOutbox, "sealed", lambda row: outbox_context(row.key)),
]


class Command(BaseCommand):
    help = (
        "Re-encrypt MCP token copies, Intervals.icu credentials, coach API keys and unsent emails with the primary key."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        counts = dict.fromkeys((name for name, *_ in SECRETS), 0)
        for name, model, column, context_of in SECRETS:
            for row in model._default_manager.exclude(**{column: ""}).iterator():
                sealed = getattr(row, column)
                if not crypto.needs_rotation(sealed):
                    continue
                context = context_of(row)
                fresh = crypto.encrypt(crypto.decrypt(sealed, context=context), context=context)
                with transaction.atomic():
                    # Only if nobody rewrote it meanwhile (a new key pasted, an email sent and wiped).
                    model._default_manager.filter(pk=row.pk, **{column: sealed}).update(**{column: fresh})
                counts[name] += 1
        audit("secrets.reencrypted", actor=None, subject=None, **counts)
        self.stdout.write("re-encrypted " + ", ".join(f"{n} {name.replace('_', ' ')}" for name, n in counts.items()))
