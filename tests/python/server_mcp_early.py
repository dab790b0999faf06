"""A server on the Python MCP SDK of early 2025 (tests/requirements-mcp-early.txt): one tool."""

from mcp.server.fastmcp import FastMCP

app = FastMCP("early")


@app.tool()
def shout(text: str) -> str:
    """Says the text louder."""
    return text.upper() + "!"


app.run()
