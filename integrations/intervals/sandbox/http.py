"""HTTP plumbing shared by the API and OAuth handlers: errors, auth, helpers."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .state import SandboxState, Token


class ApiError(Exception):
    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error

    def response(self) -> JSONResponse:
        return JSONResponse({"status": self.status, "error": self.error}, status_code=self.status)


def spring_error(request: Request, status: int, error: str) -> JSONResponse:
    """Spring Boot's default error body (unknown routes, wrong methods)."""
    now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "+00:00")
    return JSONResponse(
        {"timestamp": now, "status": status, "error": error, "path": request.url.path}, status_code=status
    )


def route_path(scope: Any) -> str:
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path


@dataclass
class Caller:
    kind: str  # "bearer" | "api_key"
    athlete_id: str
    token: Token | None = None

    @property
    def client_id(self) -> str | None:
        return self.token.client_id if self.token else None


def authenticate(state: SandboxState, request: Request) -> Caller:
    header = request.headers.get("authorization", "")
    info = request.scope.get("sandbox.auth")
    scheme, _, cred = header.partition(" ")
    cred = cred.strip()
    if scheme.lower() == "bearer" and cred:
        if info is not None:
            info["kind"] = "bearer"
        tok = state.lookup_token(cred)
        if tok is None:
            if state.lookup_api_key(cred):
                raise ApiError(403, "Access denied")
            raise ApiError(401, "Invalid access token")
        caller = Caller("bearer", tok.athlete_id, tok)
    elif scheme.lower() == "basic" and cred:
        if info is not None:
            info["kind"] = "api_key"
        try:
            user, _, key = base64.b64decode(cred).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise ApiError(401, "Unauthorized") from exc
        aid = state.lookup_api_key(key) if user == "API_KEY" else None
        if aid is None:
            raise ApiError(401, "Unauthorized")
        caller = Caller("api_key", aid)
    else:
        raise ApiError(401, "Unauthorized")
    if info is not None:
        info["athlete"] = caller.athlete_id
    return caller


def resolve_athlete(state: SandboxState, caller: Caller, raw: str) -> str:
    raw = raw.strip()
    if raw in ("0", "i0"):
        return caller.athlete_id
    aid = state.normalize_id(raw)
    if not aid[1:].isdigit():
        raise ApiError(404, "Athlete not found")
    return aid


def check_access(
    state: SandboxState, caller: Caller, aid: str, area: str, write: bool, coach_write: bool | None = None
) -> None:
    """Bearer: own athlete + scope; API key: self or coached athlete per icu_permission."""
    if caller.kind == "bearer":
        if aid != caller.athlete_id:
            raise ApiError(403, "Access denied")
        assert caller.token is not None
        if not caller.token.allows(area, write):
            raise ApiError(403, f"Access denied: token lacks scope {area}:{'WRITE' if write else 'READ'}")
        return
    if aid == caller.athlete_id:
        return
    if aid not in state.specs:
        raise ApiError(404, "Athlete not found")
    perm = state.specs[caller.athlete_id].coached.get(aid)
    need_write = write if coach_write is None else coach_write
    if perm is None or perm == "NONE" or (need_write and perm != "WRITE"):
        raise ApiError(403, "Access denied")


def qlist(request: Request, name: str) -> list[str] | None:
    vals = request.query_params.getlist(name)
    if not vals:
        return None
    out: list[str] = []
    for v in vals:
        out.extend(x.strip() for x in v.split(",") if x.strip())
    return out


def qbool(request: Request, name: str, default: bool = False) -> bool:
    v = request.query_params.get(name)
    if v is None or v == "":
        return default
    return v.lower() in ("true", "1", "yes", "on")


def qint(request: Request, name: str, default: int | None = None) -> int | None:
    v = request.query_params.get(name)
    if v is None or v == "":
        return default
    try:
        return int(v)
    except ValueError as exc:
        raise ApiError(422, f"Invalid value for parameter '{name}': {v}") from exc


def required(request: Request, name: str) -> str:
    v = request.query_params.get(name)
    if v is None or v == "":
        raise ApiError(422, f"Required request parameter '{name}' for method parameter type String is not present")
    return v


def parse_date(value: str, name: str = "date") -> dt.date:
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError as exc:
        raise ApiError(422, f"Invalid {name}: {value!r} (expected YYYY-MM-DD)") from exc


def parse_local(value: str, name: str) -> dt.datetime:
    """A local date or date-time (no zone) → naive datetime."""
    try:
        if len(value) <= 10:
            d = dt.date.fromisoformat(value)
            return dt.datetime(d.year, d.month, d.day)
        return dt.datetime.fromisoformat(value.replace("Z", "")).replace(tzinfo=None)
    except ValueError as exc:
        raise ApiError(422, f"Invalid {name}: {value!r}") from exc


async def json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        raise ApiError(422, "Request body is required")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, "JSON parse error: malformed body") from exc


def only_fields(obj: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    if not fields:
        return obj
    return {k: obj[k] for k in fields if obj.get(k) is not None}


@functools.lru_cache(maxsize=16)
def schema_properties(name: str) -> tuple[str, ...]:
    """The property names of one schema of the vendored OpenAPI document, in document order."""
    path = Path(__file__).resolve().parent.parent / "openapi.json"
    with path.open(encoding="utf-8") as fh:
        props = json.load(fh)["components"]["schemas"][name]["properties"]
    return tuple(props)


def full_record(schema: str, obj: dict[str, Any]) -> dict[str, Any]:
    """`obj` serialised as the real API does: every property of `schema` present, null when unset
    (Jackson writes Java nulls; only `fields=` drops them), followed by any custom extra fields."""
    out: dict[str, Any] = {k: obj.get(k) for k in schema_properties(schema)}
    out.update((k, v) for k, v in obj.items() if k not in out)
    return out


def drop_none(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if v is not None}


def ok(body: Any, status: int = 200) -> Response:
    return JSONResponse(body, status_code=status)
