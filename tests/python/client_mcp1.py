"""Drives a stdio MCP server with the Python `mcp` SDK 1.x (initialize handshake).

Usage: client_mcp1.py COMMAND [ARGS...]
Prints one JSON object with what the SDK saw, for the Rust test to assert on.
"""

import asyncio
import json
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def main() -> None:
    params = StdioServerParameters(command=sys.argv[1], args=sys.argv[2:])
    progress: list[list[float | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append([value, total])

    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            tools = await session.list_tools()
            echo = await session.call_tool("echo", {"text": "hello from python 1.x"})
            add = await session.call_tool("add", {"a": 20, "b": 22})
            slow = await session.call_tool("slow", {"steps": 2, "delay_ms": 10}, progress_callback=on_progress)
            resources = await session.list_resources()
            prompts = await session.list_prompts()
            await session.send_ping()
            out = {
                "protocol_version": init.protocolVersion,
                "server_name": init.serverInfo.name,
                "tools": [t.name for t in tools.tools],
                "echo": echo.content[0].text,
                "add_structured": add.structuredContent,
                "slow": slow.content[0].text,
                "progress": progress,
                "resources": [str(r.uri) for r in resources.resources],
                "prompts": [p.name for p in prompts.prompts],
            }
    print(json.dumps(out))


asyncio.run(main())
