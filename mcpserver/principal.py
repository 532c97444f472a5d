"""Who an MCP request acts for, and what it may reach. Deny by default.

A `Principal` is built once per request from the token (two indexed queries) and carries every
athlete the token may reach with the tools allowed on each. Tools ask it first, before any upstream
request: `resolve_athlete` never falls back silently to another athlete.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.utils import timezone

from accounts import tokens
from accounts.models import McpToken
from integrations.intervals.client import Bearer, Credential, IntervalsClient
from integrations.intervals.models import IntervalsLink, scope_allows


@dataclass(frozen=True)
class AthleteAccess:
    """One athlete reachable through the token."""

    athlete_id: str
    name: str
    timezone: str
    scopes: frozenset[str]
    link_user_id: int
    token_encrypted: str = field(repr=False)
    is_self: bool = True

    def credential(self) -> Credential:
        """Decrypt the athlete's upstream token. Pure CPU (no database): safe to call on the event loop."""
        link = IntervalsLink(user_id=self.link_user_id, token_encrypted=self.token_encrypted)
        return Bearer(link.get_token())

    def client(self) -> IntervalsClient:
        """An upstream client acting as this athlete."""
        return IntervalsClient(self.credential())

    def allows_scope(self, needed: str | None) -> bool:
        return needed is None or scope_allows(set(self.scopes), needed)

    def echo(self) -> dict[str, str]:
        """The resolved athlete, echoed in every answer (wrong-athlete guard)."""
        return {"id": self.athlete_id, "name": self.name, "timezone": self.timezone or "UTC"}


@dataclass
class Principal:
    token_id: int
    token_hint: str
    kind: str
    user_id: int | None
    display_name: str
    athletes: list[AthleteAccess]
    default_athlete_id: str = ""
    # Access-log rows of read calls, written by the gate after the response is sent (one thread hop
    # fewer per call). None = write at once (no gate to flush them, e.g. in-process use).
    deferred_log: list[dict[str, Any]] | None = field(default=None, repr=False)

    def athlete_ids(self) -> list[str]:
        return [a.athlete_id for a in self.athletes]


class AthleteResolutionError(Exception):
    """No single athlete matches; the message lists the choices."""


def _matches(access: AthleteAccess, wanted: str) -> bool:
    w = wanted.strip().lower()
    aid = access.athlete_id.lower()
    return w in {aid, aid.removeprefix("i")} or w == access.name.lower()


def resolve_athlete(principal: Principal, wanted: str | None) -> AthleteAccess:
    """Pick the athlete a call is about, or raise with the list of choices. Never guesses."""
    choices = ", ".join(f"{a.name} ({a.athlete_id})" for a in principal.athletes) or "none"
    if wanted:
        exact = [a for a in principal.athletes if _matches(a, wanted)]
        if not exact:
            w = wanted.strip().lower()
            exact = [a for a in principal.athletes if w and w in a.name.lower()]
        if len(exact) == 1:
            return exact[0]
        if len(exact) > 1:
            raise AthleteResolutionError(
                f"'{wanted}' matches several athletes: {', '.join(f'{a.name} ({a.athlete_id})' for a in exact)}. "
                "Pass the athlete id."
            )
        raise AthleteResolutionError(f"No athlete '{wanted}' on this MCP URL. Athletes available: {choices}.")
    if principal.default_athlete_id:
        for a in principal.athletes:
            if a.athlete_id == principal.default_athlete_id:
                return a
    if len(principal.athletes) == 1:
        return principal.athletes[0]
    if not principal.athletes:
        raise AthleteResolutionError(
            "No Intervals.icu account is connected to this MCP URL yet. Connect Intervals.icu on the Threshold "
            "dashboard, then try again."
        )
    raise AthleteResolutionError(f"Several athletes are available; pass `athlete`. Choices: {choices}.")


_LAST_USED_RESOLUTION = timedelta(minutes=5)


def load_principal(raw_token: str) -> Principal | None:
    """Authenticate a raw token. Returns None for anything that must answer 404. Sync (ORM)."""
    if not tokens.is_well_formed(raw_token):
        return None  # typos and probes never reach the database
    digest = tokens.digest(raw_token)
    row = McpToken.objects.select_related("user").filter(token_hash=digest).first()
    if row is None or not hmac.compare_digest(row.token_hash, digest) or row.revoked_at is not None:
        return None
    if row.user is not None and not row.user.is_active:
        return None
    now = timezone.now()
    if row.last_used_at is None or now - row.last_used_at > _LAST_USED_RESOLUTION:
        # Coarse on purpose: a write per request would cost more than the information is worth.
        McpToken.objects.filter(pk=row.pk).update(last_used_at=now)
    athletes: list[AthleteAccess] = []
    if row.user_id is not None:
        link = IntervalsLink.objects.filter(user_id=row.user_id).first()
        if link is not None:
            athletes.append(
                AthleteAccess(
                    athlete_id=link.athlete_id,
                    name=link.athlete_name or link.athlete_id,
                    timezone=link.timezone,
                    scopes=frozenset(link.scope_set),
                    link_user_id=link.user_id,
                    token_encrypted=link.token_encrypted,
                )
            )
    display = (row.user.name or row.user.email) if row.user is not None else row.email
    return Principal(
        token_id=row.pk,
        token_hint=row.hint,
        kind=row.kind,
        user_id=row.user_id,
        display_name=display,
        athletes=athletes,
        default_athlete_id=row.default_athlete_id,
    )
