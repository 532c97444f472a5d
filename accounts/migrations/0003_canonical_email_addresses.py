"""Rewrite every stored email address to its canonical form (accounts.identity).

Lookups now compare canonical addresses exactly, so stored ones must be canonical too. Two kinds of row
are left exactly as they are, each reported (a log warning and an `identity.not_canonicalised` audit row):
- an address with no canonical form (a non-ASCII part before the @): it can no longer be typed, so no
  lookup reaches it; an operator decides (change the address, or contact the person);
- an address whose canonical form another row of the same table already has or would get
  (`ſam@mail.example` beside `sam@mail.example`): rewriting it would hand one person's account, tokens or
  grants to the other's mailbox, so accounts are never merged silently.

Not rewritten: EmailOutbox.to_email (the record of where each email went; a pending one still goes where
it was addressed, as re-addressing could deliver someone's mail to another mailbox).
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import migrations

logger = logging.getLogger("accounts.migrations")

# (app label, model, address field, how a row names its user for the audit trail)
TABLES = [
    ("accounts", "User", "email", "pk"),
    ("account", "EmailAddress", "email", "user_id"),
    ("accounts", "McpToken", "email", "user_id"),
    ("coaching", "CoachGrant", "coach_email", "athlete_id"),
    ("accounts", "TokenConfirmation", "email", None),
]


def canonicalise_rows(apps: Any, table: tuple[str, str, str, str | None]) -> list[dict[str, Any]]:
    """Rewrite one table's addresses; return what was left as it was, and why."""
    from accounts.identity import InvalidEmail, canonical_email

    app_label, model_name, field, user_field = table
    model = apps.get_model(app_label, model_name)
    columns = ["pk", field] + ([user_field] if user_field and user_field != "pk" else [])
    groups: dict[str, list[dict[str, Any]]] = {}
    left: list[dict[str, Any]] = []
    for row in model.objects.values(*columns).order_by("pk"):
        entry = {
            "table": f"{app_label}.{model_name}",
            "pk": row["pk"],
            "address": row[field],
            "user_id": row[user_field] if user_field else None,
        }
        try:
            groups.setdefault(canonical_email(row[field]), []).append(entry)
        except InvalidEmail:
            left.append({**entry, "reason": "no canonical form"})
    for canonical, rows in groups.items():
        spellings = {r["address"] for r in rows}
        if len(spellings) > 1:
            # Several different addresses share one canonical form: rows already canonical stay so, the
            # others stay as they are.
            left.extend({**r, "reason": f"would collide as {canonical}"} for r in rows if r["address"] != canonical)
            continue
        if spellings != {canonical}:
            model.objects.filter(pk__in=[r["pk"] for r in rows]).update(**{field: canonical})
    return left


def canonicalise(apps: Any, schema_editor: Any) -> None:
    AuditEvent = apps.get_model("accounts", "AuditEvent")
    for table in TABLES:
        for entry in canonicalise_rows(apps, table):
            logger.warning(
                "email address left as it is: %s %s %r (%s)",
                entry["table"],
                entry["pk"],
                entry["address"],
                entry["reason"],
            )
            AuditEvent.objects.create(
                action="identity.not_canonicalised",
                subject_id=entry["user_id"],
                detail={k: entry[k] for k in ("table", "pk", "address", "reason")},
            )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_billing_outbox_token_links"),
        ("account", "0009_emailaddress_unique_primary_email"),
        ("coaching", "0004_catchupcursor"),
    ]

    operations = [migrations.RunPython(canonicalise, migrations.RunPython.noop)]
