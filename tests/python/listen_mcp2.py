"""Watches resources through a stdio server with the Python `mcp` SDK 2.x (2026-07-28): a
`subscriptions/listen` stream naming them, and the update a tool call then causes.

Usage: listen_mcp2.py COMMAND [ARGS...] (a gateway in front of server_modern.py as `modern`)
Prints one JSON object with what the SDK saw, for the Rust test to assert on.
"""

import asyncio
import json
import sys

from mcp.client.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.shared.subscriptions import ResourceUpdated


async def main() -> None:
    params = StdioServerParameters(command=sys.argv[1], args=sys.argv[2:])
    async with Client(params, mode="auto") as client:
        watched = ["memo://greeting", "memo://secret"]
        async with client.listen(resource_subscriptions=watched) as sub:
            honored = sub.honored.resource_subscriptions if sub.honored else None
            touched = await client.call_tool("modern__touch", {"uri": "memo://greeting"})
            event = await asyncio.wait_for(anext(aiter(sub)), 20)
        out = {
            "protocol_version": client.protocol_version,
            "honored": honored,
            "touched": touched.content[0].text,
            "updated": event.uri if isinstance(event, ResourceUpdated) else repr(event),
        }
    print(json.dumps(out))


asyncio.run(main())
