"""Drives mnemo's MCP server with the official MCP Python SDK (PyPI `mcp`).

    mcp_client.py stdio MNEMO_BINARY      # `mnemo mcp` as a child process (env from ours)
    mcp_client.py http URL KEY_A KEY_B    # `mnemo serve` at URL/mcp, two users' keys

Prints one JSON line per step and `OK <mode>` at the end; any failed check raises, so the
exit status is non-zero with a traceback naming the check.
"""

import asyncio
import json
import os
import sys

import httpx2
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

TOOLS = {
    "add_memory", "search_memories", "list_memories", "get_memory", "update_memory",
    "forget_memory", "add_turns", "get_context", "list_sessions", "list_summaries",
    "search_turns",
}


def step(name, **data):
    print(json.dumps({"step": name, **data}, default=str), flush=True)


def check(cond, what):
    if not cond:
        raise AssertionError(what)


async def ok_call(client, tool, args):
    r = await client.call_tool(tool, args)
    check(not r.is_error, f"{tool}({args}) failed: {r.content}")
    return r.structured_content


async def error_call(client, tool, args):
    """A call that must fail as an MCP error (isError result or JSON-RPC error)."""
    try:
        r = await client.call_tool(tool, args)
    except MCPError as e:
        return f"rpc error {e}"
    check(r.is_error, f"{tool}({args}) should fail but returned {r.structured_content}")
    return r.content[0].text


async def tools_are_listed(client):
    tools = {t.name: t for t in (await client.list_tools()).tools}
    check(TOOLS <= set(tools), f"missing tools: {TOOLS - set(tools)}")
    search = tools["search_memories"]
    check(search.annotations.read_only_hint is True, "search is read-only")
    check("explain" in search.input_schema["properties"], "search has an explain option")
    check(tools["forget_memory"].annotations.destructive_hint is True, "forget is destructive")
    check(tools["add_memory"].annotations.read_only_hint is False, "add writes")
    check(tools["forget_memory"].input_schema["required"][0] == "id", "forget needs an id")
    for t in tools.values():
        check(t.description and len(t.description) > 40, f"{t.name} has a real description")
    step("list_tools", tools=sorted(tools))


async def add_and_search(client, text, key):
    added = await ok_call(client, "add_memory", {"content": text, "key": key, "topic": "ui"})
    mid = added["memory"]["id"]
    check(added["outcome"] == "added", f"outcome {added['outcome']}")
    found = await ok_call(client, "search_memories", {"query": "dark mode editor", "explain": True})
    hits = found["hits"]
    check(any(h["memory"]["id"] == mid for h in hits), f"search finds the memory: {hits}")
    check(all("parts" in h for h in hits), "explain gives score parts")
    step("add_and_search", id=mid, hits=len(hits))
    return mid


async def malformed_calls_fail_cleanly(client):
    e1 = await error_call(client, "add_memory", {"bogus": 1})
    e2 = await error_call(client, "add_memory", {"content": 42})
    e3 = await error_call(client, "get_memory", {})
    e4 = await error_call(client, "no_such_tool", {"x": 1})
    e5 = await error_call(client, "get_memory", {"id": "ffffffffffff"})
    check("content" in e1 or "bogus" in e1, f"says what was wrong: {e1}")
    check("not_found" in e5, f"unknown id is not found: {e5}")
    # The server is still there and answering.
    await client.list_tools()
    step("malformed", errors=[e1, e2, e3, e4, e5])


async def forget(client, mid):
    gone = await ok_call(client, "forget_memory", {"id": mid, "reason": "user asked"})
    check(gone["id"] == mid, "forgot that memory")
    found = await ok_call(client, "search_memories", {"query": "dark mode editor"})
    check(all(h["memory"]["id"] != mid for h in found["hits"]), "forgotten memory not found")
    step("forget", id=mid)


async def resources_and_prompt(client, mid):
    uris = [str(r.uri) for r in (await client.list_resources()).resources]
    uri = f"mnemo://memories/{mid}"
    check(uri in uris, f"memory listed as a resource: {uris}")
    contents = (await client.read_resource(uri)).contents
    check("dark mode" in contents[0].text, "resource holds the memory")
    templates = (await client.list_resource_templates()).resource_templates
    check(len(templates) == 2, "memory and session summary templates")
    prompts = (await client.list_prompts()).prompts
    check([p.name for p in prompts] == ["memory_context"], "one prompt")
    p = await client.get_prompt("memory_context", {"message": "Which editor theme do I like?"})
    text = p.messages[0].content.text
    check("dark mode" in text and "<memory>" in text, f"prompt injects the memory: {text}")
    step("resources_and_prompt", resources=len(uris))


async def conversation(client):
    rec = await ok_call(client, "add_turns", {"turns": [
        {"role": "user", "content": "I am planning a trip to Lisbon in May"},
        {"role": "assistant", "content": "Lisbon in May is lovely"},
    ]})
    sid = rec["session_id"]
    sessions = await ok_call(client, "list_sessions", {})
    check(any(s["id"] == sid for s in sessions["sessions"]), "the session is listed")
    ctx = await ok_call(client, "get_context", {"message": "Where am I travelling?", "session_id": sid})
    check(any("Lisbon" in t["content"] for t in ctx["recent_turns"]), "context replays the turns")
    summ = await ok_call(client, "list_summaries", {"session_id": sid})
    check(isinstance(summ["summaries"], list), "summaries listed")
    found = await ok_call(client, "search_turns", {"query": "trip to Lisbon", "session_id": sid})
    check(found["hits"] and "Lisbon" in found["hits"][0]["turn"]["content"],
          f"the conversation is searched: {found}")
    # The former names answer for one release (not listed).
    old = await ok_call(client, "record_messages", {"session_id": sid, "messages": [
        {"role": "user", "content": "and Porto after"}]})
    check(old["session_id"] == sid, old)
    old = await ok_call(client, "search_conversations", {"query": "Porto", "session_id": sid})
    check(old["hits"], old)
    step("conversation", session=sid)


async def stdio(binary):
    params = StdioServerParameters(command=binary, args=["mcp", "--no-worker"], env=dict(os.environ))
    # The initialize handshake of the protocol versions before 2026-07-28...
    async with Client(params, cache=None, mode="legacy") as client:
        check(client.session.protocol_version < "2026", f"legacy: {client.session.protocol_version}")
        await tools_are_listed(client)
        step("legacy_handshake", version=client.session.protocol_version)
    # ...and the SDK's default, which negotiates the newest version both sides speak.
    async with Client(params, cache=None) as client:
        step("negotiated", version=client.session.protocol_version)
        await tools_are_listed(client)
        mid = await add_and_search(client, "Prefers dark mode in every editor", "editor.theme")
        await resources_and_prompt(client, mid)
        await conversation(client)
        await malformed_calls_fail_cleanly(client)
        await forget(client, mid)


def http_client(url, key, mode="auto"):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    transport = streamable_http_client(url, http_client=httpx2.AsyncClient(headers=headers, timeout=30))
    return Client(transport, cache=None, mode=mode)


async def http(base, key_a, key_b):
    url = f"{base}/mcp"
    async with httpx2.AsyncClient() as raw:
        r = await raw.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                           headers={"Accept": "application/json, text/event-stream"})
        check(r.status_code == 401, f"no key: 401, got {r.status_code}")
        r = await raw.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                           headers={"Authorization": "Bearer mnemo_000000000000_" + "0" * 64,
                                    "Accept": "application/json, text/event-stream"})
        check(r.status_code == 401, f"bad key: 401, got {r.status_code}")
    step("auth_required")
    async with http_client(url, key_a) as a:
        await tools_are_listed(a)
        mid = await add_and_search(a, "Prefers dark mode in every editor", "editor.theme")
        await resources_and_prompt(a, mid)
        await malformed_calls_fail_cleanly(a)
        # User B connects with the initialize handshake of older protocol versions.
        async with http_client(url, key_b, mode="legacy") as b:
            found = await ok_call(b, "search_memories", {"query": "dark mode editor"})
            check(found["hits"] == [], f"user B finds none of A's memories: {found}")
            listed = await ok_call(b, "list_memories", {"view": "all"})
            check(listed["memories"] == [], "user B lists none of A's memories")
            for prefix in (mid, mid[:8]):
                e = await error_call(b, "get_memory", {"id": prefix})
                check("not_found" in e and "dark" not in e, f"B cannot read A's memory: {e}")
                e = await error_call(b, "forget_memory", {"id": prefix})
                check("not_found" in e, f"B cannot forget A's memory: {e}")
                e = await error_call(b, "update_memory", {"id": prefix, "content": "light mode"})
                check("not_found" in e, f"B cannot change A's memory: {e}")
            try:
                await b.read_resource(f"mnemo://memories/{mid}")
                raise AssertionError("B read A's memory resource")
            except MCPError:
                pass
            uris = [str(r.uri) for r in (await b.list_resources()).resources]
            check(not any(mid in u for u in uris), "B's resources hold none of A's")
            p = await b.get_prompt("memory_context", {"message": "Which editor theme do I like?"})
            check("dark mode" not in p.messages[0].content.text, "B's prompt has none of A's memory")
            step("isolation")
        detail = await ok_call(a, "get_memory", {"id": mid})
        check(detail["memory"]["content"] == "Prefers dark mode in every editor", "A's memory unchanged")
        check(detail["current"] is True, "A's memory still current")
        await forget(a, mid)


def main():
    mode = sys.argv[1]
    if mode == "stdio":
        asyncio.run(stdio(sys.argv[2]))
    elif mode == "http":
        asyncio.run(http(sys.argv[2], sys.argv[3], sys.argv[4]))
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(f"OK {mode}", flush=True)


if __name__ == "__main__":
    main()
