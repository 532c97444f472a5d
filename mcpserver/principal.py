"""Who an MCP request acts for, and what it may reach. Deny by default.

A `Principal` is built from the token's rows (`load_principal`; mcpserver.principal_cache keeps it
between requests only while no row it was built from has changed) and carries every athlete the token
may reach, with the tools allowed on each:
- an athlete token reaches the athlete's own Intervals.icu link, limited by the scopes granted upstream;
- a coach token reaches each athlete whose live, unexpired grant names that token and was accepted by the
  coach (exactly the tools the athlete ticked, within that athlete's upstream scopes), plus, for Option B,
  the athletes of the coach's own Intervals.icu roster (read tools, and write tools where Intervals.icu
  gives the coach WRITE; an invite still waiting for the coach narrows that at once).

Tools resolve their athlete through `resolve_athlete(..., tool=...)` before any upstream request. An
unknown athlete, someone else's athlete and a tool not granted on that athlete all get the same answer,
and nothing ever falls back silently to another athlete.
"""

from __future__ import annotations

import dataclasses
import functools
import hmac
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Field, Model
from django.utils import timezone

from accounts import crypto, tokens
from accounts.billing import access_changes_at, block_reason, mcp_access
from accounts.models import BillingAccount, McpToken, User
from integrations.intervals.client import ApiKey, Bearer, Credential, DeferredCredential, IntervalsClient
from integrations.intervals.models import IntervalsLink, scope_allows
from mcpserver import present

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AthleteAccess:
    """One athlete reachable through the token, and what may be done there."""

    athlete_id: str
    name: str
    timezone: str
    scopes: frozenset[str]
    link_user_id: int | None  # the Threshold user owning the athlete's link (None: Option B roster)
    token_encrypted: str = field(repr=False)
    is_self: bool = True
    tools: frozenset[str] | None = None  # None: every tool the scopes allow
    hidden: frozenset[str] = frozenset()  # data classes the athlete hid from this coach
    api_key_owner_id: int | None = None  # Option B: the coach whose API key reaches this athlete
    write_allowed: bool = True  # Option B: Intervals.icu gave the coach WRITE

    def credential(self) -> Credential:
        """Decrypt the upstream credential. Pure CPU (no database): safe to call on the event loop."""
        if self.api_key_owner_id is not None:
            from coaching.models import CoachApiKey

            context = CoachApiKey.context(self.api_key_owner_id)
            return ApiKey(crypto.decrypt(self.token_encrypted, context=context))
        assert self.link_user_id is not None
        link = IntervalsLink(user_id=self.link_user_id, token_encrypted=self.token_encrypted)
        return Bearer(link.get_token())

    def client(self) -> IntervalsClient:
        """An upstream client acting as this athlete (reads shared through the athlete's read cache)."""
        return IntervalsClient(DeferredCredential(self.credential), cache_athlete=self.athlete_id)

    def allows_scope(self, needed: str | None) -> bool:
        return needed is None or scope_allows(set(self.scopes), needed)

    def allows_tool(self, name: str, scope: str | None, read_only: bool) -> bool:
        """Deny by default: the tool must be granted, its scope held, and writes permitted."""
        if self.tools is not None and name not in self.tools:
            return False
        if not read_only and not self.write_allowed:
            return False
        return self.allows_scope(scope)

    def echo(self) -> dict[str, Any]:
        """The resolved athlete, echoed in every answer (wrong-athlete guard)."""
        # The name is free text its owner chose: it is echoed as untrusted data (mcpserver.present).
        return {"id": self.athlete_id, "name": {present.UNTRUSTED: self.name}, "timezone": self.timezone or "UTC"}


@dataclass(frozen=True)
class Preflight:
    """What the gate already learnt for a request's tool call in the round trip that checked its cached
    Principal (mcpserver.principal_cache): the per-token limit's reservation and, when it could guess the
    athlete, that athlete's raw cache version."""

    wait: float  # the limiter's answer: < 0 refused (-wait seconds too early), else seconds to wait
    athlete_id: str | None = None
    version_raw: object = None  # bytes, None (no version yet) or ratelimit.NOT_READ


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
    # A reason every tool call must answer with instead of running (e.g. a lapsed subscription).
    blocked_reason: str = ""
    # The earliest time this principal changes by the clock alone, with no write (a grant's expiry, the
    # end of a billing grace period); None when only a write can change it.
    changes_at: datetime | None = None
    last_used_at: datetime | None = field(default=None, repr=False)  # as stored once this load wrote it
    preflight: Preflight | None = field(default=None, repr=False)  # set per request by the gate

    def athlete_ids(self) -> list[str]:
        return [a.athlete_id for a in self.athletes]


class AthleteResolutionError(Exception):
    """No single athlete matches; the message lists the choices."""


def _matches(access: AthleteAccess, wanted: str) -> bool:
    w = wanted.strip().lower()
    aid = access.athlete_id.lower()
    return w in {aid, aid.removeprefix("i")} or w == access.name.lower()


def _choices(pool: list[AthleteAccess]) -> str:
    # Ids only: names are free text their owners chose, and error messages never carry such text
    # (whoami / list_athletes give each id's name, marked as untrusted data).
    return ", ".join(a.athlete_id for a in pool) or "none"


def denial(principal: Principal, wanted: str | None, tool: str | None, pool: list[AthleteAccess] | None = None) -> str:
    """The one refusal for "no such athlete", "someone else's athlete" and "tool not granted here".

    It names what was asked and lists only where the tool *is* available, so it reveals nothing about
    athletes or tools the token cannot reach.
    """
    label = wanted or principal.default_athlete_id or "(default athlete)"
    what = f" with {tool}" if tool else ""
    why = _read_only(principal, tool)
    return f"No athlete '{label}'{what} on this MCP URL. Available{what}: {_choices(pool or [])}.{why}"


def _read_only(principal: Principal, tool: str | None) -> str:
    """Why a coach may be refused a write on an athlete they just selected: the grant is read-only there.

    It depends on the token and the tool alone (never on the athlete asked), so every refusal of one tool
    on one URL still reads alike and names nobody.
    """
    from mcpserver.catalogue import REGISTRY  # the catalogue imports this module

    spec = REGISTRY.get(tool or "")
    if principal.kind != "coach" or spec is None or spec.read_only:
        return ""
    if all(a.allows_tool(spec.name, spec.scope, spec.read_only) for a in principal.athletes):
        return ""
    return (
        f" An athlete who granted this URL read-only access (or not {spec.name}) cannot be written to; "
        "list_athletes shows the tools each athlete granted."
    )


def resolve_athlete(
    principal: Principal,
    wanted: str | None,
    *,
    tool: str | None = None,
    scope: str | None = None,
    read_only: bool = True,
) -> AthleteAccess:
    """Pick the athlete a call is about, among those where `tool` is allowed, or raise. Never guesses.

    The refusal for an unknown athlete, another tenant's athlete and an athlete who did not grant the
    tool is one and the same sentence, listing only where the tool *is* available.
    """
    pool = [a for a in principal.athletes if tool is None or a.allows_tool(tool, scope, read_only)]
    what = f" with {tool}" if tool else ""

    def unavailable(label: str) -> AthleteResolutionError:
        return AthleteResolutionError(denial(principal, label, tool, pool))

    if not principal.athletes:
        if principal.kind != McpToken.Kind.COACH:
            raise AthleteResolutionError(
                "No Intervals.icu account is connected to this MCP URL yet. Connect Intervals.icu on the Threshold "
                "dashboard, then try again."
            )
        if wanted or principal.default_athlete_id:
            # Asked for someone (or a selection that left): the one refusal, as for any athlete out of reach.
            raise unavailable(wanted or principal.default_athlete_id)
        raise AthleteResolutionError(
            "This coach URL reaches no athlete yet: an athlete appears once they invite you and you accept "
            "(the link in their invite email), or through your Intervals.icu roster."
        )
    if wanted:
        exact = [a for a in pool if _matches(a, wanted)]
        if not exact:
            w = wanted.strip().lower()
            exact = [a for a in pool if w and w in a.name.lower()]
        if len(exact) == 1:
            return exact[0]
        if len(exact) > 1:
            raise AthleteResolutionError(
                f"'{wanted}' matches several athletes: {_choices(exact)}. Pass the athlete id."
            )
        raise unavailable(wanted)
    if principal.default_athlete_id:
        chosen = [a for a in pool if a.athlete_id == principal.default_athlete_id]
        if chosen:
            return chosen[0]
        # The selected athlete did not grant this tool, or left this URL (grant revoked, declined, expired,
        # removed): say so with the choices, never switch athletes silently (not even to the only one left).
        raise unavailable(principal.default_athlete_id)
    if len(principal.athletes) == 1:
        if pool:
            return pool[0]
        raise unavailable(principal.athletes[0].athlete_id)
    raise AthleteResolutionError(
        f"This URL reaches several athletes: pass `athlete` or call select_athlete. Available{what}: {_choices(pool)}."
    )


_LAST_USED_RESOLUTION = timedelta(minutes=5)


def own_link_access(link: IntervalsLink) -> AthleteAccess:
    return AthleteAccess(
        athlete_id=link.athlete_id,
        name=link.athlete_name or link.athlete_id,
        timezone=link.timezone,
        scopes=frozenset(link.scope_set),
        link_user_id=link.user_id,
        token_encrypted=link.token_encrypted,
    )


def _grant_ends(expires_on: date, tz_name: str) -> datetime | None:
    """When a grant expiring on `expires_on` stops: the athlete's next local midnight after that day.

    None for the last representable days (a stored 9999-12-31 has no "next day"): such a grant never
    ends by the clock, and the arithmetic must not raise, or the coach's whole URL would fail."""
    from mcpserver import present

    try:
        return datetime.combine(expires_on + timedelta(days=1), time.min, tzinfo=present.zone(tz_name))
    except (OverflowError, ValueError):
        return None


def _grant_access(grant: Any, row: McpToken, ends: list[datetime]) -> AthleteAccess | None:
    """What one live, accepted grant reaches now (None: nothing, e.g. expired or no link)."""
    from mcpserver import present

    if not grant.athlete.is_active:
        return None  # a deactivated account's data is reachable by nobody, as its own URL is not
    link = getattr(grant.athlete, "intervals_link", None)
    if link is None:
        return None
    if grant.expires_on is not None:
        if present.local_today(link.timezone) > grant.expires_on:
            return None  # an expired grant stops by itself
        end = _grant_ends(grant.expires_on, link.timezone)
        if end is not None:
            ends.append(end)
    if not isinstance(grant.tools, list) or not isinstance(grant.hidden_classes, list):
        raise TypeError("tools and hidden classes must be lists")  # deny: never guess what was granted
    return dataclasses.replace(
        own_link_access(link),
        is_self=grant.athlete_id == row.user_id,
        tools=frozenset(grant.tools),
        hidden=frozenset(grant.hidden_classes),
    )


def _coach_athletes(row: McpToken, ends: list[datetime]) -> list[AthleteAccess]:
    """Every athlete a coach token reaches right now: live grants the coach accepted, then the Option B
    roster. Appends to `ends` when a live grant will expire on its own.

    A pending invite reaches nothing (the coach has not agreed to see that athlete's text next to the
    others'). A grant that cannot be read is skipped and logged: one bad row never takes down the URL
    for the coach's other athletes."""
    from coaching.models import CoachApiKey, CoachGrant, RosterAthlete

    athletes: list[AthleteAccess] = []
    grants = CoachGrant.objects.filter(
        coach_token=row, revoked_at__isnull=True, accepted_at__isnull=False
    ).select_related("athlete__intervals_link")
    for grant in grants.order_by("pk"):
        try:
            access = _grant_access(grant, row, ends)
        except Exception:  # any defect of one row: deny that grant, keep the others
            logger.exception("coach token %s: grant %s skipped, it could not be read", row.pk, grant.pk)
            continue
        if access is not None:
            athletes.append(access)
    if row.user_id is not None:
        key = CoachApiKey.objects.filter(coach_id=row.user_id).first()
        if key is not None:
            seen = {a.athlete_id for a in athletes}
            narrowed = _pending_limits(row)
            for member in RosterAthlete.objects.filter(coach_id=row.user_id).order_by("name"):
                if member.athlete_id in seen:
                    continue  # an explicit invite grant is the narrower, athlete-chosen rule
                tools, hidden = narrowed.get(member.athlete_id, (None, frozenset()))
                athletes.append(
                    AthleteAccess(
                        athlete_id=member.athlete_id,
                        name=member.name,
                        timezone=member.timezone,
                        # An API key is not scoped like OAuth: Intervals.icu's own permission decides.
                        scopes=frozenset(f"{area}:WRITE" for area in _AREAS),
                        link_user_id=None,
                        token_encrypted=key.key_encrypted,
                        is_self=member.athlete_id == key.athlete_id,
                        api_key_owner_id=row.user_id,
                        write_allowed=member.permission.upper() == "WRITE",
                        tools=tools,
                        hidden=hidden,
                    )
                )
    return athletes


def _pending_limits(row: McpToken) -> dict[str, tuple[frozenset[str], frozenset[str]]]:
    """athlete id -> (tools, hidden classes) of invites to this coach token still waiting for the coach.

    They grant nothing, but an athlete on the coach's Intervals.icu roster who sent one asked for less
    than the roster gives: that restriction needs no one's consent, so it applies at once. A row that
    cannot be read restricts to nothing."""
    from coaching.models import CoachGrant

    limits: dict[str, tuple[frozenset[str], frozenset[str]]] = {}
    pending = CoachGrant.objects.filter(coach_token=row, revoked_at__isnull=True, accepted_at__isnull=True)
    for grant in pending.select_related("athlete__intervals_link"):
        link = getattr(grant.athlete, "intervals_link", None)
        if link is None:
            continue
        tools = grant.tools if isinstance(grant.tools, list) else []
        hidden = grant.hidden_classes if isinstance(grant.hidden_classes, list) else []
        limits[link.athlete_id] = (frozenset(map(str, tools)), frozenset(map(str, hidden)))
    return limits


_AREAS = ("ACTIVITY", "WELLNESS", "CALENDAR", "LIBRARY", "SETTINGS", "CHATS")


def _billed(
    athletes: list[AthleteAccess], coach_user_id: int | None, ends: list[datetime]
) -> tuple[list[AthleteAccess], str]:
    """Access follows billing: an invited athlete is reachable while *their* subscription covers it; the
    Option B roster while the coach's own coach plan does. Returns what remains and, if billing removed
    everything, the reason to answer with. Appends to `ends` when a grace period will run out."""
    invited_owners = [a.link_user_id for a in athletes if a.api_key_owner_id is None and a.link_user_id is not None]
    lapsed, lapses_at = mcp_access(invited_owners)
    ends.extend([lapses_at] if lapses_at is not None else [])
    coach_reason = ""
    if coach_user_id is not None and any(a.api_key_owner_id is not None for a in athletes):
        reasons, lapses_at = mcp_access([coach_user_id], coach=True)
        coach_reason = reasons.get(coach_user_id, "")
        ends.extend([lapses_at] if lapses_at is not None else [])
    kept = [
        a
        for a in athletes
        if (a.api_key_owner_id is None and a.link_user_id not in lapsed)
        or (a.api_key_owner_id is not None and not coach_reason)
    ]
    if athletes and not kept:
        return kept, coach_reason or next(iter(lapsed.values()), "")
    return kept, ""


@dataclass(frozen=True)
class _TokenRow:
    """What one lookup by token hash returns: the token and, joined, its user, link and billing row."""

    token: McpToken
    user: User | None
    link: IntervalsLink | None
    billing: BillingAccount | None


# The joined models and their aliases; every model's columns are selected, in _meta order.
_JOINED: tuple[tuple[type[Model], str], ...] = (
    (McpToken, "t"),
    (User, "u"),
    (IntervalsLink, "l"),
    (BillingAccount, "b"),
)


@functools.cache
def _lookup_sql() -> str:
    """The token lookup, built once from the models' metadata (no user input: the digest is a parameter).

    This runs on every MCP request, and compiling the equivalent select_related() queryset cost more CPU
    than the query itself (cProfile: ~0.6 ms of the ~1 ms load_principal took).
    """
    from django.db import connection

    q = connection.ops.quote_name

    def col(model: type[Model], name: str) -> str:
        field = model._meta.get_field(name)
        assert isinstance(field, Field) and field.column is not None
        return q(field.column)

    user_pk = q(User._meta.pk.column)  # type: ignore[union-attr]
    columns = ", ".join(f"{alias}.{q(f.column)}" for model, alias in _JOINED for f in model._meta.concrete_fields)
    return (
        f"SELECT {columns} FROM {q(McpToken._meta.db_table)} t "  # noqa: S608
        f"LEFT JOIN {q(User._meta.db_table)} u ON u.{user_pk} = t.{col(McpToken, 'user')} "
        f"LEFT JOIN {q(IntervalsLink._meta.db_table)} l ON l.{col(IntervalsLink, 'user')} = u.{user_pk} "
        f"LEFT JOIN {q(BillingAccount._meta.db_table)} b ON b.{col(BillingAccount, 'user')} = u.{user_pk} "
        f"WHERE t.{col(McpToken, 'token_hash')} = %s LIMIT 1"
    )


@functools.cache
def _converters() -> tuple[tuple[int, Any, tuple[Any, ...]], ...]:
    """Per selected column that needs one: (index, column expression, converters), as the ORM's compiler
    would apply them (backend types such as SQLite datetimes, and fields' own from_db_value)."""
    from django.db import connection

    out = []
    at = 0
    for model, alias in _JOINED:
        for f in model._meta.concrete_fields:
            expression = f.get_col(alias)
            own = f.get_db_converters(connection)  # type: ignore[attr-defined]  # public Field API, not in the stubs
            found = tuple(connection.ops.get_db_converters(expression)) + tuple(own)
            if found:
                out.append((at, expression, found))
            at += 1
    return tuple(out)


def _cursor() -> Any:
    """A cursor for the lookup: on PostgreSQL one that binds server-side, so the statement is prepared
    once per connection (settings: DB_PREPARED_STATEMENTS). Wrapped like any Django cursor, so query
    logging, execute wrappers and database error translation still apply."""
    from django.conf import settings
    from django.db import connection

    if connection.vendor != "postgresql" or not settings.DB_PREPARED_STATEMENTS:
        return connection.cursor()
    from django.db.backends.postgresql.base import ServerBindingCursor  # type: ignore[attr-defined]

    connection.ensure_connection()
    with connection.wrap_database_errors:
        raw = ServerBindingCursor(connection.connection)
    # What connection.cursor() does with the cursor it creates (private, stable across Django 4.2-5.2).
    return connection._prepare_cursor(raw)  # type: ignore[attr-defined]


def _lookup(digest: str) -> _TokenRow | None:
    from django.db import connection

    with _cursor() as cursor:
        cursor.execute(_lookup_sql(), [digest])
        fetched = cursor.fetchone()
    if fetched is None:
        return None
    values = list(fetched)
    for index, expression, converters in _converters():
        for convert in converters:
            values[index] = convert(values[index], expression, connection)
    built: list[Any] = []
    at = 0
    for model, _alias in _JOINED:
        fields = model._meta.concrete_fields
        chunk = values[at : at + len(fields)]
        at += len(fields)
        pk_index = fields.index(model._meta.pk)
        built.append(
            model.from_db(connection.alias, [f.attname for f in fields], chunk) if chunk[pk_index] is not None else None
        )
    token, user, link, billing = built
    if user is not None:
        token.user = user  # the joined row: no second query when the token's user is read
    return _TokenRow(token, user, link, billing)


def load_principal(raw_token: str) -> Principal | None:
    """Authenticate a raw token. Returns None for anything that must answer 404. Sync (ORM)."""
    if not tokens.is_well_formed(raw_token):
        return None  # typos and probes never reach the database
    digest = tokens.digest(raw_token)
    found = _lookup(digest)
    if found is None:
        return None
    row = found.token
    if not hmac.compare_digest(row.token_hash, digest) or row.revoked_at is not None:
        return None
    if found.user is not None and not found.user.is_active:
        return None
    now = timezone.now()
    last_used_at = row.last_used_at
    if last_used_at is None or now - last_used_at > _LAST_USED_RESOLUTION:
        # Coarse on purpose: a write per request would cost more than the information is worth.
        McpToken.objects.filter(pk=row.pk).update(last_used_at=now)
        last_used_at = now
    blocked = ""
    ends: list[datetime] = []
    if row.kind == McpToken.Kind.COACH:
        athletes, blocked = _billed(_coach_athletes(row, ends), row.user_id, ends)
    elif found.user is not None:
        athletes = [own_link_access(found.link)] if found.link is not None else []
        blocked = block_reason(found.billing)
        lapses_at = access_changes_at(found.billing)
        ends.extend([lapses_at] if lapses_at is not None else [])
    else:
        athletes = []
    display = (found.user.name or found.user.email) if found.user is not None else row.email
    return Principal(
        blocked_reason=blocked,
        token_id=row.pk,
        token_hint=row.hint,
        kind=row.kind,
        user_id=row.user_id,
        display_name=display,
        athletes=athletes,
        default_athlete_id=row.default_athlete_id,
        changes_at=min(ends, default=None),
        last_used_at=last_used_at,
    )
