"""DynLan: a web server that runs Lua, Wren, Python and PHP pages behind one host API."""

from __future__ import annotations

__version__ = "0.1.0"
SERVER_NAME = f"dynlan/{__version__}"

__all__ = ["SERVER_NAME", "__version__"]
