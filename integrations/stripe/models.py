"""Every Stripe webhook event we accepted, stored once under its Stripe id."""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.utils import timezone


class StripeEvent(models.Model):
    """One verified webhook event. The unique `event_id` makes a redelivery a no-op; `processed_at` is set
    in the same transaction that applies the event, so it is processed exactly once."""

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    livemode = models.BooleanField(default=False)
    stripe_created = models.DateTimeField(help_text="When Stripe created the event (its `created`).")
    payload = models.JSONField()
    received_at = models.DateTimeField(default=timezone.now)
    queued_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)

    class Meta:
        indexes: ClassVar[list[models.Index]] = [models.Index(fields=["processed_at", "received_at"])]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"
