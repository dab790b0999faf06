"""Runs an `openai-agents` Agent whose tools come from a stdio MCP server, against a model
endpoint given by URL (a local scripted one in the tests), and prints what the run produced.

Usage: agents_runner.py BASE_URL (responses|chat_completions) COMMAND [ARGS...]
"""

import asyncio
import json
import sys

from agents import Agent, Runner, set_default_openai_api, set_default_openai_client, set_tracing_disabled
from agents.items import ToolCallOutputItem
from agents.mcp import MCPServerStdio
from openai import AsyncOpenAI


async def main() -> None:
    base_url, api, command, *args = sys.argv[1:]
    set_tracing_disabled(True)
    set_default_openai_client(AsyncOpenAI(base_url=base_url, api_key="sk-local-test"), use_for_tracing=False)
    set_default_openai_api(api)
    server = MCPServerStdio(
        params={"command": command, "args": args},
        name="mcptk",
        cache_tools_list=True,
        client_session_timeout_seconds=30,
    )
    async with server:
        agent = Agent(name="calculator", instructions="Use the tools.", mcp_servers=[server], model="fake-model")
        result = await Runner.run(agent, "What is 2 + 40?", max_turns=4)
    outputs = [item.output for item in result.new_items if isinstance(item, ToolCallOutputItem)]
    print(json.dumps({"final_output": result.final_output, "tool_outputs": outputs}))


asyncio.run(main())
