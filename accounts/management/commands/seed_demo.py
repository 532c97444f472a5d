"""Create demo athlete accounts linked to the Intervals.icu sandbox athletes. Idempotent.

Prints the logins and MCP URLs; `--json` prints one line for scripts:
{"base_url": ..., "athletes": [{"name", "email", "password", "mcp_url"}],
 "coaches": [{"name", "email", "mcp_url", "athletes": [names]}]}

The demo coach (Sam Okafor, same password) is invited by Mara with every grantable tool and by Diego with
the read-only tools, so one coach URL shows both kinds of grant.
"""

from __future__ import annotations

import json
from typing import Any

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.actions import ensure_athlete_token, reveal_token
from accounts.models import McpToken, User
from integrations.intervals.actions import link_intervals
from integrations.intervals.models import IntervalsLink
from integrations.intervals.schemas import OAuthAthlete, OAuthToken

DEMO_PASSWORD = "threshold-demo"  # noqa: S105 - a published demo login for the local sandbox only
DEMO_ATHLETES = [
    ("i100001", "mara@demo.threshold.local"),
    ("i100002", "diego@demo.threshold.local"),
    ("i100003", "aroha@demo.threshold.local"),
]
DEMO_COACH = ("Sam Okafor", "coach@demo.threshold.local")


class Command(BaseCommand):
    help = "Create demo athletes linked to the Intervals.icu sandbox and print their logins and MCP URLs."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--json", action="store_true", help="print one JSON line")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not settings.SANDBOX_ENABLED:
            raise CommandError("seed_demo only runs against the Intervals.icu sandbox (DEBUG or INTERVALS_SANDBOX=1).")
        from integrations.intervals.sandbox import SandboxState
        from integrations.intervals.sandbox_mount import sandbox_config

        state = SandboxState(sandbox_config(state_file=None))
        scopes = ",".join(settings.INTERVALS_SCOPES)
        athletes = []
        for athlete_id, email in DEMO_ATHLETES:
            record = state.athletes[athlete_id]
            name, timezone = record.name, record.timezone
            user = User.objects.filter(email=email).first()
            if user is None:
                user = User.objects.create_user(email, DEMO_PASSWORD, name=name)
            EmailAddress.objects.update_or_create(user=user, email=email, defaults={"verified": True, "primary": True})
            if not IntervalsLink.objects.filter(user=user, athlete_id=athlete_id).exists():
                token = OAuthToken(
                    access_token=state.demo_token(athlete_id),
                    scope=scopes,
                    athlete=OAuthAthlete(id=athlete_id.removeprefix("i"), name=name),
                )
                link_intervals(user, token, timezone=timezone)
            row = ensure_athlete_token(user)
            assert row is not None
            athletes.append(
                {
                    "name": name,
                    "email": email,
                    "password": DEMO_PASSWORD,
                    "mcp_url": f"{settings.SITE_URL}/mcp/{reveal_token(row)}",
                }
            )
        coaches = [self._seed_coach()]
        if options["json"]:
            self.stdout.write(json.dumps({"base_url": settings.SITE_URL, "athletes": athletes, "coaches": coaches}))
            return
        self.stdout.write(self.style.SUCCESS(f"Threshold demo at {settings.SITE_URL}"))
        for a in athletes:
            self.stdout.write(f"  {a['name']:<16} login {a['email']} / {a['password']}")
            self.stdout.write(f"  {'':<16} MCP URL {a['mcp_url']}")
        for c in coaches:
            self.stdout.write(
                f"  {c['name']:<16} login {c['email']} / {DEMO_PASSWORD} (coach of {', '.join(c['athletes'])})"
            )
            self.stdout.write(f"  {'':<16} coach MCP URL {c['mcp_url']}")
        self.stdout.write("Sign up with any email to try the full flow; verification emails print to this console.")

    def _seed_coach(self) -> dict[str, Any]:
        """The demo coach: invited by the first demo athlete with every tool, by the second with reads only;
        both invites accepted."""
        from coaching.actions import accept_invite, grantable_tools, invite_coach
        from coaching.models import CoachGrant

        name, email = DEMO_COACH
        coach = User.objects.filter(email=email).first()
        if coach is None:
            coach = User.objects.create_user(email, DEMO_PASSWORD, name=name)
        EmailAddress.objects.update_or_create(user=coach, email=email, defaults={"verified": True, "primary": True})
        groups = grantable_tools()
        plan = [(DEMO_ATHLETES[0][1], groups["read"] + groups["write"]), (DEMO_ATHLETES[1][1], groups["read"])]
        names = []
        for athlete_email, tools in plan:
            athlete = User.objects.get(email=athlete_email)
            live = CoachGrant.objects.filter(athlete=athlete, coach_email=email, revoked_at=None).first()
            if live is None or sorted(live.tools) != sorted(tools) or live.coach_token is None:
                live = invite_coach(athlete, email, tools)  # only when something changed: no repeated emails
            accept_invite(live, actor=coach)  # the demo coach has said yes (a no-op once accepted)
            names.append(athlete.name or athlete.email)
        token = McpToken.objects.get(kind=McpToken.Kind.COACH, email=email, revoked_at=None)
        if token.user_id is None:
            McpToken.objects.filter(pk=token.pk).update(user=coach)
        return {
            "name": name,
            "email": email,
            "mcp_url": f"{settings.SITE_URL}/mcp/{reveal_token(token)}",
            "athletes": names,
        }
