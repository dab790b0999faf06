"""Drives `mcptk serve --config ...` (the command line after this script) as Python `mcp` 1.x
does: turns on server-everything's simulated logging through the gateway, and prints the log
messages it was sent (the first at once, the next ones every 5 s while no call runs) as JSON."""

import json
import sys

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def main() -> None:
    logs = []
    enough = anyio.Event()

    async def on_log(params) -> None:
        logs.append({"level": params.level, "logger": params.logger, "data": params.data})
        if len(logs) >= 2:
            enough.set()

    server = StdioServerParameters(command=sys.argv[1], args=sys.argv[2:])
    async with stdio_client(server) as (read, write):
        async with ClientSession(read, write, logging_callback=on_log) as session:
            await session.initialize()
            started = await session.call_tool("everything__toggle-simulated-logging", {})
            with anyio.fail_after(30):
                await enough.wait()
            stopped = await session.call_tool("everything__toggle-simulated-logging", {})
    print(json.dumps({"logs": logs, "started": started.content[0].text, "stopped": stopped.content[0].text}))


anyio.run(main)
