"""Named, atomic, audited writes for the Intervals.icu link."""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from django.db import transaction

from accounts.actions import audit
from accounts.models import User
from integrations.intervals import errors
from integrations.intervals.client import Bearer, IntervalsClient
from integrations.intervals.models import IntervalsLink
from integrations.intervals.schemas import OAuthToken

logger = logging.getLogger(__name__)


def normalise_athlete_id(raw: str) -> str:
    """Intervals ids appear as "i123" on athlete objects and "123" in the token response."""
    raw = str(raw).strip()
    return raw if raw.startswith("i") else f"i{raw}"


@transaction.atomic
def link_intervals(user: User, token: OAuthToken, *, timezone: str = "") -> IntervalsLink:
    """Store (or replace) the user's link from a fresh OAuth token response."""
    link = IntervalsLink.objects.select_for_update().filter(user=user).first() or IntervalsLink(user=user)
    link.athlete_id = normalise_athlete_id(token.athlete.id)
    link.athlete_name = token.athlete.name
    link.scopes = ",".join(sorted({s.strip().upper() for s in token.scope.split(",") if s.strip()}))
    link.timezone = timezone
    link.set_token(token.access_token)
    link.save()
    audit("intervals.linked", actor=user, subject=user, athlete_id=link.athlete_id, scopes=link.scopes)
    return link


def unlink_intervals(user: User) -> bool:
    """Revoke upstream (best effort) and delete the stored token. Returns whether upstream agreed.

    The local link is removed even when Intervals.icu cannot be reached: the user asked us to forget
    the credential, and keeping it because a remote call failed would be the wrong way round.
    """
    link = IntervalsLink.objects.filter(user=user).first()
    if link is None:
        return True
    upstream_ok = True
    try:
        async_to_sync(IntervalsClient(Bearer(link.get_token())).disconnect_app)()
    except errors.UpstreamAuthError:
        upstream_ok = True  # already revoked upstream
    except errors.IntervalsError as exc:
        upstream_ok = False
        logger.warning("intervals disconnect-app failed for user %s: %s", user.pk, type(exc).__name__)
    except Exception:  # decryption failure or similar: still forget the row
        upstream_ok = False
        logger.exception("intervals disconnect-app crashed for user %s", user.pk)
    with transaction.atomic():
        athlete_id = link.athlete_id
        IntervalsLink.objects.filter(pk=link.pk).delete()
        audit("intervals.unlinked", actor=user, subject=user, athlete_id=athlete_id, upstream_ok=upstream_ok)
    return upstream_ok
