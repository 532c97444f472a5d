"""Named writes for the coaching area: the access log."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import date
from typing import Any

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


@transaction.atomic
def invite_coach(
    athlete: User,
    coach_email: str,
    tools: list[str],
    *,
    hidden: list[str] | None = None,
    expires_on: date | None = None,
) -> CoachGrant:
    """Grant `coach_email` the chosen tools on `athlete`'s data and email them their MCP URL.

    Re-inviting the same coach updates the live grant. The email is sent by a Celery task after commit.
    """
    from accounts.actions import audit
    from accounts.identity import InvalidEmail, canonical_email

    try:
        coach_email = canonical_email(coach_email)
    except InvalidEmail as exc:
        raise GrantError(str(exc)) from None
    tools, hidden_classes = _clean_grant(tools, hidden or [])
    if expires_on is not None and expires_on < dj_timezone.localdate():
        raise GrantError("The expiry date is in the past.")
    token, _created = ensure_coach_token(coach_email)
    grant = (
        CoachGrant.objects.select_for_update().filter(athlete=athlete, coach_email=coach_email, revoked_at=None).first()
    )
    if grant is None:
        grant = CoachGrant(athlete=athlete, coach_email=coach_email)
    grant.coach_token = token
    grant.tools = tools
    grant.hidden_classes = hidden_classes
    grant.expires_on = expires_on
    grant.updated_at = dj_timezone.now()
    grant.save()
    audit("coach.invited", actor=athlete, subject=athlete, coach=coach_email, tools=tools, hidden=hidden_classes)
    _email_invite(grant, token)
    return grant


def _email_invite(grant: CoachGrant, token: McpToken) -> None:
    """Email the coach their URL: recorded in the outbox within this transaction, sent after commit."""
    from django.conf import settings

    from accounts.actions import reveal_token
    from accounts.emails import send_coach_invite_email

    athletes = [
        g.athlete.name or g.athlete.email
        for g in CoachGrant.objects.select_related("athlete").filter(coach_token=token, revoked_at=None)
    ]
    send_coach_invite_email(
        grant.coach_email,
        inviting_athlete=grant.athlete.name or grant.athlete.email,
        athlete_names=athletes,
        mcp_url=f"{settings.SITE_URL}/mcp/{reveal_token(token)}",
        tools=list(grant.tools),
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
    locked = CoachGrant.objects.select_for_update().get(pk=grant.pk, revoked_at=None)
    locked.tools, locked.hidden_classes, locked.expires_on = tools, hidden_classes, expires_on
    locked.updated_at = dj_timezone.now()
    locked.save(update_fields=["tools", "hidden_classes", "expires_on", "updated_at"])
    audit("coach.grant_changed", actor=actor, subject=locked.athlete, coach=locked.coach_email, tools=tools)
    return locked


@transaction.atomic
def revoke_coach(grant: CoachGrant, *, actor: User) -> None:
    """Stop a coach at once: the next MCP request no longer reaches this athlete."""
    from accounts.actions import audit

    updated = CoachGrant.objects.filter(pk=grant.pk, revoked_at=None).update(revoked_at=dj_timezone.now())
    if updated:
        audit("coach.revoked", actor=actor, subject=grant.athlete, coach=grant.coach_email)


def attach_coach_tokens(user: User) -> int:
    """A coach who signs up with an invited address takes ownership of their coach token, once that address
    is verified on their account. Exact match on the canonical address: never a look-alike's token."""
    from accounts.actions import user_email_verified

    if not user_email_verified(user):
        return 0
    return McpToken.objects.filter(kind=McpToken.Kind.COACH, email=user.email, user=None).update(user=user)


def select_athlete(token_id: int, athlete_id: str) -> None:
    """Remember a coach token's default athlete server-side (survives stateless requests and workers)."""
    McpToken.objects.filter(pk=token_id).update(default_athlete_id=athlete_id)


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
