"""Named writes for the coaching area: the access log, invites and their acceptance, grants, rosters."""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import Field
from django.utils import timezone as dj_timezone

from accounts.models import McpToken, User
from coaching.models import AccessLogEntry, CoachApiKey, CoachGrant, PrivateNote

logger = logging.getLogger(__name__)


@dataclass
class WriteRecord:
    """What a write tool changed upstream, with enough to undo it.

    kind: "event.create" | "event.update" | "event.delete" | "wellness.update" | "comment.create" | ...
    target: the upstream id or date written. before: the pre-image (None for a creation).
    after: what was written (the upstream answer, allow-listed). Never credentials.
    """

    kind: str
    target: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def record_tool_call(
    *,
    token_id: int | None,
    actor_label: str,
    tool: str,
    athlete_id: str,
    athlete_user_id: int | None,
    outcome: str,
    summary: str,
    is_write: bool,
    write: WriteRecord | None = None,
    undo_of_id: int | None = None,
) -> AccessLogEntry:
    """Append one access-log row. Sync (ORM); called once per tool call."""
    return AccessLogEntry.objects.create(
        token_id=token_id,
        actor_label=actor_label[:200],
        tool=tool,
        athlete_id=athlete_id,
        athlete_user_id=athlete_user_id,
        outcome=outcome,
        summary=summary[:300],
        is_write=is_write,
        write_kind=write.kind if write else "",
        write_target=write.target[:64] if write else "",
        pre_image=write.before if write else None,
        post_image=write.after if write else None,
        undo_of_id=undo_of_id,
    )


@functools.cache
def _read_log_insert() -> str:
    """One precompiled INSERT for read rows (the ORM's create() cost about twice the CPU per call)."""
    from django.db import connection

    meta = AccessLogEntry._meta
    names = (
        "token",
        "actor_label",
        "tool",
        "athlete_id",
        "athlete_user",
        "outcome",
        "summary",
        "is_write",
        "write_kind",
        "write_target",
        "created_at",
    )

    def column(name: str) -> str:
        field = meta.get_field(name)
        assert isinstance(field, Field) and field.column is not None
        return connection.ops.quote_name(field.column)

    columns = ", ".join(column(n) for n in names)
    marks = ", ".join(["%s"] * len(names))
    # Built from the model's own table and column names, never from input; values go as parameters.
    return f"INSERT INTO {connection.ops.quote_name(meta.db_table)} ({columns}) VALUES ({marks})"  # noqa: S608


def record_read_calls(rows: list[dict[str, Any]]) -> None:
    """Append access-log rows of read calls (no write record, no undo link), stamped with their "at" time.

    The same row as `record_tool_call` would write, through one precompiled statement per row.
    """
    from django.db import connection

    sql = _read_log_insert()
    now = dj_timezone.now()
    adapt = connection.ops.adapt_datetimefield_value
    params = [
        (
            row["token_id"],
            row["actor_label"][:200],
            row["tool"],
            row["athlete_id"],
            row["athlete_user_id"],
            row["outcome"],
            row["summary"][:300],
            False,
            "",
            "",
            adapt(row.get("at") or now),  # when the call was answered, not when its batch is written
        )
        for row in rows
    ]
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(sql, params)  # all or nothing: a retry never writes a row twice
    except IntegrityError:
        # A row whose token or user was deleted since its call: write the others, one by one.
        dropped = 0
        for one in params:
            try:
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(sql, one)
            except IntegrityError:
                dropped += 1
        logger.warning(
            "access log: dropped %d of %d read rows whose token or user no longer exists", dropped, len(params)
        )


# --- Invites and grants ------------------------------------------------------------------------------


class GrantError(ValueError):
    """An invite or grant the product must refuse (unknown tool, bad date...); message is user-facing."""


def grantable_tools() -> dict[str, list[str]]:
    """Tools an athlete can grant a coach, grouped for the invite form: {"read": [...], "write": [...]}."""
    import mcpserver.tools  # noqa: F401  (registers the catalogue)
    from mcpserver.catalogue import REGISTRY

    groups: dict[str, list[str]] = {"read": [], "write": []}
    for spec in REGISTRY.values():
        if spec.group in groups and spec.scope is not None:
            groups[spec.group].append(spec.name)
    return {k: sorted(v) for k, v in groups.items()}


def _clean_grant(tools: list[str], hidden: list[str]) -> tuple[list[str], list[str]]:
    allowed = {t for group in grantable_tools().values() for t in group}
    unknown = sorted(set(tools) - allowed)
    if unknown:
        raise GrantError(f"Unknown tools: {', '.join(unknown)}")
    if not tools:
        raise GrantError("Tick at least one tool for the coach.")
    bad_classes = sorted(set(hidden) - set(CoachGrant.DataClass.values))
    if bad_classes:
        raise GrantError(f"Unknown data classes: {', '.join(bad_classes)}")
    return sorted(set(tools)), sorted(set(hidden))


def ensure_coach_token(email: str) -> tuple[McpToken, bool]:
    """The one live coach token of `email`, created if needed (invites from many athletes share it).

    Must run inside a transaction; the row is locked so concurrent invites cannot mint two tokens.
    """
    from accounts.actions import _create_token, tokens_reached_by, verified_owners
    from accounts.identity import canonical_email

    # Canonical and exact (accounts.identity): a look-alike address never reaches another person's token.
    email = canonical_email(email)
    existing = tokens_reached_by(email).filter(kind=McpToken.Kind.COACH).select_for_update().order_by("pk").first()
    if existing is not None:
        return existing, False
    user = verified_owners(email).first()
    row, _raw = _create_token(user=user, email=email, kind=McpToken.Kind.COACH)
    return row, True


# Bounds on invites (issue #13): an invite emails an address the athlete typed, so it must not be a relay.
INVITES_PER_DAY = 10  # new coach addresses per athlete per rolling 24 hours; edits of a live grant are free
INVITE_EMAIL_INTERVAL = timedelta(hours=1)  # at most one invite email per grant per hour
INVITE_LINK_MAX_AGE = timedelta(days=30)
MAX_EXPIRY_YEARS = 2
_INVITE_SALT = "coaching.invite-link"


def latest_expiry(today: date) -> date:
    """The furthest expiry date an athlete may set: two years ahead (29 February becomes the 28th)."""
    try:
        return today.replace(year=today.year + MAX_EXPIRY_YEARS)
    except ValueError:
        return today.replace(year=today.year + MAX_EXPIRY_YEARS, day=28)


def _clean_expiry(expires_on: date | None) -> date | None:
    """Bounded where it enters: a date far ahead buys nothing and broke date arithmetic on the coach's URL."""
    if expires_on is None:
        return None
    today = dj_timezone.localdate()
    if expires_on < today:
        raise GrantError("The expiry date is in the past.")
    latest = latest_expiry(today)
    if expires_on > latest:
        raise GrantError(
            f"The expiry date can be at most two years ahead (until {latest:%a %Y-%m-%d}). "
            "Leave it empty for access with no end date."
        )
    return expires_on


def display_name(user: User) -> str:
    """How an athlete is named to a coach: their name, else their Intervals.icu name, else their address."""
    link = getattr(user, "intervals_link", None)
    return user.name or (link.athlete_name if link is not None else "") or user.email


def _check_daily_invites(athlete: User, coach_email: str) -> None:
    """At most INVITES_PER_DAY distinct new addresses a day. Runs with the athlete's row locked."""
    since = dj_timezone.now() - timedelta(days=1)
    today = set(CoachGrant.objects.filter(athlete=athlete, created_at__gte=since).values_list("coach_email", flat=True))
    if coach_email not in today and len(today) >= INVITES_PER_DAY:
        raise GrantError(
            f"You can invite up to {INVITES_PER_DAY} new coaches a day. Try again tomorrow; you can still change "
            "what an invited coach may do."
        )


@transaction.atomic
def invite_coach(
    athlete: User,
    coach_email: str,
    tools: list[str],
    *,
    hidden: list[str] | None = None,
    expires_on: date | None = None,
) -> CoachGrant:
    """Invite `coach_email` to use the chosen tools on `athlete`'s data; the coach must accept first.

    A new invite reaches nothing until the coach accepts it (`accept_invite`, from the link in the email
    or the coach page). Re-inviting a coach with a live grant updates that grant and keeps its acceptance;
    after the coach declined or removed the athlete (or the athlete revoked), a new invite needs a new yes.
    An athlete inviting their own address is that coach, so that grant counts as accepted. Refused: an
    athlete without a connected Intervals.icu account, and more than INVITES_PER_DAY new addresses a day.
    The email (sent by a Celery task after commit) goes out at most once an hour per grant.
    """
    from accounts.actions import audit
    from accounts.identity import InvalidEmail, canonical_email
    from integrations.intervals.models import IntervalsLink

    try:
        coach_email = canonical_email(coach_email)
    except InvalidEmail as exc:
        raise GrantError(str(exc)) from None
    tools, hidden_classes = _clean_grant(tools, hidden or [])
    expires_on = _clean_expiry(expires_on)
    if not IntervalsLink.objects.filter(user=athlete).exists():
        raise GrantError("Connect Intervals.icu first: your coach reaches your data through that connection.")
    # One invite at a time per athlete: the daily count below cannot be raced past.
    User.objects.select_for_update().filter(pk=athlete.pk).values_list("pk").first()
    grant = (
        CoachGrant.objects.select_for_update().filter(athlete=athlete, coach_email=coach_email, revoked_at=None).first()
    )
    now = dj_timezone.now()
    new = grant is None
    if grant is None:
        _check_daily_invites(athlete, coach_email)
        grant = CoachGrant(athlete=athlete, coach_email=coach_email)
        if coach_email == athlete.email.strip().lower():
            grant.accepted_at = now  # the athlete is this coach: nothing to consent to on someone's behalf
    token, _created = ensure_coach_token(coach_email)
    grant.coach_token = token
    grant.tools = tools
    grant.hidden_classes = hidden_classes
    grant.expires_on = expires_on
    grant.updated_at = now
    grant.save()
    audit("coach.invited", actor=athlete, subject=athlete, coach=coach_email, tools=tools, hidden=hidden_classes)
    if grant.invite_sent_at is None or now - grant.invite_sent_at >= INVITE_EMAIL_INTERVAL:
        _email_invite(grant, token, new=new)
    return grant


@dataclass(frozen=True)
class GrantSummary:
    """What a grant lets a coach do, in words (tool titles, data-class labels) for emails and pages."""

    read: list[str]
    write: list[str]
    hidden: list[str]
    expires_on: date | None


def grant_summary(grant: CoachGrant) -> GrantSummary:
    from mcpserver.catalogue import REGISTRY

    groups = grantable_tools()
    tools = set(grant.tools) if isinstance(grant.tools, list) else set()
    labels = dict(CoachGrant.DataClass.choices)
    return GrantSummary(
        read=sorted(REGISTRY[t].title for t in groups["read"] if t in tools),
        write=sorted(REGISTRY[t].title for t in groups["write"] if t in tools),
        hidden=[labels[c] for c in CoachGrant.DataClass.values if c in (grant.hidden_classes or [])],
        expires_on=grant.expires_on,
    )


def _nonce_digest(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def _new_invite_link(grant: CoachGrant) -> str:
    """A fresh accept link for a pending grant: signed, bound to the grant, its secret stored as a digest.
    A newer link replaces the older one (only the newest email's link works)."""
    from django.conf import settings
    from django.urls import reverse

    nonce = secrets.token_urlsafe(32)
    grant.invite_nonce_hash = _nonce_digest(nonce)
    signed = signing.dumps([grant.pk, nonce], salt=_INVITE_SALT, compress=True)
    return settings.SITE_URL + reverse("coach_invite", args=[signed])


def _email_invite(grant: CoachGrant, token: McpToken, *, new: bool) -> None:
    """Email the coach: a pending invite with its accept link, a new accepted one (the athlete's own address)
    as a welcome, an edit with what changed. Recorded in the outbox within this transaction, sent after
    commit. The MCP URL is the coach's own."""
    from django.conf import settings

    from accounts.actions import reveal_token
    from accounts.emails import send_coach_invite_email

    accept_url = _new_invite_link(grant) if grant.is_pending else ""
    grant.invite_sent_at = dj_timezone.now()
    grant.save(update_fields=["invite_nonce_hash", "invite_sent_at"])
    reached = CoachGrant.objects.select_related("athlete__intervals_link").filter(
        coach_token=token, revoked_at=None, accepted_at__isnull=False
    )
    summary = grant_summary(grant)
    send_coach_invite_email(
        grant.coach_email,
        inviting_athlete=display_name(grant.athlete),
        athlete_names=[display_name(g.athlete) for g in reached.order_by("pk")],
        mcp_url=f"{settings.SITE_URL}/mcp/{reveal_token(token)}",
        read_tools=summary.read,
        write_tools=summary.write,
        hidden=summary.hidden,
        expires_on=summary.expires_on,
        accept_url=accept_url,
        changed=not new and not grant.is_pending,
    )


def carry_over_coach_token(sender: Any, *, old: McpToken, new: McpToken, **kwargs: Any) -> None:
    """A regenerated coach token keeps its grants, notes and catch-up cursors (signal receiver)."""
    if old.kind != McpToken.Kind.COACH:
        return
    from coaching.models import CatchUpCursor

    CoachGrant.objects.filter(coach_token=old).update(coach_token=new)
    PrivateNote.objects.filter(coach_token=old).update(coach_token=new)
    CatchUpCursor.objects.filter(token=old).update(token=new)


@transaction.atomic
def grant_tools(
    grant: CoachGrant, tools: list[str], *, actor: User, hidden: list[str] | None = None, expires_on: date | None = None
) -> CoachGrant:
    """Change what a coach may do; effective on the coach's very next MCP request."""
    from accounts.actions import audit

    tools, hidden_classes = _clean_grant(tools, hidden or [])
    expires_on = _clean_expiry(expires_on)
    locked = CoachGrant.objects.select_for_update().get(pk=grant.pk, revoked_at=None)
    locked.tools, locked.hidden_classes, locked.expires_on = tools, hidden_classes, expires_on
    locked.updated_at = dj_timezone.now()
    locked.save(update_fields=["tools", "hidden_classes", "expires_on", "updated_at"])
    audit("coach.grant_changed", actor=actor, subject=locked.athlete, coach=locked.coach_email, tools=tools)
    return locked


def _end_grant(grant: CoachGrant, reason: str, *, pending: bool | None, actor: User | None, action: str) -> bool:
    """End a live grant once (`pending`: only if still pending / only if accepted / either) and audit it."""
    from accounts.actions import audit

    live = CoachGrant.objects.filter(pk=grant.pk, revoked_at=None)
    if pending is not None:
        live = live.filter(accepted_at__isnull=pending)
    updated = live.update(revoked_at=dj_timezone.now(), end_reason=reason)
    if updated:
        audit(action, actor=actor, subject=grant.athlete, coach=grant.coach_email)
    return bool(updated)


@transaction.atomic
def revoke_coach(grant: CoachGrant, *, actor: User) -> None:
    """Stop a coach at once: the next MCP request no longer reaches this athlete."""
    _end_grant(grant, CoachGrant.EndReason.REVOKED, pending=None, actor=actor, action="coach.revoked")


def attach_coach_tokens(user: User) -> int:
    """A coach who signs up with an invited address takes ownership of their coach token, once that address
    is verified on their account. Exact match on the canonical address: never a look-alike's token."""
    from accounts.actions import user_email_verified

    if not user_email_verified(user):
        return 0
    return McpToken.objects.filter(kind=McpToken.Kind.COACH, email=user.email, user=None).update(user=user)


def select_athlete(token_id: int, athlete_id: str) -> None:
    """Remember a coach token's default athlete server-side (survives stateless requests and workers).

    Kept when that athlete later leaves the roster: calls without `athlete` are then refused with the
    choices (mcpserver.principal.resolve_athlete), never moved to another athlete."""
    McpToken.objects.filter(pk=token_id).update(default_athlete_id=athlete_id)


# --- The coach's answer: accept, decline, remove ------------------------------------------------------


@transaction.atomic
def accept_invite(grant: CoachGrant, *, actor: User | None = None) -> CoachGrant:
    """The coach says yes: from their next MCP request their URL reaches this athlete. Only a pending
    grant can be accepted; anything else is returned unchanged. `actor`: the coach's account, if any."""
    from accounts.actions import audit

    locked = CoachGrant.objects.select_for_update().get(pk=grant.pk)
    if locked.is_pending:
        locked.accepted_at = dj_timezone.now()
        locked.save(update_fields=["accepted_at"])
        audit("coach.invite_accepted", actor=actor, subject=locked.athlete, coach=locked.coach_email)
    return locked


@transaction.atomic
def decline_invite(grant: CoachGrant, *, actor: User | None = None) -> bool:
    """The coach says no to a pending invite: it ends, and the athlete sees it declined."""
    return _end_grant(grant, CoachGrant.EndReason.DECLINED, pending=True, actor=actor, action="coach.invite_declined")


@transaction.atomic
def remove_athlete(grant: CoachGrant, *, actor: User | None = None) -> bool:
    """The coach takes an athlete off their roster: the grant ends at once, and the athlete sees who ended it."""
    return _end_grant(grant, CoachGrant.EndReason.REMOVED, pending=False, actor=actor, action="coach.athlete_removed")


@dataclass
class InviteLink:
    """What an invite link leads to. status: "valid" (pending, can be answered), "accepted", "ended"
    (declined, removed or revoked), "expired" (the link is too old), "invalid" (tampered or replaced)."""

    status: str
    grant: CoachGrant | None = None
    answered: str = ""  # after a POST: "accepted" or "declined" when this request did it


def _load_invite(signed: str, *, lock: bool) -> InviteLink:
    try:
        pk, nonce = signing.loads(signed, salt=_INVITE_SALT, max_age=INVITE_LINK_MAX_AGE)
    except signing.SignatureExpired:
        return InviteLink("expired")
    except (signing.BadSignature, ValueError, TypeError):
        return InviteLink("invalid")
    if not isinstance(pk, int) or not isinstance(nonce, str):
        return InviteLink("invalid")
    queryset = CoachGrant.objects.select_related("athlete__intervals_link", "coach_token")
    if lock:
        queryset = queryset.select_for_update(of=("self",))
    grant = queryset.filter(pk=pk).first()
    if grant is None or not grant.invite_nonce_hash:
        return InviteLink("invalid")
    if not hmac.compare_digest(grant.invite_nonce_hash, _nonce_digest(nonce)):
        return InviteLink("invalid")
    if grant.revoked_at is not None:
        return InviteLink("ended", grant)
    if grant.accepted_at is not None:
        return InviteLink("accepted", grant)
    return InviteLink("valid", grant)


def inspect_invite_link(signed: str) -> InviteLink:
    """Look at an invite without answering it (the GET page: mail scanners only GET)."""
    return _load_invite(signed, lock=False)


@transaction.atomic
def answer_invite_link(signed: str, *, accept: bool) -> InviteLink:
    """Accept or decline the invite behind a link, once. Concurrent answers: exactly one acts (row lock)."""
    link = _load_invite(signed, lock=True)
    if link.status != "valid" or link.grant is None:
        return link
    grant = link.grant
    actor = grant.coach_token.user if grant.coach_token is not None else None
    if accept:
        accept_invite(grant, actor=actor)
        return InviteLink("accepted", grant, answered="accepted")
    decline_invite(grant, actor=actor)
    return InviteLink("ended", grant, answered="declined")


def pending_invites(token_id: int | None) -> list[CoachGrant]:
    """The invites waiting for a coach token's answer, oldest first."""
    if token_id is None:
        return []
    return list(
        CoachGrant.objects.select_related("athlete__intervals_link")
        .filter(coach_token_id=token_id, revoked_at=None, accepted_at=None)
        .order_by("created_at", "pk")
    )


# --- Private notes -----------------------------------------------------------------------------------


def add_private_note(token_id: int, athlete_id: str, text: str) -> PrivateNote:
    return PrivateNote.objects.create(coach_token_id=token_id, athlete_id=athlete_id, text=text.strip())


# --- Option B: the coach's own Intervals.icu roster, read with their personal API key ----------------


class CoachKeyError(ValueError):
    """An API key the product must refuse; the message is user-facing and never contains the key."""


def _fetch_roster(api_key: str) -> tuple[str, list[dict[str, Any]]]:
    """(the key owner's athlete id, the rows of GET /api/v1/athletes) read with `api_key`. Sync.

    Bearer tokens cannot list athletes upstream; only a personal API key can. `/athlete/0` names the
    key's owner (the roster includes the caller, and nothing else in a row says which one it is).
    """
    from asgiref.sync import async_to_sync

    from integrations.intervals.client import ApiKey, IntervalsClient

    async def fetch() -> tuple[str, list[dict[str, Any]]]:
        client = IntervalsClient(ApiKey(api_key))
        me = await client.get_athlete("0")
        rows = await client.request("GET", "/api/v1/athletes")
        return me.id, [r for r in (rows or []) if isinstance(r, dict)]

    own_id, rows = async_to_sync(fetch)()
    own_id = own_id if own_id.startswith("i") else f"i{own_id}"
    return own_id, rows


def _roster_members(own_id: str, rows: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """athlete id → name/timezone/permission. Permission NONE (followed, not coached) is skipped; the coach
    themself is always WRITE (their own data)."""
    members: dict[str, dict[str, str]] = {}
    for row in rows:
        raw_id = str(row.get("id") or "").strip()
        if not raw_id:
            continue
        athlete_id = raw_id if raw_id.startswith("i") else f"i{raw_id}"
        permission = "WRITE" if athlete_id == own_id else str(row.get("icu_permission") or "NONE").upper()
        if permission not in ("READ", "WRITE"):
            continue
        name = str(row.get("name") or " ".join(str(row.get(k) or "") for k in ("firstname", "lastname")).strip())
        members[athlete_id] = {
            "name": (name or athlete_id)[:200],
            "timezone": str(row.get("timezone") or "")[:64],
            "permission": permission,
        }
    return members


def _store_roster(user_id: int, members: dict[str, dict[str, str]]) -> int:
    """Upsert the roster rows and drop athletes no longer on it. Runs inside the caller's transaction."""
    from coaching.models import RosterAthlete

    now = dj_timezone.now()
    for athlete_id, fields in members.items():
        RosterAthlete.objects.update_or_create(
            coach_id=user_id, athlete_id=athlete_id, defaults={**fields, "refreshed_at": now}
        )
    RosterAthlete.objects.filter(coach_id=user_id).exclude(athlete_id__in=list(members)).delete()
    return len(members)


def link_coach_api_key(user: User, api_key: str) -> CoachApiKey:
    """Store (or replace) `user`'s personal Intervals.icu API key and read their roster with it.

    The key is checked upstream first: a key Intervals.icu refuses raises CoachKeyError and nothing is
    stored. It is kept AEAD-encrypted, bound to its owner. The user gets a coach MCP URL (their coach
    token) if they had none, which reaches the roster's athletes from now on.
    """
    from accounts import crypto
    from accounts.actions import audit
    from integrations.intervals import errors

    api_key = api_key.strip()
    if not api_key or len(api_key) > 200 or any(c.isspace() for c in api_key):
        raise CoachKeyError("Paste the API key exactly as Intervals.icu shows it (Settings → Developer Settings).")
    try:
        own_id, rows = _fetch_roster(api_key)
    except (errors.UpstreamAuthError, errors.UpstreamForbidden):
        raise CoachKeyError(
            "Intervals.icu did not accept that API key. Copy it again from Intervals.icu → Settings → "
            "Developer Settings (the key, not your athlete id)."
        ) from None
    except errors.IntervalsError as exc:
        raise CoachKeyError(f"Could not check the key: {exc.user_message}") from None
    members = _roster_members(own_id, rows)
    with transaction.atomic():
        row, created = CoachApiKey.objects.select_for_update().get_or_create(
            coach=user,
            defaults={
                "athlete_id": own_id,
                "key_encrypted": crypto.encrypt(api_key, context=CoachApiKey.context(user.pk)),
            },
        )
        if not created:
            row.athlete_id = own_id
            row.key_encrypted = crypto.encrypt(api_key, context=CoachApiKey.context(user.pk))
            row.created_at = dj_timezone.now()
        row.needs_attention_at, row.last_error = None, ""
        row.roster_refreshed_at = dj_timezone.now()
        row.save()
        _store_roster(user.pk, members)
        token, _new = ensure_coach_token(user.email)
        if token.user_id is None:
            attach_coach_tokens(user)
        audit("coach.api_key_linked", actor=user, subject=user, athlete_id=own_id, roster=len(members))
    return row


def refresh_roster(user_id: int) -> int:
    """Read the coach's roster again with their stored key; returns how many athletes it holds.

    Decision on an upstream auth failure (the key was revoked or regenerated on Intervals.icu): the key
    is marked as needing attention and the roster rows are deleted at once, since every call through a
    refused key would fail anyway and the assistant should not be offered athletes it cannot reach. The
    key row stays, so the dashboard can say what happened; a new key (or a later successful refresh)
    clears the flag. Transient failures (5xx, timeouts, rate limits) raise and leave the roster as it was.
    """
    from accounts import crypto
    from accounts.actions import audit
    from integrations.intervals import errors

    row = CoachApiKey.objects.filter(coach_id=user_id).first()
    if row is None:
        return 0
    api_key = crypto.decrypt(row.key_encrypted, context=CoachApiKey.context(user_id))
    try:
        own_id, rows = _fetch_roster(api_key)
    except (errors.UpstreamAuthError, errors.UpstreamForbidden) as exc:
        with transaction.atomic():
            CoachApiKey.objects.filter(pk=row.pk).update(
                needs_attention_at=dj_timezone.now(), last_error=exc.user_message[:200]
            )
            _store_roster(user_id, {})
            audit("coach.api_key_refused", actor=None, subject=row.coach)
        return 0
    members = _roster_members(own_id, rows)
    with transaction.atomic():
        if not CoachApiKey.objects.select_for_update().filter(pk=row.pk, key_encrypted=row.key_encrypted).exists():
            return 0  # removed or replaced while we were reading: the newer state wins
        _store_roster(user_id, members)
        CoachApiKey.objects.filter(pk=row.pk).update(
            athlete_id=own_id, roster_refreshed_at=dj_timezone.now(), needs_attention_at=None, last_error=""
        )
    return len(members)


def request_roster_refresh(user: User) -> None:
    """Queue a roster refresh after the current transaction commits (the dashboard's button)."""
    from accounts.tasks import submit_after_commit
    from coaching.tasks import refresh_roster_task

    # submit(): bounded and never raises while Redis is down (beat refreshes every roster anyway).
    submit_after_commit(refresh_roster_task, user.pk)


@transaction.atomic
def unlink_coach_api_key(user: User) -> bool:
    """Forget the coach's API key and their Intervals.icu roster; invite grants are untouched.

    Roster athletes disappear from the coach URL at its next request."""
    from accounts.actions import audit
    from coaching.models import CoachApiKey, RosterAthlete

    deleted, _ = CoachApiKey.objects.filter(coach=user).delete()
    RosterAthlete.objects.filter(coach=user).delete()
    if deleted:
        audit("coach.api_key_removed", actor=user, subject=user)
    return bool(deleted)
