"""A SQL-generation MCP server in the shape the seed calls (`create_query(description, schema)`),
on the Python `mcp` SDK 2.x. It does not think: it picks a statement by keyword, so tests know
what comes back, and it puts the schema it was given in a SQL comment so tests can see it.
"""

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("sql-generation")


@server.tool()
def create_query(description: str, schema: str) -> str:
    """Writes one SQL query answering the description over the given schema."""
    header = "-- schema: " + schema.replace("\n", "; ")
    text = description.lower()
    if "how many" in text:
        body = "SELECT count(*) AS n FROM items"
    elif "invented" in text:
        body = "SELECT colour FROM items"
    elif "drop" in text:
        body = "DROP TABLE items"
    else:
        raise ToolError(f"no idea how to answer: {description}")
    return f"Here it is:\n```sql\n{header}\n{body}\n```"


if __name__ == "__main__":
    server.run("stdio")
