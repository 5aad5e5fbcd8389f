"""A fake OpenAI-compatible model server for the proxy tests, speaking the exact wire
format: `POST /v1/chat/completions` (one JSON object, or SSE `data:` chunks ending with
`data: [DONE]`) and `GET /v1/models`; and Anthropic's `POST /v1/messages` (a message, or its
SSE events) for the translating path. Every request is logged; `GET /_log` returns the log.

    fake_openai_upstream.py      # prints `PORT <n>` once listening

Replies depend on the request:
  - model `pipeline-model` (mnemo's own pipeline): extraction, reconciliation and summary
    answers, so a stated preference becomes a memory;
  - a last user message containing FAIL500 / SLOW / GARBAGE / LONGSTREAM / BREAK: a 500
    with an OpenAI error body, a reply after 4 s, a 200 that is not JSON, 200 chunks 30 ms
    apart (the log says how many went out before the client went away), or a stream that
    stops after two chunks without `data: [DONE]`;
  - otherwise "You prefer dark mode." when the system message mentions dark mode, else
    "Noted.".
"""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG = {"requests": [], "streams": []}
LOCK = threading.Lock()


def last_user(body):
    for m in reversed(body.get("messages", [])):
        if m.get("role") == "user":
            c = m.get("content")
            return c if isinstance(c, str) else json.dumps(c)
    return ""


def system_text(body):
    return " ".join(
        m["content"] if isinstance(m.get("content"), str) else json.dumps(m.get("content"))
        for m in body.get("messages", [])
        if m.get("role") in ("system", "developer")
    )


def pipeline_reply(body):
    everything = json.dumps(body.get("messages", []))
    if body.get("response_format") or body.get("tools"):
        if "ADD" in everything and "NOOP" in everything:
            return json.dumps({"event": "ADD", "id": None, "text": "", "reason": "new"})
        said = last_user(body)
        cells = []
        if "dark mode" in said:
            cells.append({"kind": "preference", "topic": "ui", "salience": 0.8,
                          "content": "Prefers dark mode"})
        return json.dumps({"memories": cells})
    if "Summarize this part of a conversation" in everything:
        return "The user talked about themes."
    return "Topic summary."


def completion(model, text):
    return {
        "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


def chunk(model, delta, finish=None):
    return {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_json(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/_log":
            with LOCK:
                self.send_json(200, LOG)
        elif self.path == "/v1/models" and self.headers.get("x-api-key"):
            self.send_json(200, {"data": [{"type": "model", "id": "claude-fake",
                                           "display_name": "Claude Fake"}], "has_more": False})
        elif self.path == "/v1/models":
            self.send_json(200, {"object": "list", "data": [
                {"id": "client-model", "object": "model", "created": 0, "owned_by": "fake"}]})
        else:
            self.send_json(404, {"error": {"message": "no such path", "type": "not_found"}})

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        with LOCK:
            LOG["requests"].append({"path": self.path, "body": body,
                                    "authorization": self.headers.get("Authorization")})
        if self.path == "/v1/messages":
            with LOCK:
                LOG["requests"][-1]["x-api-key"] = self.headers.get("x-api-key")
            return self.anthropic(body)
        model = body.get("model", "")
        said = last_user(body)
        if model == "pipeline-model" and not body.get("stream"):
            return self.send_json(200, completion(model, pipeline_reply(body)))
        if "FAIL500" in said:
            return self.send_json(500, {"error": {"message": "the model is on fire",
                                                  "type": "server_error", "code": "fire"}})
        if "SLOW" in said:
            time.sleep(4)
            return self.send_json(200, completion(model, "late"))
        if "GARBAGE" in said:
            data = b"<html>this is not json"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        text = "You prefer dark mode." if "dark mode" in system_text(body) else "Noted."
        if model == "pipeline-model":
            text = pipeline_reply(body)
        if not body.get("stream"):
            return self.send_json(200, completion(model, text))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        if "LONGSTREAM" in said:
            return self.long_stream(model)
        if "BREAK" in said:
            for piece in ["Half ", "a "]:
                self.wfile.write(f"data: {json.dumps(chunk(model, {'content': piece}))}\n\n".encode())
                self.wfile.flush()
            self.close_connection = True
            return
        events = [chunk(model, {"role": "assistant", "content": ""})]
        events += [chunk(model, {"content": piece}) for piece in split_words(text)]
        events.append(chunk(model, {}, "stop"))
        if (body.get("stream_options") or {}).get("include_usage"):
            # As OpenAI does: a last chunk with no choices and the call's usage.
            events.append({**chunk(model, {}), "choices": [],
                           "usage": {"prompt_tokens": 10, "completion_tokens": 5,
                                     "total_tokens": 15}})
        for e in events:
            self.wfile.write(f"data: {json.dumps(e)}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True

    def anthropic(self, body):
        if "SLOWISH" in json.dumps(body.get("messages")):
            time.sleep(2)
        system = body.get("system", "")
        text = "You prefer dark mode." if "dark mode" in system else "Noted."
        model = body.get("model")
        if not body.get("stream"):
            return self.send_json(200, {
                "id": "msg_fake", "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
                "usage": {"input_tokens": 12, "output_tokens": 5}})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        events = [("message_start", {"type": "message_start", "message": {
                      "id": "msg_fake", "type": "message", "role": "assistant", "model": model,
                      "content": [], "usage": {"input_tokens": 12, "output_tokens": 1}}}),
                  ("content_block_start", {"type": "content_block_start", "index": 0,
                                           "content_block": {"type": "text", "text": ""}}),
                  ("ping", {"type": "ping"})]
        events += [("content_block_delta", {"type": "content_block_delta", "index": 0,
                                            "delta": {"type": "text_delta", "text": piece}})
                   for piece in split_words(text)]
        events += [("content_block_stop", {"type": "content_block_stop", "index": 0}),
                   ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                                      "usage": {"output_tokens": 5}}),
                   ("message_stop", {"type": "message_stop"})]
        for name, data in events:
            self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
            self.wfile.flush()
        self.close_connection = True

    def long_stream(self, model):
        entry = {"sent": 0, "total": 200, "broken": False}
        with LOCK:
            LOG["streams"].append(entry)
        try:
            self.wfile.write(f"data: {json.dumps(chunk(model, {'role': 'assistant'}))}\n\n".encode())
            for i in range(entry["total"]):
                self.wfile.write(f"data: {json.dumps(chunk(model, {'content': f'w{i} '}))}\n\n".encode())
                self.wfile.flush()
                with LOCK:
                    entry["sent"] = i + 1
                time.sleep(0.03)
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            with LOCK:
                entry["broken"] = True
        self.close_connection = True


def split_words(text):
    words = text.split(" ")
    return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
