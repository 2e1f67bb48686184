"""An agent that tries to take more than the policy's caps through `hoopctl mcp`: one value
made of bytes that JSON writes six times larger, and a whole table folded into one row.
Prints, per query, the size of the tool result as the agent receives it and what it says."""
import asyncio
import json
import os
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

hoopctl = os.environ["HOOPCTL_BIN"]


async def main():
    server = StdioServerParameters(command=hoopctl, args=["mcp", "sandbox", "--reason", "caps"], env=dict(os.environ))
    answers = {}
    async with stdio_client(server) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            for name, sql in json.loads(sys.argv[1]).items():
                result = await session.call_tool("query", {"sql": sql})
                text = "".join(getattr(part, "text", "") for part in result.content)
                try:
                    body = json.loads(text)
                except ValueError:
                    body = {"error": text}
                answers[name] = {"bytes": len(text.encode()), "truncated": body.get("truncated"),
                                 "rows": len(body.get("rows", [])), "note": body.get("note"), "error": body.get("error")}
    print(json.dumps(answers))


asyncio.run(main())
