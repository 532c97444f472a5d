"""The baseline for bench.mcp_overhead: a bare `mcp` SDK stateless server with one echo tool."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette
from starlette.routing import Mount

server = MCPServer("bare")


@server.tool()
def echo(text: str = "") -> str:
    """Echo the text back."""
    return text


inner = server.streamable_http_app(streamable_http_path="/", stateless_http=True, json_response=True)


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    async with server.session_manager.run():
        yield


app = Starlette(routes=[Mount("/mcp", app=inner)], lifespan=lifespan)
