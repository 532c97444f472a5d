"""Signals other areas listen to, so accounts never imports them."""

from __future__ import annotations

from django.dispatch import Signal

# Sent inside the regeneration transaction with `old` (now revoked) and `new` McpToken rows, so rows
# that point at a token (a coach's grants, private notes) can follow it to its replacement.
token_regenerated = Signal()
