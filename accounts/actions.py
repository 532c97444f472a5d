"""Named, atomic, audited writes for accounts and MCP tokens. Views and commands call these."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from accounts import crypto, tokens
from accounts.identity import canonical_or_none
from accounts.models import AuditEvent, McpToken, TokenConfirmation, User
from accounts.signals import token_regenerated


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

    # Exact: stored addresses are canonical (accounts.identity); the database never folds case.
    return EmailAddress.objects.filter(user=user, email=user.email, verified=True).exists()


def verified_owners(address: str) -> QuerySet[User]:
    """The account whose current address is `address` (canonical), if that address is verified on it."""
    return User.objects.filter(email=address, emailaddress__email=address, emailaddress__verified=True)


def tokens_reached_by(address: str) -> QuerySet[McpToken]:
    """Live tokens that `address` (canonical, compared exactly) speaks for: every token of the account whose
    current verified address it is, and tokens with no account (a coach invited at that address).

    An account's tokens are found through the account's address as it is now, never through the address
    copied onto the token, so an address the owner has left behind reaches nothing."""
    owners = verified_owners(address).values("pk")
    return McpToken.objects.filter(Q(user__in=owners) | Q(user__isnull=True, email=address), revoked_at__isnull=True)


@transaction.atomic
def follow_address_change(user: User, new_address: str) -> int:
    """The owner's address changed (allauth's primary address): their tokens carry the new one."""
    updated = McpToken.objects.filter(user=user).exclude(email=new_address).update(email=new_address)
    audit("account.address_changed", actor=user, subject=user, tokens=updated)
    return updated


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
    token_regenerated.send(sender=McpToken, old=locked, new=new_row)
    return new_row, raw


def mcp_url_for(raw: str) -> str:
    return f"{settings.SITE_URL}/mcp/{raw}"


def _label(row: McpToken) -> str:
    return "Your coach MCP URL" if row.kind == McpToken.Kind.COACH else "Your MCP URL"


@transaction.atomic
def regenerate_own_token(user: User) -> tuple[McpToken, str] | None:
    """Replace the user's athlete token from the dashboard: the old one stops at once. Returns the new
    row and raw token (to show once), or None if the user has no token yet. Emails a notice."""
    from accounts.emails import send_token_regenerated_email

    # The user row lock serialises double clicks: each regenerates the token that is current then.
    User.objects.select_for_update().filter(pk=user.pk).first()
    current = McpToken.objects.filter(user=user, kind=McpToken.Kind.ATHLETE, revoked_at__isnull=True).first()
    if current is None:
        return None
    new_row, raw = regenerate_token(current, actor=user)
    send_token_regenerated_email(user.email, mcp_urls=[(_label(new_row), mcp_url_for(raw))], via="dashboard")
    return new_row, raw


# --- the public token page: resend / regenerate, confirmed by an emailed one-time link -----------------
_LINK_SALT = "threshold.token-link"


def _active_tokens_for(address: str) -> list[McpToken]:
    return list(tokens_reached_by(address).select_related("user").order_by("kind", "pk"))


def _stored_address(row: McpToken) -> str:
    # The address as stored on the owner (or, without an account, on the token). It equals the canonical
    # address that found the row (exact match); taking it from the row says where mail may go.
    return row.user.email if row.user is not None else row.email


def _nonce_hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


@transaction.atomic
def request_token_link(email: str, action: str) -> None:
    """Email a confirmation link for `action` ("resend" | "regenerate") if `email` owns an active MCP
    token; do nothing otherwise. The caller answers the same either way (no enumeration).

    `email` is made canonical and matched exactly (`tokens_reached_by`); the link goes to the stored
    address, never to what was typed."""
    from accounts.emails import send_token_confirmation_email

    action = TokenConfirmation.Action(action)
    typed = canonical_or_none(email)
    rows = _active_tokens_for(typed) if typed is not None else []
    if not rows:
        return
    address = _stored_address(rows[0])
    nonce = secrets.token_urlsafe(32)
    max_age = settings.TOKEN_LINK_MAX_AGE_SECONDS
    confirmation = TokenConfirmation.objects.create(
        email=address,
        action=action,
        nonce_hash=_nonce_hash(nonce),
        expires_at=timezone.now() + timedelta(seconds=max_age),
    )
    signed = signing.dumps([confirmation.pk, nonce], salt=_LINK_SALT, compress=True)
    send_token_confirmation_email(
        address,
        action=str(action),
        confirm_url=settings.SITE_URL + reverse("token_confirm", args=[signed]),
        expires_minutes=max_age // 60,
    )
    owner = next((r.user for r in rows if r.user is not None), None)
    audit("token.link_requested", actor=None, subject=owner, kind=str(action), confirmation_id=confirmation.pk)


def _load_link(signed: str, *, lock: bool) -> TokenConfirmation | None:
    try:
        pk, nonce = signing.loads(signed, salt=_LINK_SALT, max_age=settings.TOKEN_LINK_MAX_AGE_SECONDS)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    queryset = TokenConfirmation.objects.select_for_update() if lock else TokenConfirmation.objects
    row = queryset.filter(pk=pk).first() if isinstance(pk, int) and isinstance(nonce, str) else None
    if row is None or not hmac.compare_digest(row.nonce_hash, _nonce_hash(nonce)):
        return None
    return row


def link_status(row: TokenConfirmation | None) -> str:
    """ "valid", "used", "expired" or "invalid"."""
    if row is None:
        return "invalid"
    if row.used_at is not None:
        return "used"
    if row.expires_at <= timezone.now():
        return "expired"
    return "valid"


def inspect_token_link(signed: str) -> tuple[str, TokenConfirmation | None]:
    """Look at a link without using it (the GET page that asks for the confirming click)."""
    row = _load_link(signed, lock=False)
    return link_status(row), row


@dataclass
class LinkOutcome:
    status: str  # "done", "used", "expired", "invalid"
    action: str = ""
    email: str = ""
    new_urls: list[tuple[str, str]] = field(default_factory=list)


@transaction.atomic
def confirm_token_link(signed: str) -> LinkOutcome:
    """Use a confirmation link once. Resend emails the current URL(s), unchanged; regenerate replaces
    every active token of the address (old ones stop at once), emails a notice with the new URLs and
    returns them to be shown once. Concurrent uses of one link: exactly one acts (row lock).

    The tokens are looked up again now: an address that stopped being the owner's since the link was
    sent reaches nothing."""
    from accounts.emails import send_token_regenerated_email, send_token_resend_email

    row = _load_link(signed, lock=True)
    status = link_status(row)
    if row is None or status != "valid":
        return LinkOutcome(status=status)
    row.used_at = timezone.now()
    row.save(update_fields=["used_at"])
    rows = _active_tokens_for(row.email)
    owner = next((r.user for r in rows if r.user is not None), None)
    if row.action == TokenConfirmation.Action.RESEND:
        if rows:
            send_token_resend_email(row.email, mcp_urls=[(_label(r), mcp_url_for(reveal_token(r))) for r in rows])
        audit("token.resent", actor=owner, subject=owner, confirmation_id=row.pk, count=len(rows))
        return LinkOutcome(status="done", action=row.action, email=row.email)
    new_urls = []
    for old in rows:
        new_row, raw = regenerate_token(old, actor=owner)
        new_urls.append((_label(new_row), mcp_url_for(raw)))
    if new_urls:
        send_token_regenerated_email(row.email, mcp_urls=new_urls, via="email link")
    return LinkOutcome(status="done", action=row.action, email=row.email, new_urls=new_urls)
