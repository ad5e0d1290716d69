"""Drives `kilter probe serve` with the official MCP Python SDK, an independent client.

Usage: mcp_client.py URL TOKEN SYSFS_ROOT

Checks, against a probe on a fake sysfs tree: the 2025-11-25 handshake (initialize, session)
and the 2026-07-28 one (server/discover), the tool list, cpufreq_status, set_governor (the
file changes, previous values come back), an unknown governor (a tool error, nothing
written), and that a wrong token is refused with HTTP 401 before anything is read or written.
Prints one line per check; exits non-zero on the first failure.
"""

import asyncio
import pathlib
import sys

import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

EXPECTED_TOOLS = {
    "node_info",
    "cpufreq_status",
    "set_governor",
    "set_frequency_limits",
    "set_epp",
    "read_power",
    "read_utilization",
}


def check(cond, what):
    if not cond:
        print(f"FAIL {what}", flush=True)
        sys.exit(1)
    print(f"ok   {what}", flush=True)


def governors(sysfs):
    base = pathlib.Path(sysfs) / "devices/system/cpu/cpufreq"
    return sorted(
        (p.name, (p / "scaling_governor").read_text().strip()) for p in base.glob("policy*")
    )


async def session_checks(url, token, sysfs):
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                check(init.server_info.name == "kilter-probe", f"initialize: server {init.server_info.name}, protocol {init.protocol_version}")

                tools = await session.list_tools()
                names = {t.name for t in tools.tools}
                check(EXPECTED_TOOLS <= names, f"tools/list: {sorted(names)}")
                check(
                    all(t.input_schema.get("type") == "object" for t in tools.tools),
                    "every tool has a JSON-schema'd input",
                )

                status = await session.call_tool("cpufreq_status", {})
                check(not status.is_error, "cpufreq_status succeeds")
                policies = status.structured_content["policies"]
                check(len(policies) >= 1 and policies[0]["governor"] == "schedutil", f"cpufreq_status: {len(policies)} policies, governor {policies[0]['governor']}")

                before = governors(sysfs)
                bad = await session.call_tool("set_governor", {"governor": "turbo-ludicrous"})
                check(bad.is_error, "set_governor with an unknown governor is a tool error (isError)")
                text = " ".join(c.text for c in bad.content if getattr(c, "type", "") == "text")
                check("EINVAL" in text, f"... naming EINVAL: {text}")
                check(governors(sysfs) == before, "... and writes nothing")

                done = await session.call_tool("set_governor", {"governor": "powersave"})
                check(not done.is_error, "set_governor powersave succeeds")
                result = done.structured_content
                check(
                    all(p["previous"] == "schedutil" and p["now"] == "powersave" for p in result["policies"]),
                    "set_governor returns each policy's previous and current governor",
                )
                check(all(g == "powersave" for _, g in governors(sysfs)), "every scaling_governor file now holds powersave")


async def modern_checks(url, token):
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                found = await session.discover()
                versions = list(found.supported_versions)
                check("2026-07-28" in versions, f"server/discover: supported {versions}")
                info = await session.call_tool("node_info", {})
                check(not info.is_error and info.structured_content["cpufreq_available"], "node_info over 2026-07-28")


async def wrong_token(url, sysfs):
    before = governors(sysfs)
    async with httpx2.AsyncClient(timeout=30) as http:
        r = await http.post(
            url,
            headers={
                "Authorization": "Bearer not-the-token",
                "Content-Type": "application/json",
                "Accept": "application/json, text/event-stream",
            },
            json={
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tools/call",
                "params": {"name": "set_governor", "arguments": {"governor": "performance"}},
            },
        )
        check(r.status_code == 401, f"a wrong token gets HTTP {r.status_code}")
    check(governors(sysfs) == before, "... and nothing changes")


async def main():
    url, token, sysfs = sys.argv[1:4]
    await session_checks(url, token, sysfs)
    await modern_checks(url, token)
    await wrong_token(url, sysfs)


asyncio.run(main())
