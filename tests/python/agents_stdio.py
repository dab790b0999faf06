"""Uses `openai-agents`' MCPServerStdio against a stdio MCP server: list tools, call tools.

Usage: agents_stdio.py COMMAND [ARGS...]
Prints one JSON object with what the SDK saw, for the Rust test to assert on.
"""

import asyncio
import json
import sys

from agents.mcp import MCPServerStdio


async def main() -> None:
    server = MCPServerStdio(
        params={"command": sys.argv[1], "args": sys.argv[2:]},
        name="mcptk",
        client_session_timeout_seconds=30,
    )
    async with server:
        tools = await server.list_tools()
        echo = await server.call_tool("echo", {"text": "hello from the agents sdk"})
        add = await server.call_tool("add", {"a": 1, "b": 2})
        out = {
            "tools": [t.name for t in tools],
            "echo": echo.content[0].text,
            "add_structured": add.structured_content,
        }
    print(json.dumps(out))


asyncio.run(main())
