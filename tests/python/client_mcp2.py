"""Drives a stdio MCP server with the Python `mcp` SDK 2.x (auto mode: probes server/discover).

Usage: client_mcp2.py COMMAND [ARGS...]
Prints one JSON object with what the SDK saw, for the Rust test to assert on.
"""

import asyncio
import json
import sys

from mcp.client.client import Client
from mcp.client.stdio import StdioServerParameters


async def main() -> None:
    params = StdioServerParameters(command=sys.argv[1], args=sys.argv[2:])
    progress: list[list[float | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append([value, total])

    async with Client(params, mode="auto") as client:
        tools = await client.list_tools()
        echo = await client.call_tool("echo", {"text": "héllo from python 2.x"})
        add = await client.call_tool("add", {"a": 2, "b": 40})
        bad = await client.call_tool("add", {"a": 2, "b": "forty"})
        slow = await client.call_tool("slow", {"steps": 3, "delay_ms": 10}, progress_callback=on_progress)
        resource = await client.read_resource("mcptk://about")
        prompt = await client.get_prompt("greeting", {"name": "Ada"})
        out = {
            "protocol_version": client.protocol_version,
            "server_name": client.server_info.name if client.server_info else None,
            "tools": [t.name for t in tools.tools],
            "echo": echo.content[0].text,
            "add_structured": add.structured_content,
            "bad_is_error": bad.is_error,
            "bad_text": bad.content[0].text,
            "slow": slow.content[0].text,
            "progress": progress,
            "resource": resource.contents[0].text,
            "prompt": prompt.messages[0].content.text,
        }
    print(json.dumps(out))


asyncio.run(main())
