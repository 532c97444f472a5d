"""Tool modules, one per area. Importing this package registers every tool in the catalogue."""

from mcpserver.tools import account, history, profile

__all__ = ["account", "history", "profile"]
