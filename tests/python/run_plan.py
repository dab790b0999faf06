"""Runs a small plan against a stdio MCP server with one of the Python clients: list every tool
(all pages), then call the planned tools, and print one JSON object with what the client saw.

Usage: run_plan.py CLIENT PLAN COMMAND [ARGS...]

CLIENT is `mcp1` (the `mcp` SDK 1.x), `mcp2-auto`, `mcp2-legacy` or `mcp2-2026-07-28` (the `mcp`
SDK 2.x in that connection mode), or `agents` (`openai-agents`' MCPServerStdio, on `mcp` 2.x).
PLAN is JSON: {"calls": [{"name": "echo", "arguments": {"text": "hi"}}]}.

Prints {"client", "protocol_version", "server_name", "tools": [names], "calls": [{"name",
"is_error", "text", "structured"}], "errors": ["step: message"]}. A step that raises (the SDK
refusing a result it cannot validate, say) is reported in `errors` and the plan goes on, so the
test shows every failure at once.
"""

import asyncio
import json
import sys
import traceback
from typing import Any, Awaitable, Callable


def describe(step: str, error: BaseException) -> str:
    # An exception group (anyio task groups) hides the cause: name the leaves.
    leaves: list[BaseException] = []

    def walk(e: BaseException) -> None:
        inner = getattr(e, "exceptions", None)
        if inner:
            for x in inner:
                walk(x)
        else:
            leaves.append(e)

    walk(error)
    text = "; ".join(f"{type(e).__name__}: {e}" for e in leaves)
    return f"{step}: {text}"


def field(obj: Any, *names: str) -> Any:
    """The first attribute present: the 2.x SDK spells fields in snake_case, 1.x in camelCase."""
    for name in names:
        if hasattr(obj, name):
            return getattr(obj, name)
    return None


def call_record(name: str, result: Any) -> dict[str, Any]:
    texts = [c.text for c in result.content if getattr(c, "type", None) == "text"]
    return {
        "name": name,
        "is_error": bool(field(result, "is_error", "isError")),
        "text": "\n".join(texts),
        "structured": field(result, "structured_content", "structuredContent"),
    }


class Run:
    def __init__(self, client: str) -> None:
        self.out: dict[str, Any] = {
            "client": client,
            "protocol_version": None,
            "server_name": None,
            "tools": None,
            "calls": [],
            "errors": [],
        }

    async def step(self, name: str, action: Callable[[], Awaitable[Any]]) -> Any:
        try:
            return await action()
        except Exception as e:  # noqa: BLE001 - reported, not hidden
            self.out["errors"].append(describe(name, e))
            print(traceback.format_exc(), file=sys.stderr)
            return None

    async def plan(
        self,
        plan: dict[str, Any],
        list_tools: Callable[[], Awaitable[list[str]]],
        call_tool: Callable[[str, dict[str, Any]], Awaitable[Any]],
    ) -> None:
        self.out["tools"] = await self.step("tools/list", list_tools)
        for call in plan.get("calls", []):
            name, arguments = call["name"], call.get("arguments", {})
            result = await self.step(f"tools/call {name}", lambda: call_tool(name, arguments))
            if result is not None:
                self.out["calls"].append(call_record(name, result))


async def all_pages(fetch: Callable[[str | None], Awaitable[Any]]) -> list[str]:
    names: list[str] = []
    cursor: str | None = None
    for _ in range(100):
        page = await fetch(cursor)
        names.extend(t.name for t in page.tools)
        cursor = field(page, "next_cursor", "nextCursor")
        if not cursor:
            return names
    raise RuntimeError("more than 100 pages of tools")


async def with_mcp1(run: Run, plan: dict[str, Any], command: str, args: list[str]) -> None:
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(command=command, args=args)
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            run.out["protocol_version"] = init.protocolVersion
            run.out["server_name"] = init.serverInfo.name
            await run.plan(
                plan,
                lambda: all_pages(lambda c: session.list_tools(cursor=c)),
                lambda name, arguments: session.call_tool(name, arguments),
            )


async def with_mcp2(run: Run, plan: dict[str, Any], mode: str, command: str, args: list[str]) -> None:
    from mcp.client.client import Client
    from mcp.client.stdio import StdioServerParameters

    params = StdioServerParameters(command=command, args=args)
    async with Client(params, mode=mode) as client:
        run.out["protocol_version"] = client.protocol_version
        run.out["server_name"] = client.server_info.name if client.server_info else None
        await run.plan(
            plan,
            lambda: all_pages(lambda c: client.list_tools(cursor=c)),
            lambda name, arguments: client.call_tool(name, arguments),
        )


async def with_agents(run: Run, plan: dict[str, Any], command: str, args: list[str]) -> None:
    from agents.mcp import MCPServerStdio

    server = MCPServerStdio(
        params={"command": command, "args": args},
        name="mcptk",
        client_session_timeout_seconds=30,
    )
    async with server:
        session = server.session
        run.out["protocol_version"] = field(session, "protocol_version")
        info = field(session, "server_info")
        run.out["server_name"] = info.name if info else None

        async def list_tools() -> list[str]:
            return [t.name for t in await server.list_tools()]

        await run.plan(plan, list_tools, server.call_tool)


async def main() -> None:
    client, plan_text, command, *args = sys.argv[1:]
    plan = json.loads(plan_text)
    run = Run(client)
    try:
        if client == "mcp1":
            await with_mcp1(run, plan, command, args)
        elif client.startswith("mcp2-"):
            await with_mcp2(run, plan, client.removeprefix("mcp2-"), command, args)
        elif client == "agents":
            await with_agents(run, plan, command, args)
        else:
            raise SystemExit(f"unknown client {client!r}")
    except Exception as e:  # noqa: BLE001 - the connection itself failed
        run.out["errors"].append(describe("connect", e))
        print(traceback.format_exc(), file=sys.stderr)
    print(json.dumps(run.out))


asyncio.run(main())
