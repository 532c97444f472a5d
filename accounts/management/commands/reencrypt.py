"""Re-encrypt every stored secret with the current primary key (after adding a key to ENCRYPTION_KEYS)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts import crypto
from accounts.actions import audit, token_context
from accounts.models import McpToken
from integrations.intervals.models import IntervalsLink


class Command(BaseCommand):
    help = "Re-encrypt MCP token copies and Intervals.icu credentials with the primary encryption key."

    def handle(self, *args: Any, **options: Any) -> None:
        counts = {"mcp_tokens": 0, "intervals_links": 0}
        for token in McpToken.objects.only("pk", "token_hash", "token_encrypted").iterator():
            if crypto.needs_rotation(token.token_encrypted):
                context = token_context(token.token_hash)
                plain = crypto.decrypt(token.token_encrypted, context=context)
                with transaction.atomic():
                    McpToken.objects.filter(pk=token.pk).update(token_encrypted=crypto.encrypt(plain, context=context))
                counts["mcp_tokens"] += 1
        for link in IntervalsLink.objects.only("pk", "user_id", "token_encrypted").iterator():
            if crypto.needs_rotation(link.token_encrypted):
                context = IntervalsLink.token_context(link.user_id)
                plain = crypto.decrypt(link.token_encrypted, context=context)
                with transaction.atomic():
                    IntervalsLink.objects.filter(pk=link.pk).update(
                        token_encrypted=crypto.encrypt(plain, context=context)
                    )
                counts["intervals_links"] += 1
        audit("secrets.reencrypted", actor=None, subject=None, **counts)
        self.stdout.write(
            f"re-encrypted {counts['mcp_tokens']} MCP tokens and {counts['intervals_links']} Intervals.icu links"
        )
