"""The token lookup behind every MCP request: one query, the joined rows decoded as the ORM would."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.actions import ensure_athlete_token, reveal_token
from accounts.models import BillingAccount, McpToken
from mcpserver.principal import load_principal
from tests.conftest import MARA, Sandbox, make_athlete

pytestmark = pytest.mark.django_db


def test_it_loads_an_athletes_url_in_one_query(sandbox: Sandbox, django_assert_num_queries: Any) -> None:
    mara = make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)
    token = reveal_token(ensure_athlete_token(mara))
    assert load_principal(token) is not None  # first use stamps last_used_at (a coarse, occasional write)
    with django_assert_num_queries(1):
        principal = load_principal(token)
    assert principal is not None and principal.kind == "athlete" and principal.user_id == mara.pk
    access = principal.athletes[0]
    assert (access.athlete_id, access.name, access.timezone) == (MARA, "Mara Lindqvist", "Europe/Stockholm")
    assert "CALENDAR:WRITE" in access.scopes and access.token_encrypted
    assert principal.display_name == "mara@example.com"


def test_it_reads_billing_from_the_joined_row(sandbox: Sandbox, settings: Any) -> None:
    settings.BILLING_ENABLED = True
    mara = make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)
    token = reveal_token(ensure_athlete_token(mara))
    principal = load_principal(token)
    assert principal is not None and "needs an active subscription" in principal.blocked_reason
    BillingAccount.objects.create(user=mara, status="active", plan="athlete_monthly")
    principal = load_principal(token)
    assert principal is not None and principal.blocked_reason == ""


def test_it_refuses_revoked_tokens_and_inactive_users(sandbox: Sandbox) -> None:
    mara = make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)
    row = ensure_athlete_token(mara)
    token = reveal_token(row)
    diego = make_athlete("diego@example.com", athlete_id=None)
    other = reveal_token(ensure_athlete_token(diego))
    principal = load_principal(other)
    assert principal is not None and principal.athletes == [], "a user without a link reaches nobody"
    type(mara).objects.filter(pk=mara.pk).update(is_active=False)
    assert load_principal(token) is None
    type(mara).objects.filter(pk=mara.pk).update(is_active=True)
    McpToken.objects.filter(pk=row.pk).update(revoked_at="2026-01-01T00:00:00Z")
    assert load_principal(token) is None


def test_it_prepares_the_lookup_once_per_postgresql_connection(sandbox: Sandbox, settings: Any) -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are a PostgreSQL feature")
    mara = make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)
    token = reveal_token(ensure_athlete_token(mara))

    def prepared() -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT statement FROM pg_prepared_statements")
            return [row[0] for row in cursor.fetchall() if "token_hash" in row[0]]

    settings.DB_PREPARED_STATEMENTS = False  # e.g. behind PgBouncer in transaction mode
    assert load_principal(token) is not None
    assert prepared() == []
    settings.DB_PREPARED_STATEMENTS = True
    for _ in range(3):
        assert load_principal(token) is not None
    assert len(prepared()) == 1, "one server-side statement, reused by every later lookup"
