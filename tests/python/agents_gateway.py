"""Uses `openai-agents`' MCPServerStdio against the mcptk gateway: lists the namespaced tools of
an upstream npm server and of a native server, and calls one of each.

Usage: agents_gateway.py COMMAND [ARGS...]
"""

import asyncio
import json
import sys

from agents.mcp import MCPServerStdio


async def main() -> None:
    server = MCPServerStdio(
        params={"command": sys.argv[1], "args": sys.argv[2:]},
        name="gateway",
        client_session_timeout_seconds=60,
    )
    async with server:
        tools = await server.list_tools()
        echo = await server.call_tool("everything__echo", {"message": "through the gateway"})
        allowed = await server.call_tool("fs__list_allowed_directories", {})
        print(json.dumps({
            "tools": [t.name for t in tools],
            "echo": echo.content[0].text,
            "allowed": allowed.content[0].text,
        }))


asyncio.run(main())
