"""Users, MCP tokens and the audit trail.

Important rows are written only through the action functions in `accounts.actions`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from accounts.identity import InvalidEmail, canonical_email, canonical_or_none


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        if not email:
            raise ValueError("Users need an email address")
        user = self.model(email=canonical_email(email), **extra)  # InvalidEmail is a ValueError
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)

    def get_by_natural_key(self, username: str | None) -> User:
        """Exact match on the canonical form (ModelBackend: the admin login, allauth's first backend).
        An address with no canonical form matches nobody; the backend then hashes anyway (timing)."""
        address = canonical_or_none(username or "")
        if address is None:
            raise self.model.DoesNotExist
        return self.get(email=address)


class User(AbstractBaseUser, PermissionsMixin):
    """A person with a Threshold login. Email is the identifier; there is no username."""

    email = models.EmailField(unique=True)
    name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)

    objects: ClassVar[UserManager] = UserManager()  # type: ignore[assignment]

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        """Model forms (the admin) store the canonical address, or refuse one that has none."""
        super().clean()
        try:
            self.email = canonical_email(self.email)
        except InvalidEmail as exc:
            raise ValidationError({"email": str(exc)}) from None


class McpToken(models.Model):
    """A personal MCP URL secret.

    Only a SHA-256 digest is stored for lookup (unique index) plus an AEAD-encrypted copy, bound to
    that digest, so the existing URL can be resent. A revoked token is kept (revoked_at set) so the
    audit trail stays meaningful, but it never authenticates again.
    """

    class Kind(models.TextChoices):
        ATHLETE = "athlete", "Athlete"
        COACH = "coach", "Coach"

    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.CASCADE, related_name="mcp_tokens")
    email = models.EmailField(db_index=True, help_text="Owner's address (coaches may have no account).")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.ATHLETE)
    token_hash = models.CharField(max_length=64, unique=True)
    token_encrypted = models.TextField()
    hint = models.CharField(max_length=16)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    default_athlete_id = models.CharField(max_length=32, blank=True)

    class Meta:
        indexes: ClassVar[list[models.Index]] = [models.Index(fields=["user", "revoked_at"])]

    def __str__(self) -> str:
        return f"{self.kind} token {self.hint}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class AuditEvent(models.Model):
    """Who did what to which important row. Written by action functions only."""

    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    subject = models.ForeignKey(User, null=True, blank=True, on_delete=models.CASCADE, related_name="audit_events")
    action = models.CharField(max_length=64)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.action} at {self.created_at:%Y-%m-%d %H:%M}"


class BillingAccount(models.Model):
    """A user's Stripe customer and the state of their subscription, as last synced from Stripe.

    Written only by `accounts.billing` (from webhooks and Checkout); everything else reads the limits it
    derives (`accounts.billing.mcp_block_reasons`, `billing_state`).
    """

    class Plan(models.TextChoices):
        ATHLETE_MONTHLY = "athlete_monthly", "Athlete · monthly"
        ATHLETE_YEARLY = "athlete_yearly", "Athlete · yearly"
        COACH = "coach", "Coach"

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="billing")
    stripe_customer_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    stripe_subscription_id = models.CharField(max_length=255, blank=True, db_index=True)
    plan = models.CharField(max_length=32, choices=Plan.choices, blank=True)
    # Stripe's own subscription status ("trialing", "active", "past_due", "canceled", ...); "" = never.
    status = models.CharField(max_length=32, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    trial_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    payment_failed_at = models.DateTimeField(null=True, blank=True, help_text="Start of the grace period.")
    # `created` of the newest event whose snapshot we applied: an older event is never applied blindly.
    synced_event_created = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"billing of {self.user_id}: {self.status or 'none'}"


class EmailOutbox(models.Model):
    """An email recorded before it is queued, so a broker outage cannot lose it.

    The rendered message is AEAD-encrypted (it may carry an MCP URL or a one-time link) and wiped once
    sent; what stays is who, which email, and when.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    key = models.UUIDField(unique=True)
    kind = models.CharField(max_length=64)
    to_email = models.EmailField()
    sealed = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    queued_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes: ClassVar[list[models.Index]] = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} to {self.to_email} ({self.status})"


class TokenConfirmation(models.Model):
    """A pending "resend my URL" / "regenerate my token" request from the public token page.

    The emailed link is signed and carries a random nonce whose digest is stored here; it works once
    (`used_at`) and only before `expires_at`.
    """

    class Action(models.TextChoices):
        RESEND = "resend", "Resend my URL"
        REGENERATE = "regenerate", "Regenerate my token"

    email = models.EmailField(db_index=True)
    action = models.CharField(max_length=16, choices=Action.choices)
    nonce_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.action} for {self.email}"
