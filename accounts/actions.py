"""Named, atomic, audited writes for accounts and MCP tokens. Views and commands call these."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts import crypto, tokens
from accounts.models import AuditEvent, McpToken, User


def audit(action: str, *, actor: User | None, subject: User | None, **detail: Any) -> AuditEvent:
    """Record one audit row. Never put secrets in `detail`."""
    return AuditEvent.objects.create(actor=actor, subject=subject, action=action, detail=detail)


def token_context(token_hash: str) -> str:
    # Binding the encrypted copy to its own digest: pasted onto another row it will not decrypt.
    return f"mcp-token:{token_hash}"


def reveal_token(row: McpToken) -> str:
    """Decrypt the stored copy of a token (for showing or resending the URL)."""
    return crypto.decrypt(row.token_encrypted, context=token_context(row.token_hash))


def _create_token(*, user: User | None, email: str, kind: str) -> tuple[McpToken, str]:
    raw = tokens.generate()
    digest = tokens.digest(raw)
    row = McpToken.objects.create(
        user=user,
        email=email.lower(),
        kind=kind,
        token_hash=digest,
        token_encrypted=crypto.encrypt(raw, context=token_context(digest)),
        hint=tokens.hint(raw),
    )
    return row, raw


def user_email_verified(user: User) -> bool:
    from allauth.account.models import EmailAddress

    return EmailAddress.objects.filter(user=user, email__iexact=user.email, verified=True).exists()


@transaction.atomic
def ensure_athlete_token(user: User) -> McpToken | None:
    """Return the user's active athlete token, issuing one if needed.

    No token is issued until the user's email address is verified; returns None then.
    """
    # Lock the user row so two concurrent dashboard loads cannot issue two tokens.
    User.objects.select_for_update().filter(pk=user.pk).first()
    existing = McpToken.objects.filter(user=user, kind=McpToken.Kind.ATHLETE, revoked_at__isnull=True).first()
    if existing is not None:
        return existing
    if not user_email_verified(user):
        return None
    row, _ = _create_token(user=user, email=user.email, kind=McpToken.Kind.ATHLETE)
    audit("token.issued", actor=user, subject=user, token_id=row.pk, hint=row.hint)
    return row


@transaction.atomic
def regenerate_token(row: McpToken, *, actor: User | None) -> tuple[McpToken, str]:
    """Revoke `row` at once and issue its replacement; return the new row and raw token."""
    locked = McpToken.objects.select_for_update().get(pk=row.pk)
    if locked.revoked_at is None:
        locked.revoked_at = timezone.now()
        locked.save(update_fields=["revoked_at"])
    new_row, raw = _create_token(user=locked.user, email=locked.email, kind=locked.kind)
    new_row.default_athlete_id = locked.default_athlete_id
    new_row.save(update_fields=["default_athlete_id"])
    audit("token.regenerated", actor=actor, subject=locked.user, old=locked.hint, new=new_row.hint)
    return new_row, raw
