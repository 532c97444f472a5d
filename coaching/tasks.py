"""Celery tasks of the coaching area. They take ids, run after commit and retry with backoff."""

from __future__ import annotations

from celery import shared_task


# Transient upstream trouble only: a refused key is handled (and recorded) by refresh_roster itself.
def _transient() -> tuple[type[Exception], ...]:
    from integrations.intervals import errors

    return (errors.UpstreamUnavailable, errors.UpstreamRateLimited)


@shared_task(
    bind=True, autoretry_for=_transient(), retry_backoff=True, retry_backoff_max=600, max_retries=5, ignore_result=True
)
def refresh_roster_task(self: object, user_id: int) -> int:
    """Option B: read one coach's Intervals.icu roster again with their API key."""
    from coaching.actions import refresh_roster

    return refresh_roster(user_id)


@shared_task(ignore_result=True)
def refresh_all_rosters() -> int:
    """Celery beat: queue a refresh for every coach with a stored API key (one task each, spread out)."""
    from coaching.models import CoachApiKey

    ids = list(CoachApiKey.objects.order_by("coach_id").values_list("coach_id", flat=True))
    for n, user_id in enumerate(ids):
        refresh_roster_task.apply_async((user_id,), countdown=min(n, 300))
    return len(ids)
