"""Drives the OpenAI-compatible proxy of `mnemo serve` with the official `openai` client.

    proxy_client.py MNEMO_URL UPSTREAM_URL KEY_ANNA KEY_BEN KEY_ADMIN
    proxy_client.py anthropic MNEMO_URL UPSTREAM_URL KEY    # an Anthropic upstream

The upstream is tests/python/fake_openai_upstream.py; its `/_log` shows what it received.
Prints one JSON line per step and `OK proxy` at the end; a failed check raises.
"""

import json
import sys
import time

import httpx2
import openai

if sys.argv[1] == "anthropic":
    MNEMO, UPSTREAM, ANNA = sys.argv[2:5]
    BEN = ADMIN = None
else:
    MNEMO, UPSTREAM, ANNA, BEN, ADMIN = sys.argv[1:6]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]


def step(name, **data):
    print(json.dumps({"step": name, **data}, default=str), flush=True)


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def client(key):
    return openai.OpenAI(base_url=f"{MNEMO}/v1", api_key=key, max_retries=0, timeout=30)


def upstream_log():
    return httpx2.get(f"{UPSTREAM}/_log").json()


def last_client_request():
    reqs = [r for r in upstream_log()["requests"] if r["body"].get("model") == "client-model"]
    return reqs[-1]


def rest(key, path, headers=None):
    h = {"Authorization": f"Bearer {key}", **(headers or {})}
    r = httpx2.get(f"{MNEMO}{path}", headers=h)
    check(r.status_code == 200, f"GET {path}: {r.status_code} {r.text}")
    return r.json()


def session_turns(key, sid):
    return rest(key, f"/v1/sessions/{sid}")["turns"]


def wait_for_memory(key, words, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        mems = rest(key, "/v1/memories")["memories"]
        if any(words in m["content"] for m in mems):
            return mems
        time.sleep(0.2)
    raise AssertionError(f"no memory with {words!r} after {seconds} s: {rest(key, '/v1/jobs')}")


def ask(c, text, session, stream, **extra):
    """One chat completion; returns the reply text."""
    args = dict(model="client-model", messages=[
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": text}], **extra)
    if session.startswith("hdr:"):
        args["extra_headers"] = {"X-Mnemo-Session": session[4:]}
    else:
        args["extra_body"] = {"mnemo_session": session}
    if not stream:
        r = c.chat.completions.create(**args)
        return r.choices[0].message.content
    parts = []
    for ch in c.chat.completions.create(stream=True, **args):
        # mnemo asks the upstream for the stream's usage chunk; a client that did not ask
        # for one must not get it.
        asked = (extra.get("stream_options") or {}).get("include_usage")
        check(asked or (ch.choices and ch.usage is None), f"an unasked-for usage chunk: {ch}")
        if ch.choices and ch.choices[0].delta.content:
            parts.append(ch.choices[0].delta.content)
    return "".join(parts)


def proxy_usage(key):
    """The caller's usage row of the task `proxy`."""
    rows = rest(key, "/v1/usage?group=task")["rows"]
    return next((r for r in rows if r["key"] == "proxy"), None)


def story(key, user, stream):
    """Seed 004: dark mode said in one conversation, asked about in the next."""
    c = client(key)
    mode = "stream" if stream else "plain"
    # Before anything is known, nothing is injected.
    reply = ask(c, "Which theme should my new editor use?", f"hdr:{user}-0", stream)
    sent = last_client_request()["body"]
    check("<memory>" not in json.dumps(sent["messages"]), f"no memory yet: {sent}")
    check(reply == "Noted.", reply)
    # First conversation: the preference, with every passthrough field.
    reply = ask(c, "I prefer dark mode in every app I use.", f"{user}-1", stream,
                temperature=0.3, max_tokens=50, tools=TOOLS, user="end-user-7",
                response_format={"type": "text"})
    check(reply == "Noted.", reply)
    got = last_client_request()
    body = got["body"]
    check(body["temperature"] == 0.3 and body["max_tokens"] == 50, f"sampling passed through: {body}")
    check(body["tools"] == TOOLS and body["response_format"] == {"type": "text"}, "tools/format passed")
    check(body["user"] == "end-user-7", "the user field passed through")
    check("mnemo_session" not in body, "the session field is mnemo's, not the upstream's")
    check(body.get("stream", False) == stream, "stream flag passed through")
    check(got["authorization"] == "Bearer sk-upstream-secret", f"upstream key, not the mnemo key: {got['authorization']}")
    turns = session_turns(key, f"{user}-1")
    check([t["role"] for t in turns] == ["user", "assistant"], f"both turns recorded: {turns}")
    check(turns[1]["content"] == "Noted.", turns)
    wait_for_memory(key, "dark mode")
    # Second conversation: the memory comes back, in the system message.
    reply = ask(c, "Which theme should my new editor use?", f"hdr:{user}-2", stream)
    sent = last_client_request()["body"]["messages"]
    check(sent[0]["role"] == "system", sent)
    system = sent[0]["content"]
    check(system.startswith("You are terse.") and "<memory>" in system and "Prefers dark mode" in system,
          f"memory block in the system message: {system}")
    check(reply == "You prefer dark mode.", f"client got the reply: {reply!r}")
    check(session_turns(key, f"{user}-2")[-1]["content"] == "You prefer dark mode.", "reply recorded")
    # The three completions are counted, with the upstream's token figures (10 in, 5 out
    # each; for a stream from the usage chunk mnemo asked for).
    usage = proxy_usage(key)
    check(usage is not None and usage["calls"] == 3, f"proxied calls counted: {usage}")
    check(usage["input_tokens"] == 30 and usage["output_tokens"] == 15, f"their tokens: {usage}")
    check(usage["model"] == "openai/client-model", usage)
    step("story", mode=mode, user=user, system=system)


def failures():
    c = client(ANNA)
    for stream in (False, True):
        try:
            ask(c, "FAIL500 please", "hdr:fail", stream)
            raise AssertionError("a 500 upstream must fail")
        except openai.InternalServerError as e:
            check(e.status_code == 500, e)
            check(e.body and "on fire" in json.dumps(e.body), f"upstream error body passed: {e.body}")
    turns = session_turns(ANNA, "fail")
    asked = [t for t in turns if t["content"] == "FAIL500 please"]
    check(len(asked) == 1, f"the user turn was recorded first, once for the retry: {turns}")
    for stream in (False, True):
        try:
            ask(c, "SLOW please", "hdr:fail", stream)
            raise AssertionError("a slow upstream must time out")
        except openai.APIStatusError as e:
            check(e.status_code == 504 and "upstream_timeout" in json.dumps(e.body),
                  f"{e.status_code} {e.body}")
        try:
            ask(c, "GARBAGE please", "hdr:fail", stream)
            raise AssertionError("garbage must fail")
        except openai.APIStatusError as e:
            want = "text/event-stream" if stream else "not JSON"
            check(e.status_code == 502 and want in json.dumps(e.body), f"{e.status_code} {e.body}")
    # A stream that breaks off: the client is told, the partial reply is kept and marked.
    try:
        ask(c, "BREAK please", "hdr:broken", True)
        raise AssertionError("a broken stream must raise")
    except openai.APIError as e:
        check("cut short" in str(e), e)
    reply = session_turns(ANNA, "broken")[-1]
    check(reply["content"].strip() == "Half a" and reply["meta"]["partial"] is True, reply)
    step("failures")


def disconnect():
    c = client(ANNA)
    stream = c.chat.completions.create(
        model="client-model", stream=True, extra_headers={"X-Mnemo-Session": "cut"},
        messages=[{"role": "user", "content": "LONGSTREAM please"}])
    got = 0
    for ch in stream:
        if ch.choices and ch.choices[0].delta.content:
            got += 1
        if got == 3:
            break
    stream.close()
    deadline = time.time() + 20
    while time.time() < deadline:
        s = upstream_log()["streams"][-1]
        if s["broken"]:
            break
        time.sleep(0.1)
    check(s["broken"] and s["sent"] < s["total"], f"the upstream request stopped: {s}")
    deadline = time.time() + 20
    while time.time() < deadline:
        turns = session_turns(ANNA, "cut")
        if len(turns) == 2:
            break
        time.sleep(0.1)
    reply = turns[-1]
    check(reply["role"] == "assistant" and reply["content"].startswith("w0 w1 w2"), f"partial kept: {reply}")
    check(reply["meta"]["cancelled"] is True, f"marked cancelled: {reply['meta']}")
    step("disconnect", upstream_sent=s["sent"], recorded=len(reply["content"]))


def admin_and_auth():
    c = client(ADMIN)
    r = c.chat.completions.create(model="client-model", user="carol",
                                  messages=[{"role": "user", "content": "hello"}],
                                  extra_headers={"X-Mnemo-Session": "carol-1"})
    check(r.choices[0].message.content == "Noted.", r)
    turns = rest(ADMIN, "/v1/sessions/carol-1", {"X-Mnemo-User": "carol"})["turns"]
    check(turns[0]["user_id"] == "carol", f"the admin acted as carol: {turns}")
    try:
        client("mnemo_000000000000_" + "0" * 64).chat.completions.create(
            model="client-model", messages=[{"role": "user", "content": "hi"}])
        raise AssertionError("a bad key must be refused")
    except openai.AuthenticationError as e:
        check(e.status_code == 401, e)
    models = [m.id for m in client(BEN).models.list()]
    check("client-model" in models, models)
    step("admin_auth_models")


def anthropic():
    """The same client against an Anthropic upstream: translated both ways."""
    r = httpx2.post(f"{MNEMO}/v1/memories", headers={"Authorization": f"Bearer {ANNA}"},
                   json={"content": "Prefers dark mode", "kind": "preference"})
    check(r.status_code == 201, r.text)
    c = client(ANNA)
    for stream in (False, True):
        reply = ask(c, "Which theme should my new editor use?", f"hdr:claude-{stream}", stream,
                    max_tokens=50, temperature=0.1)
        check(reply == "You prefer dark mode.", f"client got the reply: {reply!r}")
        got = upstream_log()["requests"][-1]
        body = got["body"]
        check(got["path"] == "/v1/messages" and got["x-api-key"] == "sk-ant-upstream", got)
        check(body["system"].startswith("You are terse.") and "<memory>" in body["system"]
              and "Prefers dark mode" in body["system"], f"memory in Anthropic's system: {body}")
        check(body["messages"] == [{"role": "user", "content": [
            {"type": "text", "text": "Which theme should my new editor use?"}]}], body["messages"])
        check(body["max_tokens"] == 50 and body["temperature"] == 0.1, body)
        turns = session_turns(ANNA, f"claude-{stream}")
        check([t["content"] for t in turns] == ["Which theme should my new editor use?",
                                                 "You prefer dark mode."], turns)
    # Longer than the server's REST request timeout (1 s here), within the model's (3 s).
    reply = ask(c, "SLOWISH: which theme?", "hdr:claude-slow", False)
    check(reply == "You prefer dark mode.", reply)
    # Counted as Anthropic reported them (12 in, 5 out each; the stream's from its events).
    usage = proxy_usage(ANNA)
    check(usage is not None and usage["calls"] == 3, f"proxied calls counted: {usage}")
    check(usage["input_tokens"] == 36 and usage["output_tokens"] == 15, f"their tokens: {usage}")
    models = [m.id for m in c.models.list()]
    check(models == ["claude-fake"], models)
    step("anthropic")
    print("OK anthropic", flush=True)


def main():
    if sys.argv[1] == "anthropic":
        return anthropic()
    story(ANNA, "anna", stream=False)
    story(BEN, "ben", stream=True)
    failures()
    disconnect()
    admin_and_auth()
    print("OK proxy", flush=True)


if __name__ == "__main__":
    main()
