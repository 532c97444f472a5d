"""MCP token format, storage by hash, and encryption at rest bound to the owner."""

from __future__ import annotations

import io
import uuid

import pytest
from django.core.management import call_command
from django.db import connection

from accounts import crypto, tokens
from accounts.actions import ensure_athlete_token, regenerate_token, reveal_token
from accounts.emails import outbox_context
from accounts.models import EmailOutbox, McpToken
from coaching.models import CoachApiKey
from integrations.intervals.models import IntervalsLink
from tests.conftest import make_athlete


def test_it_generates_prefixed_high_entropy_tokens_with_a_checksum() -> None:
    token = tokens.generate()
    assert token.startswith("thr_") and len(token) == tokens.TOKEN_LENGTH
    assert tokens.is_well_formed(token)
    assert len({tokens.generate() for _ in range(200)}) == 200


def test_it_rejects_a_single_character_typo_by_checksum() -> None:
    token = tokens.generate()
    i = 10
    typo = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]
    assert not tokens.is_well_formed(typo)
    assert not tokens.is_well_formed(token[:-1])
    assert not tokens.is_well_formed("thr_" + "!" * (tokens.TOKEN_LENGTH - 4))


def test_it_refuses_to_decrypt_a_ciphertext_copied_to_another_owner() -> None:
    sealed = crypto.encrypt("s3cret-access-token", context="intervals-link:1")
    assert crypto.decrypt(sealed, context="intervals-link:1") == "s3cret-access-token"
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(sealed, context="intervals-link:2")


def test_it_decrypts_with_an_older_key_after_rotation(settings: object) -> None:
    old_keys = list(settings.ENCRYPTION_KEYS)  # type: ignore[attr-defined]
    sealed = crypto.encrypt("value", context="c")
    settings.ENCRYPTION_KEYS = [("new", b"n" * 32), *old_keys]  # type: ignore[attr-defined]
    assert crypto.decrypt(sealed, context="c") == "value"
    assert crypto.needs_rotation(sealed)
    assert not crypto.needs_rotation(crypto.encrypt("value", context="c"))


@pytest.mark.django_db
def test_it_stores_no_raw_token_anywhere_in_the_database(sandbox: object) -> None:
    athlete = make_athlete("mara@example.com", athlete_id="i100001", sandbox=sandbox)  # type: ignore[arg-type]
    row = ensure_athlete_token(athlete)
    assert row is not None
    raw = reveal_token(row)
    upstream = IntervalsLink.objects.get(user=athlete).get_token()
    dump = _dump_database()
    assert raw not in dump and raw[4:] not in dump
    assert upstream not in dump
    assert row.token_hash in dump  # looked up by its SHA-256 digest


@pytest.mark.django_db
def test_it_reencrypts_every_secret_with_the_new_primary_key(settings: object, sandbox: object) -> None:
    athlete = make_athlete("mara@example.com", athlete_id="i100001", sandbox=sandbox)  # type: ignore[arg-type]
    row = ensure_athlete_token(athlete)
    assert row is not None
    raw = reveal_token(row)
    upstream = IntervalsLink.objects.get(user=athlete).get_token()
    coach = make_athlete("sam@example.com", athlete_id=None)
    api_key = CoachApiKey.objects.create(
        coach=coach,
        athlete_id="i100004",
        key_encrypted=crypto.encrypt("sams-api-key", context=CoachApiKey.context(coach.pk)),
    )
    email = EmailOutbox.objects.create(key=uuid.uuid4(), kind="coach_invite", to_email="sam@example.com", sealed="")
    email.sealed = crypto.encrypt('{"text": "your MCP URL"}', context=outbox_context(email.key))
    email.save()
    settings.ENCRYPTION_KEYS = [("k2", b"k" * 32), *settings.ENCRYPTION_KEYS]  # type: ignore[attr-defined]
    call_command("reencrypt", stdout=io.StringIO())
    for stored in (row, api_key, email):
        stored.refresh_from_db()
    link = IntervalsLink.objects.get(user=athlete)
    sealed = [row.token_encrypted, link.token_encrypted, api_key.key_encrypted, email.sealed]
    assert all(s.startswith("v1.k2.") for s in sealed), "every stored secret, coach API keys and unsent emails too"
    settings.ENCRYPTION_KEYS = settings.ENCRYPTION_KEYS[:1]  # type: ignore[attr-defined]  # the old key dropped
    assert reveal_token(row) == raw and link.get_token() == upstream
    assert crypto.decrypt(api_key.key_encrypted, context=CoachApiKey.context(coach.pk)) == "sams-api-key"
    assert crypto.decrypt(email.sealed, context=outbox_context(email.key)) == '{"text": "your MCP URL"}'


@pytest.mark.django_db
def test_it_issues_no_token_before_the_email_is_verified() -> None:
    from accounts.models import User

    user = User.objects.create_user("new@example.com", "pw-long-enough-1")
    assert ensure_athlete_token(user) is None
    assert not McpToken.objects.exists()


@pytest.mark.django_db
def test_it_kills_the_old_token_at_once_on_regenerate() -> None:
    athlete = make_athlete("mara@example.com", athlete_id=None)
    old = ensure_athlete_token(athlete)
    assert old is not None
    new, raw = regenerate_token(old, actor=athlete)
    old.refresh_from_db()
    assert old.revoked_at is not None and new.revoked_at is None
    assert reveal_token(new) == raw
    assert ensure_athlete_token(athlete) == new


def _dump_database() -> str:
    """Every text value of every table, as a dump would hold it."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - table names from introspection
            chunks.extend(str(value) for row in cursor.fetchall() for value in row)
    return "\n".join(chunks)
