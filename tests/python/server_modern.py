"""A Python `mcp` SDK 2.x server on stdio. It answers server/discover (2026-07-28) as well as
initialize, so it checks that our client picks the modern era when it is offered. Its `touch`
tool announces an update of a resource on the `subscriptions/listen` streams that watch it, and
`listening` says how many such streams are open, and how many were ever opened.
"""

import anyio
from mcp.server.mcpserver import Context, MCPServer

server = MCPServer("python-modern")


@server.tool()
def multiply(a: int, b: int) -> int:
    """Multiplies two integers."""
    return a * b


@server.tool()
def shout(text: str) -> str:
    """Upper-cases the text."""
    return text.upper()


@server.tool()
async def chatty(text: str, ctx: Context, wait_ms: int = 0) -> str:
    """Echoes the text after waiting `wait_ms`, logging what it does at debug and info level."""
    await anyio.sleep(wait_ms / 1000)
    await ctx.debug(f"about to echo {text}")
    await ctx.info(f"echoing {text}", logger_name="chatty")
    return text


@server.tool()
async def touch(uri: str, ctx: Context) -> str:
    """Tells the listen streams that watch `uri` that it changed."""
    await ctx.notify_resource_updated(uri)
    return f"touched {uri}"


# Every listen stream registers a listener with the SDK's bus: counted as it opens.
opened = 0
_subscribe = server._subscriptions.subscribe


def _counted(listener):
    global opened
    opened += 1
    return _subscribe(listener)


server._subscriptions.subscribe = _counted


@server.tool()
def listening() -> str:
    """The `subscriptions/listen` streams open now and those ever opened, as `open/opened`."""
    return f"{len(server._subscriptions._listeners)}/{opened}"


@server.resource("memo://greeting")
def greeting() -> str:
    """A fixed greeting."""
    return "hello from python"


@server.prompt()
def review(code: str) -> str:
    """Asks for a code review."""
    return f"Please review:\n{code}"


if __name__ == "__main__":
    server.run("stdio")
