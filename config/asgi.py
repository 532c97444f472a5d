"""The outer ASGI application: MCP routes, the optional Intervals.icu sandbox, then Django.

A small Starlette app is the outermost layer because Django's handler cannot own a lifespan, and the
MCP session manager must be started from one.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_app = get_asgi_application()  # django.setup() happens here; import models only after it

from django.conf import settings  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.routing import BaseRoute, Mount, Route  # noqa: E402

from config.logging_filters import install_record_factory  # noqa: E402
from mcpserver import journal, read_log  # noqa: E402
from mcpserver.gate import TokenGate  # noqa: E402
from mcpserver.server import build_mcp  # noqa: E402


def build_application(*, mount_sandbox: bool | None = None) -> Starlette:
    """Build the whole product. Each call makes a fresh MCP session manager (one per event loop)."""
    install_record_factory()
    server = build_mcp()
    gate = TokenGate(server)
    header_gate = TokenGate(server, token_in_header=True)
    routes: list[BaseRoute] = [
        Route("/mcp/{token}", endpoint=gate, methods=None),
        Route("/mcp/{token}/", endpoint=gate, methods=None),
        Route("/mcp/", endpoint=header_gate, methods=None),
        Route("/mcp", endpoint=header_gate, methods=None),
    ]
    if settings.SANDBOX_ENABLED if mount_sandbox is None else mount_sandbox:
        from integrations.intervals.sandbox_mount import embedded_sandbox

        routes.append(Mount("/sandbox/intervals", app=embedded_sandbox()))
    routes.append(Mount("/", app=django_app))  # type: ignore[arg-type]  # Django's handler is a plain ASGI app

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with server.session_manager.run():
            try:
                yield
            finally:
                await read_log.drain()  # the read calls' rows still queued or being written
                await journal.drain()  # write rows whose completion is still being retried

    return Starlette(routes=routes, lifespan=lifespan)


application = build_application()
