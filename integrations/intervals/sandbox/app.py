"""The sandbox ASGI application."""

from __future__ import annotations

import html
import json
import time
from typing import Any

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import api, oauth
from .config import SandboxConfig
from .http import route_path, spring_error
from .state import SandboxState

HANG_MAX_S = 600.0
_ERRORS = {
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
}


class SandboxMiddleware:
    """Request accounting and fault injection for every /api/ request."""

    def __init__(self, app: ASGIApp, state: SandboxState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = route_path(scope)
        if not path.startswith("/api/"):
            await self.app(scope, receive, send)
            return
        info: dict[str, Any] = {"kind": "none", "athlete": None}
        scope["sandbox.auth"] = info
        status_box = {"status": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_box["status"] = int(message["status"])
            await send(message)

        latency, forced, retry_after, hang = self.state.faults.take(path)
        try:
            if latency:
                await anyio.sleep(latency / 1000)
            if hang:
                if await self._hang(receive):
                    return
                forced = forced or 503
            if forced:
                body: dict[str, Any] = {"status": forced, "error": _ERRORS.get(forced, "Error")}
                headers = {"Retry-After": str(retry_after)} if forced == 429 and retry_after is not None else {}
                await JSONResponse(body, status_code=forced, headers=headers)(scope, receive, send_wrapper)
                return
            await self.app(scope, receive, send_wrapper)
        finally:
            self.state.record(scope["method"], path, info["kind"], info["athlete"], status_box["status"])

    async def _hang(self, receive: Receive) -> bool:
        """Sleep until the client disconnects (→ True) or the fault is cleared / times out (→ False)."""
        gen = self.state.faults.generation
        disconnected = False
        deadline = time.monotonic() + HANG_MAX_S
        async with anyio.create_task_group() as tg:

            async def watch() -> None:
                nonlocal disconnected
                while True:
                    msg = await receive()
                    if msg["type"] == "http.disconnect":
                        disconnected = True
                        tg.cancel_scope.cancel()
                        return

            tg.start_soon(watch)
            while self.state.faults.generation == gen and time.monotonic() < deadline:
                await anyio.sleep(0.05)
            tg.cancel_scope.cancel()
        return disconnected


async def _api(request: Request) -> Response:
    state: SandboxState = request.app.state.sandbox
    path = route_path(request.scope)
    return await api.dispatch(state, request, path[len("/api/v1") :])


async def _stats(request: Request) -> Response:
    return JSONResponse(request.app.state.sandbox.stats())


async def _faults(request: Request) -> Response:
    state: SandboxState = request.app.state.sandbox
    if request.method == "DELETE":
        state.faults.clear()
        return JSONResponse(state.faults.as_dict())
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        return JSONResponse({"status": 400, "error": "Invalid JSON"}, status_code=400)
    allowed = {"latency_ms", "status", "retry_after", "times", "hang", "path_contains"}
    if not isinstance(body, dict) or set(body) - allowed:
        return JSONResponse({"status": 422, "error": f"Allowed fields: {sorted(allowed)}"}, status_code=422)
    state.faults.set(**body)
    return JSONResponse(state.faults.as_dict())


async def _reset(request: Request) -> Response:
    request.app.state.sandbox.reset_counters()
    return JSONResponse({"ok": True})


async def _warm(request: Request) -> Response:
    state: SandboxState = request.app.state.sandbox
    started = time.perf_counter()
    await anyio.to_thread.run_sync(state.warm)
    return JSONResponse({"ok": True, "athletes": len(state.specs), "seconds": round(time.perf_counter() - started, 2)})


async def _admin_athletes(request: Request) -> Response:
    state: SandboxState = request.app.state.sandbox
    return JSONResponse(
        [
            {
                "id": s.id,
                "name": s.name,
                "kind": s.kind,
                "timezone": s.timezone,
                "coach": s.coach,
                "demo_token": state.demo_token(s.id),
                "api_key": state.api_key(s.id),
            }
            for s in state.specs.values()
        ]
    )


async def _index(request: Request) -> Response:
    state: SandboxState = request.app.state.sandbox
    root = request.scope.get("root_path", "")
    rows = "".join(
        f"<li>{html.escape(s.name)} — <code>{s.id}</code> ({s.kind}{', coach' if s.coach else ''}, "
        f"{html.escape(s.timezone)})</li>"
        for s in list(state.specs.values())[:8]
    )
    body = (
        f"<h1>Intervals.icu (sandbox)</h1><p>An offline stand-in for the Intervals.icu API. API base: "
        f"<code>{html.escape(root)}/api/v1</code>; OAuth: <code>{html.escape(root)}/oauth/authorize</code>, "
        f"token: <code>{html.escape(root)}/api/oauth/token</code>.</p><h2>Demo athletes</h2><ul>{rows}</ul>"
    )
    return HTMLResponse(oauth._PAGE.format(title="Intervals.icu (sandbox)", body=body))


async def _not_found(request: Request) -> Response:
    return spring_error(request, 404, "Not Found")


def create_app(state: SandboxState | None = None, config: SandboxConfig | None = None) -> Starlette:
    """Build the sandbox app (mountable under a prefix; honours ``scope['root_path']``)."""
    st = state or SandboxState(config or SandboxConfig())
    methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]
    routes = [
        Route("/", _index, methods=["GET"]),
        Route("/oauth/authorize", oauth.authorize, methods=["GET", "POST"]),
        Route("/api/oauth/token", oauth.token, methods=["POST"]),
        Route("/api/v1/{rest:path}", _api, methods=methods),
        Route("/_sandbox/stats", _stats, methods=["GET"]),
        Route("/_sandbox/faults", _faults, methods=["POST", "DELETE"]),
        Route("/_sandbox/reset-counters", _reset, methods=["POST"]),
        Route("/_sandbox/athletes", _admin_athletes, methods=["GET"]),
        Route("/_sandbox/warm", _warm, methods=["POST"]),
        Route("/{rest:path}", _not_found, methods=methods),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(SandboxMiddleware, state=st)])
    app.state.sandbox = st
    return app
