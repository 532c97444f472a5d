"""Coach tools for moving around the roster: list_athletes, select_athlete, search_roster."""

from __future__ import annotations

from pydantic import BaseModel, Field

from coaching.actions import select_athlete as remember_default
from mcpserver import present
from mcpserver.bounds import ShortText
from mcpserver.catalogue import AthleteEcho, ToolCall, ToolFailure, ToolInput, ToolResult, ToolSpec, register
from mcpserver.db import run_db
from mcpserver.principal import AthleteAccess, AthleteResolutionError, resolve_athlete


def granted_tools(access: AthleteAccess) -> list[str]:
    from mcpserver.catalogue import REGISTRY

    return sorted(
        spec.name
        for spec in REGISTRY.values()
        if spec.group in ("read", "write")
        and spec.scope is not None
        and access.allows_tool(spec.name, spec.scope, spec.read_only)
    )


def athlete_row(access: AthleteAccess, default_id: str) -> dict[str, object]:
    row: dict[str, object] = {**access.echo(), "tools": granted_tools(access)}
    if access.athlete_id == default_id:
        row["selected"] = True
    if access.hidden:
        row["hidden_data"] = sorted(access.hidden)
    if access.api_key_owner_id is not None:
        row["via"] = "Intervals.icu roster" + ("" if access.write_allowed else " (read only)")
    return row


class ListAthletesInput(ToolInput):
    pass


class RosterAthlete(AthleteEcho):
    tools: list[str]
    selected: bool | None = None
    hidden_data: list[str] | None = None
    via: str | None = None


class ListAthletesOutput(BaseModel):
    athletes: list[RosterAthlete]
    selected: str | None = None


async def list_athletes(call: ToolCall, args: ListAthletesInput) -> ToolResult:
    p = call.principal
    rows = [athlete_row(a, p.default_athlete_id) for a in p.athletes]
    data: dict[str, object] = {"athletes": rows}
    if p.default_athlete_id:
        data["selected"] = p.default_athlete_id
    names = "; ".join(
        f"{present.fence(a.name, 40)} ({a.athlete_id}, {a.timezone or 'UTC'}, {len(granted_tools(a))} tools)"
        for a in p.athletes
    )
    return ToolResult(data=data, text=f"{len(rows)} athletes: {names or 'none yet'}.")


class SelectAthleteInput(ToolInput):
    athlete: ShortText = Field(description="Name or id")


class SelectAthleteOutput(BaseModel):
    athlete: AthleteEcho
    tools: list[str]


async def select_athlete(call: ToolCall, args: SelectAthleteInput) -> ToolResult:
    try:
        access = resolve_athlete(call.principal, args.athlete)
    except AthleteResolutionError as exc:
        raise ToolFailure(str(exc)) from None
    call.resolved = access
    await run_db(remember_default, call.principal.token_id, access.athlete_id)
    tools = granted_tools(access)
    return ToolResult(
        data={"athlete": access.echo(), "tools": tools},
        text=f"Selected {present.fence(access.name, 40)} ({access.athlete_id}, {access.timezone or 'UTC'}): later "
        f"calls without `athlete` are about them. {len(tools)} tools granted.",
    )


register(
    ToolSpec(
        name="list_athletes",
        title="List athletes",
        description="Athletes this coach URL reaches, with time zones and the tools each granted.",
        input_model=ListAthletesInput,
        output_model=ListAthletesOutput,
        handler=list_athletes,
        scope=None,
        open_world=False,
        group="coach",
    )
)
register(
    ToolSpec(
        name="select_athlete",
        title="Select athlete",
        description="Make an athlete the default for later calls without `athlete` (kept server-side).",
        input_model=SelectAthleteInput,
        output_model=SelectAthleteOutput,
        handler=select_athlete,
        scope=None,
        read_only=False,
        destructive=False,
        idempotent=True,
        open_world=False,
        group="coach",
    )
)
