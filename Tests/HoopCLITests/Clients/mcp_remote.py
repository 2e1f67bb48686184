"""An agent on another machine: the `mcp` package's client drives `hoopctl mcp sandbox`, run as
the command line in $MCP_COMMAND (JSON: the remote user's runuser/env line). Prints a summary."""
import asyncio
import json
import os

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import Implementation


async def main():
    command = json.loads(os.environ["MCP_COMMAND"])
    server = StdioServerParameters(command=command[0], args=command[1:], env={})
    async with stdio_client(server) as (read, write):
        async with ClientSession(read, write, client_info=Implementation(name="remote-agent", version="1.0")) as session:
            await session.initialize()
            tables = json.loads("".join(p.text for p in (await session.call_tool("list_tables", {})).content))
            rows = "".join(p.text for p in (await session.call_tool("query", {"sql": "select email from customers order by id limit 1"})).content)
            print(json.dumps({"tables": [t["name"] for t in tables["tables"]], "rows": rows}))


asyncio.run(main())
