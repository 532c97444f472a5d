"""whoami: who this MCP URL belongs to and what it can reach."""

from __future__ import annotations

from pydantic import BaseModel

from mcpserver import present
from mcpserver.catalogue import REGISTRY, AthleteEcho, ToolCall, ToolInput, ToolResult, ToolSpec, Untrusted, register


class WhoamiInput(ToolInput):
    pass


class WhoamiAthlete(AthleteEcho):
    tools: list[str]
    is_default: bool = False


class WhoamiOutput(BaseModel):
    owner: Untrusted
    role: str
    athletes: list[WhoamiAthlete]
    tools: list[str]
    note: str | None = None


async def whoami(call: ToolCall, args: WhoamiInput) -> ToolResult:
    from mcpserver.server import allowed_tools

    p = call.principal
    allowed = sorted(allowed_tools(p))
    athletes = []
    for a in p.athletes:
        tools = sorted(
            n
            for n in allowed
            if REGISTRY[n].scope is not None and a.allows_tool(n, REGISTRY[n].scope, REGISTRY[n].read_only)
        )
        # A selection that left the URL stays the default (and is refused): the only athlete left is not it.
        default = a.athlete_id == p.default_athlete_id or (len(p.athletes) == 1 and not p.default_athlete_id)
        athletes.append({**a.echo(), "tools": tools, "is_default": default})
    data: dict[str, object] = {
        "owner": {present.UNTRUSTED: p.display_name},
        "role": p.kind,
        "athletes": athletes,
        "tools": allowed,
    }
    if not p.athletes and p.kind == "coach":
        data["note"] = "No athlete reaches this coach URL yet: athletes appear once you accept their invite."
    elif not p.athletes:
        data["note"] = "No Intervals.icu account is connected yet: connect it on the Threshold dashboard."
    names = (
        ", ".join(f"{present.fence(a.name)} ({a.athlete_id}, {a.timezone or 'UTC'})" for a in p.athletes)
        or "no athlete yet"
    )
    text = f"Threshold {p.kind} URL of {present.fence(p.display_name)}; athletes: {names}; {len(allowed)} tools."
    return ToolResult(data=data, text=text)


register(
    ToolSpec(
        name="whoami",
        title="Who am I",
        description="Whose URL this is, its role, the athletes it reaches (time zones) and its tools.",
        input_model=WhoamiInput,
        output_model=WhoamiOutput,
        handler=whoami,
        scope=None,
        open_world=False,
    )
)
