"""An AI agent's view of hoopctl: the `mcp` package's client drives `hoopctl mcp sandbox` over
stdio. Prints a JSON summary for the test to check against the ledger."""
import asyncio
import json
import os
import re
import subprocess

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import Implementation

hoopctl = os.environ["HOOPCTL_BIN"]


def text(result):
    return "".join(getattr(part, "text", "") for part in result.content)


def failed(result):
    return bool(getattr(result, "isError", None) or getattr(result, "is_error", None))


def request_of(message):
    return re.search(r"request ([0-9a-f]{12})", message).group(1)


async def main():
    summary = {}
    server = StdioServerParameters(command=hoopctl, args=["mcp", "sandbox", "--reason", "agent test"], env=dict(os.environ))
    async with stdio_client(server) as (read, write):
        async with ClientSession(read, write, client_info=Implementation(name="hoop-test-agent", version="0.9.1")) as session:
            await session.initialize()
            tools = sorted(tool.name for tool in (await session.list_tools()).tools)
            assert tools == ["describe_table", "explain_policy", "list_tables", "query"], tools

            described = json.loads(text(await session.call_tool("describe_table", {"table": "customers"})))
            masked = sorted(column["name"] for column in described["columns"] if column["masked"])
            assert masked == ["card_number", "email", "phone", "ssn"], masked
            listed = json.loads(text(await session.call_tool("list_tables", {})))
            assert {"customers", "orders"} <= {table["name"] for table in listed["tables"]}, listed

            resources = (await session.list_resources()).resources
            uris = sorted(str(resource.uri) for resource in resources)
            assert "hoopctl://sandbox/tables/customers" in uris, uris
            schema = await session.read_resource("hoopctl://sandbox/tables/customers")
            assert '"email"' in schema.contents[0].text

            rows = json.loads(text(await session.call_tool("query", {"sql": "select id, email, notes from customers where notes like '%@%' order by id limit 3"})))
            assert rows["masked_columns"] == ["email", "notes"], rows
            assert all("***@" in row[1] and "@" not in row[2] for row in rows["rows"]), rows["rows"]
            capped = json.loads(text(await session.call_tool("query", {"sql": "select id from orders"})))
            assert capped["truncated"] and len(capped["rows"]) == 500, (capped["row_count"], len(capped["rows"]))

            explained = json.loads(text(await session.call_tool("explain_policy", {"sql": "drop table orders"})))
            assert explained["decision"] == "review", explained

            # Under review: the error carries the request and the command that approves it.
            drop = await session.call_tool("query", {"sql": "drop table orders"})
            assert failed(drop) and "approval required: request" in text(drop) and "hoopctl approve" in text(drop), text(drop)
            request = request_of(text(drop))
            # Another identity approves; the same text again runs once.
            approve = subprocess.run([hoopctl, "approve", request], env=dict(os.environ, HOOPCTL_TOKEN=os.environ["ALICE"]),
                                     capture_output=True, text=True)
            assert approve.returncode == 0, approve.stderr
            again = await session.call_tool("query", {"sql": "drop table orders"})
            assert not failed(again), text(again)
            once = await session.call_tool("query", {"sql": "drop table orders"})
            assert failed(once) and request not in text(once), text(once)
            summary["orders_request"] = request
    print(json.dumps(summary))


asyncio.run(main())
