"""Dango's MCP server at /mcp driven by the official `mcp` Python client (Streamable HTTP),
as an agent would: initialize, list the tools, call each, read a resource; then a
viewer-capped key is refused what a viewer may not do.

Usage: mcp_flows.py BASE_URL EMAIL PASSWORD ADMIN_KEY
(the project has the synced csv source `sales` that python_flows.py loaded).
"""

import asyncio
import json
import sys
import time
from typing import Any

import httpx
from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client
from mcp.types import CallToolResult, TextContent

EXPECTED_TOOLS = {
    "list_sources", "describe_table", "search_catalog", "get_lineage", "run_query",
    "list_models", "get_model", "trigger_sync", "run_models", "get_run_status",
}


def text_of(result: CallToolResult) -> str:
    first = result.content[0]
    assert isinstance(first, TextContent), first
    return first.text


async def call_ok(session: ClientSession, tool: str, arguments: dict[str, Any]) -> Any:
    result = await session.call_tool(tool, arguments)
    assert not result.isError, f"{tool}: {text_of(result)}"
    return json.loads(text_of(result))


async def wait_run(session: ClientSession, run_id: str) -> None:
    deadline = time.monotonic() + 120
    while True:
        status = await call_ok(session, "get_run_status", {"record_id": run_id})
        if status["status"] in ("success", "failed", "cancelled"):
            assert status["status"] == "success", status
            return
        assert time.monotonic() < deadline, status
        await asyncio.sleep(0.2)


async def as_admin(url: str, key: str) -> None:
    async with streamablehttp_client(f"{url}/mcp", headers={"Authorization": f"Bearer {key}"}) as (read, write, _):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            assert init.serverInfo.name == "dango", init
            tools = await session.list_tools()
            names = {tool.name for tool in tools.tools}
            assert EXPECTED_TOOLS <= names, names
            for tool in tools.tools:
                assert tool.inputSchema["type"] == "object", tool

            sources = await call_ok(session, "list_sources", {})
            assert any(s["name"] == "sales" for s in sources), sources
            table = await call_ok(session, "describe_table", {"source": "sales", "table": "sales"})
            assert table["schema"] == "raw_sales", table
            found = await call_ok(session, "search_catalog", {"q": "sales"})
            assert found["total"] >= 1, found
            await call_ok(session, "get_lineage", {"model_name": "stg_sales__sales"})
            answer = await call_ok(session, "run_query", {"sql": "SELECT count(*) AS n FROM raw_sales.sales"})
            assert answer["columns"][0]["name"] == "n", answer
            await call_ok(session, "list_models", {})
            model = await call_ok(session, "get_model", {"model_name": "stg_sales__sales"})
            assert model["name"] == "stg_sales__sales", model

            started = await call_ok(session, "trigger_sync", {"source_name": "sales"})
            await wait_run(session, started["record_id"])
            built = await call_ok(session, "run_models", {"command": "run"})
            await wait_run(session, built["run_id"])

            refused = await session.call_tool("run_query", {"sql": "DROP TABLE raw_sales.sales"})
            assert refused.isError and text_of(refused).startswith("HTTP 400"), refused

            resources = await session.list_resources()
            assert resources.resources, resources
            read = await session.read_resource(resources.resources[0].uri)
            assert read.contents, read


async def as_viewer(url: str, key: str) -> None:
    async with streamablehttp_client(f"{url}/mcp", headers={"Authorization": f"Bearer {key}"}) as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            for tool, arguments in [
                ("trigger_sync", {"source_name": "sales"}),
                ("run_models", {"command": "run"}),
                ("run_query", {"sql": "SELECT 1"}),
            ]:
                result = await session.call_tool(tool, arguments)
                assert result.isError and text_of(result).startswith("HTTP 403"), (tool, result)
            await call_ok(session, "list_sources", {})


def viewer_key(url: str, email: str, password: str) -> str:
    with httpx.Client(base_url=url, headers={"X-Requested-With": "mcp-flows"}) as browser:
        browser.post("/api/auth/login", json={"email": email, "password": password}).raise_for_status()
        created = browser.post("/api/auth/api-keys", json={"name": "mcp viewer", "role": "viewer"})
        created.raise_for_status()
        return str(created.json()["key"])


def main() -> None:
    url, email, password, admin_key = sys.argv[1:5]
    asyncio.run(as_admin(url, admin_key))
    asyncio.run(as_viewer(url, viewer_key(url, email, password)))
    print("mcp flows passed")


if __name__ == "__main__":
    main()
