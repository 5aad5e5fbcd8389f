// mnemo web UI: a single page over the /v1 REST API, like any client (keys, usage by
// day and the chat stream are /v1 operations too). No framework, no build step: served from the binary. Every text from the
// server is inserted as text (never as HTML). The API key lives in sessionStorage only.
"use strict";

const store = window.sessionStorage;
const S = { me: null, page: null, memCursor: null, selected: null, chatSession: null,
  learnTimer: null, searchTimer: null, seq: 0 };

// ---------------------------------------------------------------- helpers
const $ = (id) => document.getElementById(id);

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}

function short(id) { return id ? String(id).slice(0, 8) : ""; }
function when(ts) {
  if (!ts) return "";
  const d = new Date(ts);
  return isNaN(d) ? String(ts) : d.toLocaleString();
}
function fmt(x, n = 3) { return typeof x === "number" ? x.toFixed(n) : String(x ?? ""); }

function say(text) { $("status").textContent = text; }
function showError(err) {
  const box = $("error");
  box.textContent = err ? String(err.message || err) : "";
  box.hidden = !err;
}

class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || ("HTTP " + status));
    this.status = status; this.code = problem.code;
  }
}

async function api(method, path, body) {
  const headers = { "Authorization": "Bearer " + store.getItem("mnemo.key") };
  const actAs = store.getItem("mnemo.actAs");
  if (actAs) headers["X-Mnemo-User"] = actAs;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, { method, headers,
    body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = { detail: text }; }
  if (!res.ok) {
    if (res.status === 401) signOut("Your key was refused: " + ((data && data.detail) || "unauthorized"));
    throw new ApiError(res.status, data || {});
  }
  return data;
}

// Runs an action, showing its error instead of throwing.
async function guard(fn) {
  try { showError(null); return await fn(); }
  catch (e) { showError(e); return undefined; }
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== null && v !== undefined) q.set(k, v);
  const s = q.toString();
  return s ? "?" + s : "";
}

// ---------------------------------------------------------------- sign in, navigation
async function signIn(key) {
  store.setItem("mnemo.key", key.trim());
  const me = await guard(() => api("GET", "/v1/me"));
  if (!me) { store.removeItem("mnemo.key"); return false; }
  S.me = me;
  $("who-text").textContent = "Signed in as " + me.user_id + (me.admin ? " (admin key)" : "") +
    (me.auth ? "" : " — the server runs without authentication (--no-auth)");
  $("who").hidden = false; $("nav").hidden = false;
  $("act-as").hidden = !me.admin; $("nav-keys").hidden = !me.admin;
  $("act-as-user").value = store.getItem("mnemo.actAs") || "";
  return true;
}

function signOut(why) {
  store.removeItem("mnemo.key"); store.removeItem("mnemo.actAs");
  S.me = null;
  $("who").hidden = true; $("nav").hidden = true;
  show("signin");
  if (why) showError(why);
}

const PAGES = ["signin", "memories", "conversations", "topics", "chat", "pipeline", "keys"];

function show(page) {
  for (const p of PAGES) $("page-" + p).hidden = p !== page;
  for (const a of document.querySelectorAll("nav a")) {
    if (a.dataset.page === page) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  S.page = page;
  document.title = "mnemo · " + page;
}

async function route() {
  showError(null);
  say("");
  const [page, arg, arg2] = (location.hash.slice(1) || "memories").split("/");
  if (!S.me) { show("signin"); $("signin-key").focus(); return; }
  const name = PAGES.includes(page) && page !== "signin" ? page : "memories";
  show(name);
  if (name !== "chat") stopLearning();
  const load = { memories: loadMemories, conversations: () => loadConversations(arg, arg2),
    topics: loadTopics, chat: loadChat, pipeline: loadPipeline, keys: loadKeys }[name];
  const focused = await guard(load);
  if (focused !== true) $("main").focus({ preventScroll: true });
}

// ---------------------------------------------------------------- memories
function memFilters() {
  const view = $("mem-view").value;
  return { kind: $("mem-kind").value, topic: $("mem-topic").value.trim(),
    key: $("mem-key").value.trim(), session_id: $("mem-session").value.trim(),
    view: view === "as_of" ? "" : view,
    as_of: view === "as_of" ? $("mem-asof").value : "" };
}

async function loadMemories(more) {
  const f = memFilters();
  const q = $("mem-q").value.trim();
  const seq = ++S.seq;
  let items, next = null;
  if (q) {
    const body = { query: q, explain: true, limit: 50 };
    for (const k of ["kind", "topic", "session_id", "view", "as_of"]) if (f[k]) body[k] = f[k];
    const res = await api("POST", "/v1/memories/search", body);
    items = res.hits.filter((h) => !f.key || h.memory.key === f.key);
  } else {
    const res = await api("GET", "/v1/memories" + query({ ...f, limit: 50,
      cursor: more ? S.memCursor : "" }));
    items = res.memories.map((m) => ({ memory: m }));
    next = res.next_cursor;
  }
  if (seq !== S.seq) return; // a newer search is on its way
  S.memCursor = next;
  const list = $("mem-list");
  if (!more) list.replaceChildren();
  for (const it of items) list.append(memoryItem(it));
  $("mem-more").hidden = !next;
  const n = list.children.length;
  $("mem-count").textContent = (q ? n + " found for “" + q + "”" : n + " memories") +
    (n === 0 ? " — nothing here yet." : "");
}

function memTags(m) {
  const gone = m.deleted ? "forgotten" : m.valid_to ? "superseded" : null;
  return h("div", { class: "meta" },
    h("span", { class: "tag" }, m.kind),
    m.key && h("span", { class: "tag" }, "key: " + m.key),
    m.topic && h("span", { class: "tag" }, "topic: " + m.topic),
    m.pinned && h("span", { class: "tag pinned" }, "pinned"),
    gone && h("span", { class: "tag gone" }, gone),
    h("span", null, "salience " + fmt(m.salience, 2)),
    h("span", null, when(m.created_at)),
    h("span", { class: "mono" }, short(m.id)));
}

function memoryItem({ memory: m, score, parts }) {
  const li = h("li", { "data-id": m.id, class: S.selected === m.id ? "selected" : null },
    h("div", { class: "content" }, m.content),
    memTags(m),
    parts && h("div", { class: "parts", "aria-label": "Score parts" },
      "score " + fmt(score) + " = relevance " + fmt(parts.relevance) + " (bm25 " + fmt(parts.bm25) +
      ", lexical " + fmt(parts.lexical) + ", dense " + fmt(parts.dense) + ") · salience " +
      fmt(parts.salience) + " · recency " + fmt(parts.recency) + " · pinned " + fmt(parts.pinned)),
    h("div", { class: "actions" },
      h("button", { type: "button", class: "secondary", onclick: () => openMemory(m.id),
        "aria-label": "Open memory " + short(m.id) }, "Open")));
  return li;
}

async function openMemory(id) {
  const d = await guard(() => api("GET", "/v1/memories/" + encodeURIComponent(id)));
  if (!d) return;
  S.selected = d.memory.id;
  for (const li of $("mem-list").children) li.classList.toggle("selected", li.dataset.id === d.memory.id);
  renderDetail(d);
}

function renderDetail(d) {
  const m = d.memory;
  const box = $("mem-detail");
  box.hidden = false;
  const edit = h("form", { class: "stack", id: "edit-form", onsubmit: (e) => { e.preventDefault();
      change(m.id, { content: $("edit-content").value, reason: $("edit-reason").value || undefined }, "Saved"); } },
    h("label", { for: "edit-content" }, "Text"),
    h("textarea", { id: "edit-content", rows: "3" }, m.content),
    h("label", { for: "edit-reason" }, "Why (kept in the history)"),
    h("input", { id: "edit-reason", autocomplete: "off" }),
    h("button", { type: "submit" }, "Save"));
  const sal = h("form", { class: "row", id: "salience-form", onsubmit: (e) => { e.preventDefault();
      change(m.id, { salience: Number($("edit-salience").value) }, "Salience changed"); } },
    h("div", { class: "field" }, h("label", { for: "edit-salience" }, "Salience (0–1)"),
      h("input", { id: "edit-salience", type: "number", min: "0", max: "1", step: "0.05",
        value: fmt(m.salience, 2) })),
    h("button", { type: "submit", class: "secondary" }, "Set"));
  const actions = h("div", { class: "actions" },
    h("button", { type: "button", class: "secondary", id: "pin-btn", "aria-pressed": String(m.pinned), onclick: () =>
      change(m.id, { pinned: !m.pinned }, m.pinned ? "Unpinned" : "Pinned") }, m.pinned ? "Unpin" : "Pin"),
    d.current
      ? h("button", { type: "button", class: "danger", id: "forget-btn", onclick: () => forget(m.id) }, "Forget")
      : h("button", { type: "button", id: "restore-btn", onclick: () => restore(m.id) }, "Restore"),
    h("button", { type: "button", class: "secondary", onclick: () => { box.hidden = true; S.selected = null; } }, "Close"));
  const timeline = h("ol", { class: "timeline", id: "history", "aria-label": "History" },
    d.history.map((ev) => h("li", null,
      h("div", null, h("strong", null, ev.op), " by ", ev.actor, " · ", when(ev.at)),
      ev.reason && h("div", { class: "muted" }, "why: " + ev.reason),
      ev.old_content && ev.old_content !== ev.new_content &&
        h("div", { class: "old", "aria-label": "old text" }, ev.old_content),
      ev.new_content && h("div", { "aria-label": "new text" }, ev.new_content))));
  const sources = d.sources.length
    ? h("ul", { class: "list" }, d.sources.map((t) => h("li", null,
        h("a", { href: "#conversations/" + t.session_id + "/" + t.seq }, t.role + " · turn " + t.seq + " · " + when(t.created_at)),
        h("div", null, t.content))))
    : h("p", { class: "muted" }, "Not derived from a conversation (added directly).");
  box.replaceChildren(
    h("h3", null, "Memory ", h("span", { class: "mono" }, short(m.id))),
    memTags(m), edit, sal, actions,
    h("h3", null, "History"), timeline,
    h("h3", null, "Source turns"), sources);
}

async function change(id, patch, done) {
  const m = await guard(() => api("PATCH", "/v1/memories/" + encodeURIComponent(id), patch));
  if (!m) return;
  say(done);
  await guard(() => loadMemories());
  await openMemory(m.id);
}

async function forget(id) {
  const m = await guard(() => api("DELETE", "/v1/memories/" + encodeURIComponent(id) +
    query({ reason: "forgotten in the web UI" })));
  if (!m) return;
  say("Forgotten. It can be restored from here or from the “all versions” view.");
  await guard(() => loadMemories());
  await openMemory(m.id);
}

async function restore(id) {
  const m = await guard(() => api("POST", "/v1/memories/" + encodeURIComponent(id) + "/restore"));
  if (!m) return;
  say("Restored");
  await guard(() => loadMemories());
  await openMemory(m.id);
}

async function addMemory(e) {
  e.preventDefault();
  const body = { content: $("add-content").value, reason: "added in the web UI" };
  for (const [k, id] of [["kind", "add-kind"], ["key", "add-key"], ["topic", "add-topic"]]) {
    const v = $(id).value.trim(); if (v) body[k] = v;
  }
  if ($("add-salience").value) body.salience = Number($("add-salience").value);
  const out = await guard(() => api("POST", "/v1/memories", body));
  if (!out) return;
  say("Memory " + out.outcome);
  $("mem-add-form").reset();
  $("mem-add").open = false;
  await guard(() => loadMemories());
  await openMemory(out.memory.id);
}

// ---------------------------------------------------------------- conversations
async function loadConversations(sessionId, seq) {
  const res = await api("GET", "/v1/sessions?limit=100");
  const list = $("sessions");
  list.replaceChildren(...res.sessions.map((s) => h("li", { "data-id": s.id },
    h("a", { href: "#conversations/" + s.id }, (s.meta && s.meta.title) || "Session " + short(s.id)),
    h("div", { class: "meta" }, h("span", null, "started " + when(s.started_at)),
      s.ended_at && h("span", null, "ended " + when(s.ended_at))))));
  if (!res.sessions.length) list.append(h("li", { class: "muted" }, "No conversations yet."));
  if (sessionId) return openSession(sessionId, seq);
  else $("session").hidden = true;
}

async function openSession(id, seq) {
  const r = await api("GET", "/v1/sessions/" + encodeURIComponent(id));
  const box = $("session");
  box.hidden = false;
  box.replaceChildren(
    h("h3", null, "Session ", h("span", { class: "mono" }, short(r.session.id))),
    h("p", { class: "meta" }, "started " + when(r.session.started_at)),
    h("h4", null, "Summaries"),
    r.summaries.length ? h("ul", { class: "list" }, r.summaries.map((s) =>
      h("li", null, h("div", { class: "meta" }, "turns " + s.first_seq + "–" + s.last_seq), s.summary)))
      : h("p", { class: "muted" }, "No summary yet."),
    h("h4", null, "Turns"),
    h("ol", { class: "chat", "aria-label": "Turns" }, r.turns.map((t) =>
      h("li", { class: t.role === "assistant" ? "assistant" : "user", id: "turn-" + t.seq },
        h("span", { class: "sr-label" }, t.role + ": "), t.content))));
  for (const li of $("sessions").children) li.classList.toggle("selected", li.dataset.id === r.session.id);
  const turn = seq && $("turn-" + seq);
  if (turn) {
    turn.classList.add("selected");
    turn.setAttribute("tabindex", "-1");
    turn.scrollIntoView({ block: "center" });
    turn.focus({ preventScroll: true });
    return true;
  }
  return false;
}

async function searchTurns(e) {
  e.preventDefault();
  const q = $("turn-q").value.trim();
  const list = $("turn-hits");
  if (!q) { list.replaceChildren(); return; }
  const res = await guard(() => api("POST", "/v1/turns/search", { query: q, limit: 20 }));
  if (!res) return;
  list.replaceChildren(...res.hits.map((hit) => h("li", null,
    h("a", { href: "#conversations/" + hit.turn.session_id + "/" + hit.turn.seq }, hit.turn.role + " · " + when(hit.turn.created_at)),
    h("div", null, hit.turn.content),
    h("div", { class: "parts" }, "score " + fmt(hit.score) + " · lexical " + fmt(hit.parts.lexical) +
      " · dense " + fmt(hit.parts.dense) + " · context " + fmt(hit.parts.context) +
      " · session " + fmt(hit.parts.session)))));
  if (!res.hits.length) list.append(h("li", { class: "muted" }, "No turn matches “" + q + "”."));
}

// ---------------------------------------------------------------- topics
async function loadTopics() {
  const res = await api("GET", "/v1/topics");
  const list = $("topics");
  list.replaceChildren(...res.topics.map((t) => {
    const members = h("ul", { class: "list", "aria-label": "Memories of " + t.name });
    api("GET", "/v1/memories" + query({ topic: t.name, limit: 100 })).then((r) => {
      members.replaceChildren(...r.memories.map((m) => h("li", null, m.content, memTags(m))));
      if (!r.memories.length) members.append(h("li", { class: "muted" }, "No current memories."));
    }, showError);
    return h("li", null, h("h3", null, t.name), h("p", null, t.summary || "No summary yet."),
      h("div", { class: "meta" }, "updated " + when(t.updated_at)),
      h("h4", null, "Memories"), members);
  }));
  if (!res.topics.length) list.append(h("li", { class: "muted" },
    "No topics yet: the pipeline groups memories into topics as conversations are processed."));
}

// ---------------------------------------------------------------- chat
function loadChat() {
  const model = S.me.model;
  $("chat-model").textContent = model
    ? "Model: " + model + ". Replies stream in; what the pipeline learns from them is listed under “Learned from this conversation”."
    : "No model is configured, so chat is unavailable (everything else works). Set [llm] provider and model in the config, or MNEMO_LLM_PROVIDER and MNEMO_MODEL, and restart mnemo serve.";
  $("chat-send").disabled = !model;
  $("chat-input").disabled = !model;
  if (S.chatSession) startLearning();
}

function renderContext(ctx) {
  const box = $("chat-context");
  const items = ctx.items || [];
  box.replaceChildren(
    h("p", { class: "meta" }, ctx.tokens + " of " + ctx.budget_tokens + " tokens · pattern " + ctx.pattern),
    items.length ? h("ul", { class: "list", id: "context-items" }, items.map((it) =>
      h("li", null, h("div", { class: "meta" }, h("span", { class: "tag" }, it.section),
        h("span", null, it.tokens + " tokens")), it.text)))
      : h("p", { class: "muted" }, "Nothing from memory was relevant."),
    ctx.memory_block && h("details", null, h("summary", null, "The memory block as sent"),
      h("pre", null, ctx.memory_block)));
}

async function sendChat(e) {
  e.preventDefault();
  const input = $("chat-input");
  const text = input.value.trim();
  if (!text) return;
  input.value = "";
  const log = $("chat-log");
  log.append(h("li", { class: "user" }, text));
  const reply = h("li", { class: "assistant", "aria-busy": "true" });
  log.append(reply);
  $("chat-send").disabled = true;
  showError(null);
  try {
    const headers = { "Authorization": "Bearer " + store.getItem("mnemo.key"),
      "Content-Type": "application/json" };
    const actAs = store.getItem("mnemo.actAs");
    if (actAs) headers["X-Mnemo-User"] = actAs;
    const res = await fetch("/v1/chat", { method: "POST", headers,
      body: JSON.stringify({ message: text, session_id: S.chatSession || undefined }) });
    if (!res.ok) {
      const p = await res.json().catch(() => ({}));
      throw new Error(p.detail || "HTTP " + res.status);
    }
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl); buf = buf.slice(nl + 1);
        if (line.trim()) onChatLine(JSON.parse(line), reply);
      }
    }
  } catch (err) {
    reply.remove();
    log.append(h("li", { class: "error" }, "Not sent to the model: " + err.message));
    showError(err);
  } finally {
    reply.removeAttribute("aria-busy");
    $("chat-send").disabled = !S.me.model;
  }
}

function onChatLine(ev, reply) {
  if (ev.type === "context") {
    S.chatSession = ev.session_id;
    renderContext(ev.context);
    startLearning();
  } else if (ev.type === "token") {
    reply.textContent += ev.text;
  } else if (ev.type === "done") {
    say("Reply recorded; the pipeline is extracting memories from this exchange.");
  } else if (ev.type === "error") {
    reply.classList.add("error");
    reply.textContent = (reply.textContent ? reply.textContent + "\n\n" : "") + ev.message;
    showError(ev.message);
  }
}

function startLearning() {
  stopLearning();
  let rounds = 0;
  const poll = async () => {
    if (!S.chatSession || S.page !== "chat") return;
    const r = await api("GET", "/v1/memories" + query({ session_id: S.chatSession, limit: 100 })).catch(() => null);
    if (r) {
      const list = $("chat-learned");
      list.replaceChildren(...r.memories.map((m) => h("li", null, m.content, memTags(m))));
      if (!r.memories.length) list.append(h("li", { class: "muted" }, "Nothing learned yet."));
    }
    if (++rounds < 40) S.learnTimer = setTimeout(poll, 1500);
  };
  poll();
}
function stopLearning() { if (S.learnTimer) clearTimeout(S.learnTimer); S.learnTimer = null; }

// ---------------------------------------------------------------- pipeline
async function loadPipeline() {
  const res = await api("GET", "/v1/jobs" + query({ status: $("job-status").value, limit: 100 }));
  const c = res.counts;
  $("job-counts").textContent = "Waiting " + c.queued + " · running " + c.running +
    " · failed " + c.failed + " · done " + c.done;
  const body = $("jobs").tBodies[0];
  body.replaceChildren(...res.jobs.map((j) => h("tr", { "data-id": j.id, "data-status": j.status },
    h("td", { class: "mono" }, short(j.id)), h("td", null, j.kind),
    h("td", null, j.status), h("td", null, j.attempts + "/" + j.max_attempts),
    h("td", { class: "err" }, j.status === "failed" || j.status === "queued" ? (j.last_error || "") : ""),
    h("td", null, j.status === "failed" && h("button", { type: "button", class: "retry",
      "aria-label": "Retry job " + short(j.id), onclick: () => retry(j.id) }, "Retry")))));
  if (!res.jobs.length) body.append(h("tr", null, h("td", { colspan: "6", class: "muted" }, "No jobs.")));
  await loadUsage();
}

async function retry(id) {
  const j = await guard(() => api("POST", "/v1/jobs/" + encodeURIComponent(id) + "/retry"));
  if (!j) return;
  say("Job " + short(id) + " queued again");
  await guard(loadPipeline);
}

function day(d) { return d.toISOString().slice(0, 10); }

// USD of a usage row from [pricing] (by model name, or provider/model); null: no price.
function rowCost(r) {
  const pricing = (S.me && S.me.pricing) || {};
  const name = r.model.includes("/") ? r.model.slice(r.model.indexOf("/") + 1) : r.model;
  const p = pricing[name] || pricing[r.model];
  return p ? (r.input_tokens * p[0] + r.output_tokens * p[1]) / 1e6 : null;
}
function usd(x) { return x === null || x === undefined ? "–" : "$" + x.toFixed(4); }

async function loadUsage() {
  const days = Number($("usage-days").value);
  const start = new Date(); start.setUTCHours(0, 0, 0, 0);
  const since = [];
  for (let i = days - 1; i >= 0; i--) since.push(new Date(start.getTime() - i * 86400000));
  const index = new Map(since.map((d, i) => [day(d), i]));
  // One request: usage per UTC day and model.
  const perDay = await api("GET", "/v1/usage" + query({ since: day(since[0]), group: "day" }));
  const series = {}; // model -> per-day tokens
  const costs = {}; // model -> per-day USD (null: no price)
  for (const r of perDay.rows) {
    const i = index.get(r.key);
    if (i === undefined) continue;
    (series[r.model] ||= new Array(days).fill(0))[i] += r.input_tokens + r.output_tokens;
    const c = rowCost(r);
    const row = (costs[r.model] ||= new Array(days).fill(0));
    row[i] = row[i] === null || c === null ? null : row[i] + c;
  }
  drawChart(since.map(day), series, costs);
  const [byModel, byTask] = await Promise.all([api("GET", "/v1/usage?group=model"), api("GET", "/v1/usage?group=task")]);
  fillUsage($("usage-model"), byModel.rows, "Model");
  fillUsage($("usage-task"), byTask.rows, "Task");
}

function fillUsage(table, rows, label) {
  // Rows come per group and model; a group's cost is known when every model has a price.
  const groups = new Map();
  for (const r of rows) {
    const g = groups.get(r.key) || { key: r.key, calls: 0, input_tokens: 0, output_tokens: 0, cost: 0 };
    g.calls += r.calls; g.input_tokens += r.input_tokens; g.output_tokens += r.output_tokens;
    const c = rowCost(r);
    g.cost = g.cost === null || c === null ? null : g.cost + c;
    groups.set(r.key, g);
  }
  table.tBodies[0].replaceChildren(
    h("tr", null, h("th", { scope: "col" }, label), h("th", { scope: "col" }, "Calls"),
      h("th", { scope: "col" }, "Tokens in"), h("th", { scope: "col" }, "Tokens out"),
      h("th", { scope: "col" }, "Cost USD")),
    ...[...groups.values()].map((g) => h("tr", null, h("td", null, g.key), h("td", null, g.calls),
      h("td", null, g.input_tokens), h("td", null, g.output_tokens), h("td", null, usd(g.cost)))));
  if (!rows.length) table.tBodies[0].append(h("tr", null, h("td", { colspan: "5", class: "muted" }, "No model calls yet.")));
}

const SVGNS = "http://www.w3.org/2000/svg";
function svg(tag, attrs, ...kids) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  for (const kid of kids) el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  return el;
}

function drawChart(days, series, costs) {
  const fig = $("usage-chart");
  const models = Object.keys(series);
  const W = 640, H = 220, P = 34, bw = (W - P - 6) / days.length;
  const sums = days.map((_, i) => models.reduce((a, m) => a + series[m][i], 0));
  const dayCost = days.map((_, i) => models.reduce((a, m) => (a === null || costs[m][i] === null ? null : a + costs[m][i]), 0));
  const total = dayCost.reduce((a, c) => (a === null || c === null ? null : a + c), 0);
  const max = Math.max(1, ...sums);
  const colors = ["var(--bar1)", "var(--bar2)", "var(--bar3)", "var(--bar4)"];
  const chart = svg("svg", { viewBox: "0 0 " + W + " " + H, role: "img",
    "aria-label": "Tokens per day by model over the last " + days.length + " days; total " +
      sums.reduce((a, b) => a + b, 0) + " tokens" });
  chart.append(svg("line", { x1: P, y1: H - 20, x2: W, y2: H - 20, stroke: "currentColor", "stroke-opacity": ".3" }));
  chart.append(svg("text", { x: 2, y: 12 }, max + " tokens"));
  days.forEach((d, i) => {
    let y = H - 20;
    models.forEach((m, k) => {
      const v = series[m][i];
      if (!v) return;
      const hgt = (v / max) * (H - 40);
      y -= hgt;
      chart.append(svg("rect", { x: P + i * bw + 2, y, width: Math.max(1, bw - 4), height: hgt,
        fill: colors[k % colors.length] },
        svg("title", null, d + " · " + m + ": " + v + " tokens, " + usd(costs[m][i]))));
    });
    if (i % Math.ceil(days.length / 7) === 0) chart.append(svg("text", { x: P + i * bw, y: H - 5 }, d.slice(5)));
  });
  const legend = h("figcaption", { class: "legend" },
    models.length ? models.map((m, k) => h("span", null,
      h("span", { class: "swatch", "data-color": k }), m))
      : h("span", { class: "muted" }, "No tokens used in this period."),
    models.length ? h("span", null, "Cost: " + (total === null ? "– (a model has no price in [pricing])" : usd(total))) : null);
  // Swatch colours come from CSS variables (no inline styles under the page's CSP).
  legend.querySelectorAll(".swatch").forEach((s) => s.classList.add("c" + s.dataset.color));
  fig.replaceChildren(chart, legend);
}

// ---------------------------------------------------------------- keys
async function loadKeys() {
  if (!S.me.admin) { showError("Only an admin key manages keys."); return; }
  const res = await api("GET", "/v1/keys");
  $("keys").tBodies[0].replaceChildren(...res.keys.map((k) => h("tr", { "data-id": k.id },
    h("td", { class: "mono" }, k.id), h("td", null, k.user_id), h("td", null, k.agent_id || ""),
    h("td", null, k.admin ? "yes" : "no"), h("td", null, k.name || ""), h("td", null, when(k.created_at)),
    h("td", null, when(k.last_used_at)), h("td", null, k.revoked_at ? "revoked " + when(k.revoked_at) : "active"),
    h("td", null, !k.revoked_at && h("button", { type: "button", class: "danger",
      "aria-label": "Revoke key " + k.id, onclick: () => revokeKey(k.id) }, "Revoke")))));
}

async function createKey(e) {
  e.preventDefault();
  const out = await guard(() => api("POST", "/v1/keys", { user: $("key-user").value.trim(),
    agent: $("key-agent").value.trim() || undefined, name: $("key-name").value.trim() || undefined,
    admin: $("key-admin").checked }));
  if (!out) return;
  const box = $("key-new");
  box.hidden = false;
  box.replaceChildren(h("p", null, "New key for " + out.info.user_id + ". Copy it now: it is not shown again."),
    h("code", { id: "key-new-text" }, out.key));
  await guard(loadKeys);
}

async function revokeKey(id) {
  if (!(await guard(() => api("DELETE", "/v1/keys/" + encodeURIComponent(id))))) return;
  say("Key " + id + " revoked");
  await guard(loadKeys);
}

// ---------------------------------------------------------------- wiring
function debounce(fn, ms) {
  let t = null;
  return () => { clearTimeout(t); t = setTimeout(fn, ms); };
}

document.addEventListener("DOMContentLoaded", async () => {
  $("signin-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    if (await signIn($("signin-key").value)) {
      $("signin-key").value = "";
      if (!location.hash || location.hash === "#signin") location.hash = "#memories";
      else await route();
    }
  });
  $("sign-out").addEventListener("click", () => { signOut(); location.hash = ""; });
  $("act-as").addEventListener("submit", async (e) => {
    e.preventDefault();
    const u = $("act-as-user").value.trim();
    if (u) store.setItem("mnemo.actAs", u); else store.removeItem("mnemo.actAs");
    await signIn(store.getItem("mnemo.key"));
    S.chatSession = null;
    await route();
  });
  const reload = debounce(() => guard(() => loadMemories()), 200);
  $("mem-q").addEventListener("input", reload);
  for (const id of ["mem-kind", "mem-view", "mem-asof"]) $(id).addEventListener("change", reload);
  for (const id of ["mem-topic", "mem-key", "mem-session"]) $(id).addEventListener("input", reload);
  $("mem-view").addEventListener("change", () => { $("mem-asof-field").hidden = $("mem-view").value !== "as_of"; });
  $("mem-filters").addEventListener("submit", (e) => { e.preventDefault(); reload(); });
  $("mem-add-form").addEventListener("submit", addMemory);
  $("mem-more").addEventListener("click", () => guard(() => loadMemories(true)));
  $("turn-search").addEventListener("submit", searchTurns);
  $("chat-form").addEventListener("submit", sendChat);
  $("chat-input").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("chat-form").requestSubmit(); }
  });
  $("chat-new").addEventListener("click", () => {
    S.chatSession = null; stopLearning();
    $("chat-log").replaceChildren(); $("chat-learned").replaceChildren();
    $("chat-context").replaceChildren(h("p", { class: "muted" }, "Send a message to see what is injected."));
  });
  $("job-status").addEventListener("change", () => guard(loadPipeline));
  $("job-refresh").addEventListener("click", () => guard(loadPipeline));
  $("usage-days").addEventListener("change", () => guard(loadUsage));
  $("key-form").addEventListener("submit", createKey);
  window.addEventListener("hashchange", route);
  if (store.getItem("mnemo.key")) await signIn(store.getItem("mnemo.key"));
  await route();
});
