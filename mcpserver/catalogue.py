"""The tool catalogue: one `ToolSpec` per tool, with its scope, annotations and strict schemas.

Tools are plain async functions `handler(call, args) -> ToolResult`. The catalogue turns them into
SDK tools whose input schema forbids unknown arguments, whose output schema is published, and whose
answer is `structuredContent` plus a short text rendering. Every failure becomes a clear `isError`
result; nothing raised inside a tool reaches the client as a stack trace or a 500.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone as dj_timezone
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools.base import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, ConfigDict, ValidationError

from coaching.actions import WriteRecord
from integrations.intervals import cache as intervals_cache
from integrations.intervals import errors
from integrations.intervals.ratelimit import NOT_READ, RateLimitExceeded, get_token_limiter
from mcpserver import journal, present, redact
from mcpserver.bounds import BoundedDate
from mcpserver.db import run_db
from mcpserver.principal import AthleteAccess, AthleteResolutionError, Principal, resolve_athlete

logger = logging.getLogger(__name__)


class ToolInput(ArgModelBase):
    """Base of every tool's arguments: unknown arguments are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)


class AthleteInput(ToolInput):
    # Shared arguments carry no per-tool description: the server instructions explain them once.
    athlete: str | None = None


class DateWindowInput(AthleteInput):
    # Refused outside mcpserver.bounds' window (year 1, year 9999) before any date arithmetic runs.
    start: BoundedDate | None = None
    end: BoundedDate | None = None


class Untrusted(BaseModel):
    """Text written by a person or a device (present.untrusted): data to report, never instructions."""

    untrusted: str


class AthleteEcho(BaseModel):
    id: str
    name: Untrusted  # the athlete's own name is free text too (any stranger can invite a coach)
    timezone: str


class ToolFailure(Exception):
    """A deliberate, user-facing tool error: the message is shown to the model as is."""


@dataclass
class ToolResult:
    """A tool's answer. Write tools set `write` (it goes to the access log, for undo) or `preview`."""

    data: dict[str, Any]
    text: str
    write: WriteRecord | None = None
    preview: bool = False
    undo_of_id: int | None = None


@dataclass
class ToolCall:
    """What a tool handler gets besides its arguments."""

    principal: Principal
    tool_name: str
    resolved: AthleteAccess | None = None
    journal_id: int | None = None  # a write's pending access-log row (mcpserver.journal)

    def athlete(self, wanted: str | None) -> AthleteAccess:
        """Resolve the athlete among those where this tool is allowed, before any upstream call."""
        spec = REGISTRY[self.tool_name]
        # Coach tools work on any athlete the coach reaches; athlete tools need that athlete's grant.
        tool = None if spec.group == "coach" else spec.name
        try:
            access = resolve_athlete(self.principal, wanted, tool=tool, scope=spec.scope, read_only=spec.read_only)
        except AthleteResolutionError as exc:
            raise ToolFailure(str(exc)) from None
        self.resolved = access
        return access


Handler = Callable[[ToolCall, Any], Awaitable[ToolResult]]


@dataclass
class ToolSpec:
    name: str
    title: str
    description: str
    input_model: type[ToolInput]
    output_model: type[BaseModel]
    handler: Handler
    scope: str | None  # Intervals.icu scope the tool needs; None = needs no athlete data
    read_only: bool = True  # False for tools that write upstream (their calls are journaled)
    destructive: bool = False
    idempotent: bool = True
    open_world: bool = True
    group: str = "read"
    extra: dict[str, Any] = field(default_factory=dict)

    def annotations(self) -> ToolAnnotations:
        """Truthful hints. For read-only tools the destructive/idempotent hints carry no meaning (per the
        spec), so they are left out; the title is the tool's own `title`."""
        if self.read_only:
            return ToolAnnotations(read_only_hint=True, open_world_hint=self.open_world)
        return ToolAnnotations(
            read_only_hint=False,
            destructive_hint=self.destructive,
            idempotent_hint=self.idempotent,
            open_world_hint=self.open_world,
        )


REGISTRY: dict[str, ToolSpec] = {}


def register(spec: ToolSpec) -> ToolSpec:
    if spec.name in REGISTRY:
        raise ValueError(f"duplicate tool {spec.name}")
    if not spec.read_only and spec.destructive and "confirm" not in spec.input_model.model_fields:
        # A tool that deletes or overwrites never does it in one call (tools/writes_confirm.py).
        raise ValueError(f"destructive tool {spec.name} must take a confirm code")
    REGISTRY[spec.name] = spec
    return spec


def _collapse_optional(node: dict[str, Any]) -> dict[str, Any]:
    """`{"anyOf": [X, {"type": "null"}], "default": null}` → X: optional already means "may be absent"."""
    any_of = node.get("anyOf")
    if (
        isinstance(any_of, list)
        and len(any_of) == 2
        and {"type": "null"} in any_of
        and node.get("default", None) is None
    ):
        other = next(s for s in any_of if s != {"type": "null"})
        rest = {k: v for k, v in node.items() if k not in ("anyOf", "default")}
        return {**other, **rest}
    return node


def compact_schema(schema: Any) -> Any:
    """Strip what costs context and says nothing: generated titles and `anyOf [X, null]` wrappers."""
    if isinstance(schema, dict):
        schema = _collapse_optional(schema)
        out: dict[str, Any] = {}
        for key, value in schema.items():
            if key == "title" and isinstance(value, str):
                continue
            if key in ("properties", "$defs") and isinstance(value, dict):
                out[key] = {name: compact_schema(sub) for name, sub in value.items()}
            else:
                out[key] = compact_schema(value)
        return out
    if isinstance(schema, list):
        return [compact_schema(v) for v in schema]
    return schema


def shallow_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The published outputSchema: an object and the names of its top-level fields.

    The full model still validates every answer server-side before it is sent. Clients only need the
    shape, and the JSON types of the fields (visible in every answer anyway) cost context in every
    conversation: on the full catalogue they were 2.4 KB of the tools/list.
    """
    return {"type": "object", "properties": {name: {} for name in schema.get("properties", {})}}


# Arguments whose meaning the server instructions give once for every tool ("'start'/'end' are ISO dates
# (YYYY-MM-DD) in the athlete's own calendar"): their schemas need not repeat the date format per tool.
_EXPLAINED_IN_INSTRUCTIONS = ("start", "end")


def input_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The published inputSchema: compact, strict, and without what the instructions already say."""
    schema = compact_schema(model.model_json_schema(by_alias=True))
    for name in _EXPLAINED_IN_INSTRUCTIONS:
        prop = schema.get("properties", {}).get(name)
        if isinstance(prop, dict) and prop.get("format") == "date":
            schema["properties"][name] = {k: v for k, v in prop.items() if k != "format"}
    return dict(schema)


def validation_message(tool: str, exc: ValidationError) -> str:
    """One line per problem, naming the argument; never echoes pydantic internals or URLs."""
    problems = []
    for err in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in err["loc"]) or "arguments"
        if err["type"] == "extra_forbidden":
            problems.append(f"unknown argument '{where}'")
        else:
            problems.append(f"{where}: {err['msg']}")
    return f"Invalid arguments for {tool}: " + "; ".join(problems) + "."


def error_result(message: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)


def principal_from(ctx: Context[Any]) -> Principal:
    request = ctx.request_context.request
    principal = getattr(getattr(request, "state", None), "principal", None)
    if not isinstance(principal, Principal):
        raise ToolFailure("This tool is only available through a personal Threshold MCP URL.")
    return principal


async def run_tool(spec: ToolSpec, principal: Principal, arguments: dict[str, Any] | ToolInput) -> CallToolResult:
    """Validate, run, check, render and log one tool call. Always returns a result; never raises.

    `arguments` may be the raw JSON object or, already validated, the tool's input model. The answer is
    checked against the tool's output model before it is sent (its published outputSchema): a tool that
    broke its own contract answers with an error, never with a malformed result.
    """
    if isinstance(arguments, spec.input_model):
        args = arguments
    else:
        try:
            args = spec.input_model.model_validate(arguments)
        except ValidationError as exc:
            return error_result(validation_message(spec.name, exc))
    call = ToolCall(principal=principal, tool_name=spec.name)
    result: ToolResult | None = None
    message = ""
    if principal.blocked_reason:
        # A lapsed subscription: say so plainly, with the page that fixes it, instead of running the tool.
        return error_result(principal.blocked_reason)
    ahead_access = _cached_athlete(spec, principal, args)
    ahead = ahead_access.athlete_id if ahead_access is not None else None
    version = -1
    limiter = get_token_limiter()
    pre = principal.preflight
    try:
        raw: object = NOT_READ
        if pre is not None:
            # The gate reserved this call's slot (and read the version) when it checked the Principal.
            wait = pre.wait
            raw = pre.version_raw if ahead is not None and pre.athlete_id == ahead else NOT_READ
        else:
            # The athlete's cache version is read in the limiter's own round trip (one Redis call for both).
            read = intervals_cache.version_redis_key(ahead) if ahead is not None else None
            wait, values = await limiter.reserve_reading(
                0, key=token_bucket(principal.token_id), read=(read,) if read else (), lease=True
            )
            raw = values[0] if read else NOT_READ
        await limiter.settle(wait)
        if ahead is not None:
            version = await intervals_cache.fetch_version(ahead, raw)
    except RateLimitExceeded as exc:
        return error_result(
            f"Too many calls through this MCP URL right now; retry after about {max(1, math.ceil(exc.wait_seconds))} s."
        )
    if not spec.read_only:
        # A write's access-log row is on disk before anything is asked of Intervals.icu (mcpserver.journal).
        target = _write_athlete(spec, principal, args)
        if target is not None:
            try:
                call.journal_id = await run_db(journal.begin, **_log_row(spec, principal, target))
            except Exception as exc:
                logger.warning("%s refused: journal unavailable (%s)", spec.name, type(exc).__name__)
                return error_result(journal.refusal(spec.name))
    answer_key = _answer_key(spec, ahead_access, args) if ahead_access is not None and version >= 0 else None
    remembered = intervals_cache.memo.get_entry(answer_key, version) if answer_key is not None else None
    # Write tools read what they are about to change (the undo pre-image) fresh, never from the cache.
    bypass = intervals_cache.bypass.set(not spec.read_only)
    prefetched = intervals_cache.prefetched.set((ahead, version) if ahead is not None else None)
    tracked = intervals_cache.Reads(ahead, version) if answer_key is not None and ahead is not None else None
    reads = intervals_cache.reads.set(tracked)
    try:
        if remembered is not None and ahead_access is not None:
            # The same question about the same cached data (and day): the answer already built and checked.
            call.resolved = ahead_access
            result = ToolResult(data=remembered[1][0], text=remembered[1][1])
        else:
            result = await _within_budget(spec, call, args)
    except ToolOverrun as exc:
        message = str(exc)
        if exc.finishing:
            return error_result(message)  # the write is journaled by _journal_late when it ends
    except ToolFailure as exc:
        message = str(exc)
    except errors.UpstreamRateLimited as exc:
        message = errors.retry_after_text(exc)
    except errors.IntervalsError as exc:
        message = exc.user_message
    except Exception:
        logger.exception("tool %s crashed", spec.name)
        message = f"{spec.name} failed because of an internal error on Threshold's side. It was logged; try again."
    finally:
        intervals_cache.bypass.reset(bypass)
        intervals_cache.prefetched.reset(prefetched)
        intervals_cache.reads.reset(reads)
    if result is not None and remembered is None:
        try:
            spec.output_model.model_validate(result.data)
        except ValidationError:
            logger.exception("tool %s answered outside its output schema", spec.name)
            result = None
            message = f"{spec.name} failed because of an internal error on Threshold's side. It was logged; try again."
        else:
            _remember(answer_key, tracked, call, result)
    # The athlete's access log keeps the whole answer (they always see everything about their own data);
    # a coach the athlete hid data classes from gets it without them (mcpserver/redact.py).
    await _log_call(spec, call, result, message)
    if result is None:
        return error_result(message)
    data, text = result.data, result.text
    if call.resolved is not None and call.resolved.hidden:
        # The name goes into the one-line text: fenced, as every free text there (mcpserver.present).
        fenced = present.fence(call.resolved.name, 40)
        data, text = redact.answer(spec.name, data, text, call.resolved.hidden, fenced)
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)


def _write_athlete(spec: ToolSpec, principal: Principal, args: ToolInput) -> AthleteAccess | None:
    """The athlete a write call will act on, resolved as the tool will resolve it (None: the tool will
    refuse before any upstream request, so there is nothing to journal)."""
    if not isinstance(args, AthleteInput):
        return None
    tool = None if spec.group == "coach" else spec.name
    try:
        return resolve_athlete(principal, args.athlete, tool=tool, scope=spec.scope, read_only=False)
    except AthleteResolutionError:
        return None


class ToolOverrun(ToolFailure):
    """A call ran past its time budget. `finishing`: a write left to end (and be journaled) on its own."""

    def __init__(self, message: str, *, finishing: bool) -> None:
        super().__init__(message)
        self.finishing = finishing


def time_budget(spec: ToolSpec) -> float:
    """Seconds a call may take. Roster-wide coach tools fan out over every athlete of the roster (each
    request paced by the shared upstream limiter, none of it CPU), so they get their own, longer budget."""
    from django.conf import settings

    if spec.group == "coach":
        return float(settings.MCP_ROSTER_TIME_BUDGET_SECONDS)
    return float(settings.MCP_TOOL_TIME_BUDGET_SECONDS)


# Writes that overran their budget and were left to finish: referenced here so none is collected mid-way.
_late_writes: set[asyncio.Task[Any]] = set()


async def _within_budget(spec: ToolSpec, call: ToolCall, args: ToolInput) -> ToolResult:
    """Run the handler for at most its time budget, so no call holds its client (or a worker's slot for it)
    past a few seconds, however slow Intervals.icu is.

    Every argument that sizes CPU work is bounded where it enters (mcpserver.bounds, the input models), so
    what can outlast the budget is waiting: on Intervals.icu, its rate limit, or the database. A read is
    then cancelled. A write may already be on its way upstream, and cancelling it could lose the access
    log's pre-image (and so its undo): it is left to finish on its own and journaled when it ends, and the
    answer says so (push_workout and the other creating writes are retry-safe).
    """
    budget = time_budget(spec)
    task = asyncio.ensure_future(spec.handler(call, args))
    try:
        return await asyncio.wait_for(asyncio.shield(task), budget)
    except TimeoutError:
        pass
    except asyncio.CancelledError:
        # The client went away: nothing waits for a read any more; a write is finished all the same.
        if spec.read_only:
            task.cancel()
        else:
            _finish_detached(spec, call, task)
        raise
    seconds = f"{budget:g}"
    if spec.read_only:
        task.cancel()
        raise ToolOverrun(
            f"{spec.name} took too long (over {seconds} s) and was stopped: Intervals.icu is slow right now. "
            "Try again in a minute, or ask for a shorter range.",
            finishing=False,
        )
    _finish_detached(spec, call, task)
    raise ToolOverrun(
        f"{spec.name} took too long (over {seconds} s): Intervals.icu is slow right now. The write was already "
        "under way and is being finished; it shows in the access log when done. Check with get_events (or "
        "the access log) before retrying.",
        finishing=True,
    )


def _finish_detached(spec: ToolSpec, call: ToolCall, task: asyncio.Task[Any]) -> None:
    """Let a write's task run on with nobody awaiting it, and journal it when it ends."""
    _late_writes.add(task)
    task.add_done_callback(lambda done: _journal_late(spec, call, done))


def _journal_late(spec: ToolSpec, call: ToolCall, task: asyncio.Task[Any]) -> None:
    """A write that outlived its budget has ended: log it like any other call (its pre-image, for undo)."""
    _late_writes.discard(task)
    result: ToolResult | None = None
    message = f"{spec.name} finished after its answer had gone out"
    if task.cancelled():
        message += ", cancelled."
    elif isinstance(task.exception(), ToolFailure | errors.IntervalsError):
        exc = task.exception()
        message += ": " + (exc.user_message if isinstance(exc, errors.IntervalsError) else str(exc))
    elif task.exception() is not None:
        logger.error("tool %s crashed after its budget", spec.name, exc_info=task.exception())
        message += " with an internal error."
    else:
        result = task.result()
    logging_task = asyncio.ensure_future(_log_call(spec, call, result, message))
    _late_writes.add(logging_task)
    logging_task.add_done_callback(_late_writes.discard)


def _cached_athlete(spec: ToolSpec, principal: Principal, args: ToolInput) -> AthleteAccess | None:
    """The athlete a read tool's call will resolve to (its cache version can be read ahead), if any."""
    if not isinstance(args, AthleteInput) or not spec.read_only or spec.group == "coach":
        return None
    if not intervals_cache.enabled():
        return None
    try:
        return resolve_athlete(principal, args.athlete, tool=spec.name, scope=spec.scope, read_only=True)
    except AthleteResolutionError:
        return None


def _answer_key(spec: ToolSpec, access: AthleteAccess, args: ToolInput) -> str | None:
    """The key of a read tool's answer in the per-process memo, or None if it may not be remembered.

    An athlete read tool's answer is a function of its arguments, the athlete's local date, the athlete
    as echoed, and what it read; the reads are checked as the handler runs (intervals_cache.Reads), and
    the key is only ever used with the athlete's current cache version, which every write moves on.
    """
    if spec.group != "read" or spec.scope is None or not spec.read_only:
        return None
    from mcpserver import present

    today = present.local_today(access.timezone)
    echo = (access.athlete_id, access.name, access.timezone)
    return f"answer:{spec.name}:{echo}:{today.isoformat()}:{args.model_dump_json()}"


def _remember(key: str | None, tracked: intervals_cache.Reads | None, call: ToolCall, result: ToolResult) -> None:
    """Keep a checked answer built from cached data alone, until the earliest of that data expires."""
    if key is None or tracked is None or not tracked.pure or tracked.expires_at == float("inf"):
        return
    if call.resolved is None or call.resolved.athlete_id != tracked.athlete_id or result.write is not None:
        return
    weight = len(result.text) // 1024 + 1 + len(repr(result.data)) // 1024
    fetched_at = tracked.expires_at - intervals_cache.ttl_seconds()
    intervals_cache.memo.put(key, tracked.version, (result.data, result.text), fetched_at=fetched_at, weight=weight)


def preflight_keys(principal: Principal, name: str, arguments: Any) -> tuple[str, str | None, str | None]:
    """For a tools/call about to be checked: (the token's limiter bucket, the athlete a cached read will
    be about or None, that athlete's version key in Redis or None). A guess made before validation, used
    only to fetch those in one round trip: run_tool uses the version only if its own resolution agrees."""
    bucket = token_bucket(principal.token_id)
    spec = REGISTRY.get(name)
    if spec is None or not spec.read_only or spec.group == "coach" or not intervals_cache.enabled():
        return bucket, None, None
    if not issubclass(spec.input_model, AthleteInput) or not isinstance(arguments, dict):
        return bucket, None, None
    wanted = arguments.get("athlete")
    try:
        access = resolve_athlete(
            principal, wanted if isinstance(wanted, str) else None, tool=spec.name, scope=spec.scope, read_only=True
        )
    except AthleteResolutionError:
        return bucket, None, None
    return bucket, access.athlete_id, intervals_cache.version_redis_key(access.athlete_id)


def token_bucket(token_id: int) -> str:
    from django.conf import settings

    return f"{settings.CACHES['default'].get('KEY_PREFIX') or 'thr'}:mcp:token:{token_id}"


def _log_row(spec: ToolSpec, principal: Principal, access: AthleteAccess | None) -> dict[str, Any]:
    """Who called which tool on which athlete: the fields every access-log row starts from."""
    own = access is not None and principal.user_id == access.link_user_id
    return {
        "token_id": principal.token_id,
        "actor_label": "Your assistant" if own or access is None else f"Coach {principal.display_name}",
        "tool": spec.name,
        "athlete_id": access.athlete_id if access else "",
        "athlete_user_id": access.link_user_id if access else principal.user_id,
    }


async def _log_call(spec: ToolSpec, call: ToolCall, result: ToolResult | None, error: str) -> None:
    """Append the call to the athlete's access log (or complete its journal row). A logging failure
    never fails the tool."""
    from coaching.actions import record_tool_call

    principal, access = call.principal, call.resolved
    if result is None:
        outcome, summary = "error", error
    elif result.preview:
        outcome, summary = "preview", result.text
    else:
        outcome, summary = "ok", result.text
    if call.journal_id is not None:
        done = journal.Completion(
            outcome=outcome,
            summary=summary,
            write=result.write if result else None,
            undo_of_id=result.undo_of_id if result else None,
        )
        await journal.complete(call.journal_id, done)
        return
    row: dict[str, Any] = {
        **_log_row(spec, principal, access),
        "outcome": outcome,
        "summary": summary,
        "is_write": not spec.read_only,
        "write": result.write if result else None,
        "undo_of_id": result.undo_of_id if result else None,
    }
    if spec.read_only and principal.deferred_log is not None:
        # Logged in a later batch (mcpserver/read_log.py), stamped with the time of the call.
        principal.deferred_log.append({**row, "at": dj_timezone.now()})
        return
    try:
        await run_db(record_tool_call, **row)
    except Exception:
        logger.exception("could not record the access log for %s", spec.name)


def wire_result(result: CallToolResult) -> dict[str, Any]:
    """A tool's result as its JSON-RPC `result` object, built directly (the SDK's own dump walks the
    whole structured answer again; the SDK still checks the result's shape before sending it)."""
    out = result.model_dump(by_alias=True, mode="json", exclude_none=True, exclude={"structured_content"})
    if result.structured_content is not None:
        out["structuredContent"] = result.structured_content
    return out


def _make_fn(spec: ToolSpec) -> Callable[..., Awaitable[CallToolResult]]:
    # Calls normally never get here: mcpserver.server's middleware authorises, validates and runs them
    # through run_tool. This is the SDK's own route, kept for any caller that bypasses the middleware.
    async def fn(ctx: Context[Any], **arguments: Any) -> CallToolResult:
        try:
            principal = principal_from(ctx)
        except ToolFailure as exc:
            return error_result(str(exc))
        return await run_tool(spec, principal, arguments)

    fn.__name__ = spec.name
    return fn


def sdk_tool(spec: ToolSpec) -> Tool:
    """Build the SDK tool object for a spec, with compact strict schemas."""
    output_schema = shallow_schema(compact_schema(spec.output_model.model_json_schema(mode="serialization")))
    # No output_model for the SDK: run_tool checks every answer against it already (once is enough).
    metadata = FuncMetadata(arg_model=spec.input_model, output_model=None, output_schema=output_schema)
    return Tool(
        fn=_make_fn(spec),
        name=spec.name,
        title=spec.title,
        description=spec.description,
        parameters=input_schema(spec.input_model),
        fn_metadata=metadata,
        is_async=True,
        context_kwarg="ctx",
        annotations=spec.annotations(),
    )
