// mcptk console: plain script, no dependencies. Data comes from /ui/api/...; the bearer token
// (when the gateway asks for one) lives in this tab's sessionStorage and goes only in the
// Authorization header.
"use strict";

const TOKEN_KEY = "mcptk-console-token";
const THEME_KEY = "mcptk-console-theme";
const MAX_ROWS = 500;

const $ = (selector, root = document) => root.querySelector(selector);

/** An element with attributes and children; text children are set as text, never as HTML. */
function h(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const state = {
  overview: null,
  tools: [],
  selected: null,
  records: [],
  lastSeq: 0,
  stats: null,
  unseenDenials: 0,
};

// ---------------------------------------------------------------- the API

class Unauthorized extends Error {}

function authHeaders(extra = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { ...extra, Authorization: `Bearer ${token}` } : extra;
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: authHeaders(options.headers || {}), cache: "no-store" });
  if (response.status === 401) {
    showLogin(sessionStorage.getItem(TOKEN_KEY) ? "That token was not accepted." : "");
    throw new Unauthorized("a bearer token is needed");
  }
  return response;
}

/** The message of an error answer: the console's own (`{"error": "..."}`) or a JSON-RPC one. */
function errorText(body, response) {
  if (typeof body.error === "string") return body.error;
  return body.error?.message || `${response.status} ${response.statusText}`;
}

async function apiJson(path, options) {
  const response = await api(path, options);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(errorText(body, response));
  return body;
}

/** Reads a text/event-stream answer, calling `onEvent(name, data)` for each event. */
async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
      }
      if (data.length) {
        let parsed;
        try { parsed = JSON.parse(data.join("\n")); } catch { continue; }
        onEvent(name, parsed);
      }
    }
  }
}

// ---------------------------------------------------------------- sign-in and theme

function showLogin(message) {
  $("#login").hidden = false;
  $("#login-error").textContent = message || "";
  $("#token").focus();
}

function setupLogin() {
  $("#login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("#token").value.trim();
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    $("#token").value = "";
    $("#login").hidden = true;
    start();
  });
  $("#signout").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    location.reload();
  });
}

function applyTheme(theme) {
  if (theme === "auto") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
  const button = $("#theme");
  button.textContent = `Theme: ${theme}`;
  const words = { auto: "follows the system", dark: "dark", light: "light" };
  button.setAttribute("aria-label", `Colour theme: ${words[theme]}; press to change`);
}

function setupTheme() {
  const order = ["auto", "dark", "light"];
  let theme = localStorage.getItem(THEME_KEY) || "auto";
  if (!order.includes(theme)) theme = "auto";
  applyTheme(theme);
  $("#theme").addEventListener("click", () => {
    theme = order[(order.indexOf(theme) + 1) % order.length];
    localStorage.setItem(THEME_KEY, theme);
    applyTheme(theme);
  });
}

// ---------------------------------------------------------------- tabs

function setupTabs() {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  const select = (tab, focus) => {
    for (const other of tabs) {
      const selected = other === tab;
      other.setAttribute("aria-selected", String(selected));
      other.tabIndex = selected ? 0 : -1;
      $(`#${other.getAttribute("aria-controls")}`).hidden = !selected;
    }
    if (focus) tab.focus();
    if (tab.id === "tab-activity") {
      state.unseenDenials = 0;
      updateBadge();
    }
    if (tab.id === "tab-charts") refreshStats();
    history.replaceState(null, "", `#${tab.id.slice(4)}`);
  };
  tabs.forEach((tab, i) => {
    tab.addEventListener("click", () => select(tab, false));
    tab.addEventListener("keydown", (event) => {
      const moves = { ArrowRight: 1, ArrowLeft: -1, Home: -i, End: tabs.length - 1 - i };
      if (!(event.key in moves)) return;
      event.preventDefault();
      select(tabs[(i + moves[event.key] + tabs.length) % tabs.length], true);
    });
  });
  const wanted = tabs.find((t) => `#${t.id.slice(4)}` === location.hash);
  if (wanted) select(wanted, false);
}

function activityShown() {
  return !$("#panel-activity").hidden;
}

function updateBadge() {
  const badge = $("#activity-badge");
  badge.hidden = state.unseenDenials === 0;
  badge.textContent = String(state.unseenDenials);
  badge.setAttribute("aria-label", `${state.unseenDenials} new denials`);
}

// ---------------------------------------------------------------- servers

async function refreshOverview() {
  const overview = await apiJson("/ui/api/overview");
  state.overview = overview;
  $("#signout").hidden = !sessionStorage.getItem(TOKEN_KEY);
  $("#who").textContent = `Signed in as ${overview.principal} · mcptk ${overview.version} · ` +
    (overview.calls ? "calls enabled" : "read-only");
  const health = $("#health");
  health.textContent = overview.health.ok ? "Healthy" : overview.health.reason;
  health.className = `health pill ${overview.health.ok ? "ok" : "bad"}`;
  const body = $("#servers tbody");
  body.replaceChildren(...overview.servers.map((server) => h("tr", { "data-server": server.name },
    h("th", { scope: "row" }, server.name),
    h("td", {}, server.kind),
    h("td", {}, h("span", { class: `pill state-${server.state}` }, server.state)),
    h("td", {}, String(server.restarts)),
    h("td", {}, server.era ? `${server.era}${server.protocol_version ? ` (${server.protocol_version})` : ""}` : "—"),
    h("td", {}, String(server.tools)),
    h("td", { class: "mono" }, server.last_error || "—"),
  )));
}

// ---------------------------------------------------------------- tools

function hints(tool) {
  const a = tool.annotations || {};
  const out = [];
  if (a.readOnlyHint === true) out.push(h("span", { class: "pill ok" }, "read-only"));
  if (a.destructiveHint === true || (a.readOnlyHint !== true && a.destructiveHint !== false)) {
    out.push(h("span", { class: "pill warn" }, "destructive"));
  }
  if (a.idempotentHint === true) out.push(h("span", { class: "pill" }, "idempotent"));
  if (a.openWorldHint === false) out.push(h("span", { class: "pill" }, "closed world"));
  return out;
}

function mine(tool) {
  const principal = state.overview?.principal;
  return tool.access.find((a) => a.principal === principal);
}

async function refreshTools() {
  const listing = await apiJson("/ui/api/tools");
  state.tools = listing.tools;
  const servers = [...new Set(state.tools.map((t) => t.server))].sort();
  const pick = $("#tool-server");
  const chosen = pick.value;
  pick.replaceChildren(h("option", { value: "" }, "All servers"), ...servers.map((s) => h("option", { value: s }, s)));
  pick.value = servers.includes(chosen) ? chosen : "";
  const chart = $("#chart-tool");
  const charted = chart.value;
  chart.replaceChildren(h("option", { value: "*" }, "All tools"));
  for (const tool of state.tools) chart.append(h("option", { value: `${tool.server}__${tool.tool}` }, tool.name));
  chart.value = [...chart.options].some((o) => o.value === charted) ? charted : "*";
  renderTools();
}

function renderTools() {
  const words = $("#tool-search").value.trim().toLowerCase().split(/\s+/).filter(Boolean);
  const server = $("#tool-server").value;
  const access = $("#tool-access").value;
  const readOnly = $("#tool-readonly").checked;
  const shown = state.tools.filter((tool) => {
    if (server && tool.server !== server) return false;
    if (readOnly && tool.annotations?.readOnlyHint !== true) return false;
    const decision = mine(tool);
    if (access === "allowed" && !decision?.allowed) return false;
    if (access === "denied" && decision?.allowed) return false;
    const text = `${tool.name} ${tool.title || ""} ${tool.description || ""} ${tool.server}`.toLowerCase();
    return words.every((w) => text.includes(w));
  });
  $("#tool-count").textContent = `(${shown.length} of ${state.tools.length})`;
  $("#tools tbody").replaceChildren(...shown.map((tool) => {
    const decision = mine(tool);
    const firstLine = (tool.description || "").split("\n")[0];
    return h("tr", { "data-tool": tool.name, class: tool.name === state.selected ? "selected" : "" },
      h("td", {},
        h("button", { type: "button", class: "link", onclick: () => renderDetail(tool, true) }, tool.name),
        h("span", { class: "desc" }, firstLine)),
      h("td", {}, tool.server),
      h("td", {}, hints(tool)),
      h("td", {}, decision
        ? h("span", { class: `pill ${decision.allowed ? "ok" : "bad"}`, title: decision.reason },
          `${decision.allowed ? "allowed" : "denied"} · ${decision.rule}`)
        : "—"));
  }));
}

function setupToolFilters() {
  for (const id of ["#tool-search", "#tool-server", "#tool-access", "#tool-readonly"]) {
    $(id).addEventListener("input", renderTools);
  }
  $("#tool-filters").addEventListener("submit", (event) => event.preventDefault());
}

function renderDetail(tool, focus) {
  state.selected = tool.name;
  for (const row of document.querySelectorAll("#tools tbody tr")) {
    row.classList.toggle("selected", row.dataset.tool === tool.name);
  }
  const detail = $("#tool-detail");
  const title = h("h2", { tabindex: "-1", id: "detail-title" }, tool.name);
  const access = h("table", { class: "grid", id: "tool-access-table" },
    h("caption", {}, "Who may call it (the policy's decision for each known principal)"),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Principal"), h("th", { scope: "col" }, "Decision"),
      h("th", { scope: "col" }, "Rule"), h("th", { scope: "col" }, "Why"))),
    h("tbody", {}, tool.access.map((a) => h("tr", { class: a.allowed ? "" : "denied", "data-principal": a.principal },
      h("th", { scope: "row" }, a.principal),
      h("td", {}, h("span", { class: `pill ${a.allowed ? "ok" : "bad"}` }, a.allowed ? "allowed" : "denied")),
      h("td", { class: "mono" }, a.rule),
      h("td", {}, a.reason)))));
  detail.replaceChildren(
    title,
    h("p", { class: "muted" }, `${tool.server} · ${tool.tool}${tool.title ? ` · ${tool.title}` : ""}`),
    h("p", { class: "description" }, tool.description || "No description."),
    h("div", {}, hints(tool)),
    callSection(tool),
    h("h3", {}, "Access"), access,
    h("h3", {}, "Annotations"), h("pre", {}, JSON.stringify(tool.annotations || {}, null, 2)),
    h("h3", {}, "Input schema"), h("pre", { tabindex: "0" }, JSON.stringify(tool.inputSchema || {}, null, 2)),
    tool.outputSchema ? [h("h3", {}, "Output schema"), h("pre", { tabindex: "0" }, JSON.stringify(tool.outputSchema, null, 2))] : [],
  );
  if (focus) title.focus();
}

// ---------------------------------------------------------------- try a call

/** The type a schema names, with `["string", "null"]` read as `string`. */
function typeOf(schema) {
  const type = schema?.type;
  if (Array.isArray(type)) return type.find((t) => t !== "null") || "null";
  if (type) return type;
  if (schema?.enum) return "enum";
  return "json";
}

/** One input per argument, built from the input schema; JSON text for what has no simple form. */
function fieldFor(name, schema, required, index) {
  const id = `arg-${index}`;
  const helpId = `${id}-help`;
  const description = schema.description || "";
  const label = h("label", { for: id }, name, required ? h("span", { class: "req", "aria-hidden": "true" }, " *") : null,
    h("span", { class: "muted" }, ` ${Array.isArray(schema.type) ? schema.type.join(" | ") : schema.type || "JSON"}`));
  const help = description ? h("span", { class: "help", id: helpId }, description) : null;
  const common = { id, name, "aria-describedby": description ? helpId : null, required: required || null };
  const type = typeOf(schema);
  let input;
  let read;
  if (schema.enum) {
    input = h("select", common, required ? null : h("option", { value: "" }, "(not set)"),
      schema.enum.map((v, i) => h("option", { value: String(i) }, JSON.stringify(v))));
    if (schema.default !== undefined) {
      const at = schema.enum.findIndex((v) => JSON.stringify(v) === JSON.stringify(schema.default));
      if (at >= 0) input.value = String(at);
    }
    read = () => (input.value === "" ? undefined : schema.enum[Number(input.value)]);
  } else if (type === "boolean" && required) {
    input = h("input", { ...common, type: "checkbox", required: null, checked: schema.default === true });
    read = () => input.checked;
    return { node: h("div", { class: "field inline" }, input, label, help), read, name };
  } else if (type === "boolean") {
    input = h("select", common, h("option", { value: "" }, "(not set)"), h("option", { value: "true" }, "true"),
      h("option", { value: "false" }, "false"));
    if (typeof schema.default === "boolean") input.value = String(schema.default);
    read = () => (input.value === "" ? undefined : input.value === "true");
  } else if (type === "number" || type === "integer") {
    input = h("input", { ...common, type: "number", step: type === "integer" ? "1" : "any",
      min: schema.minimum, max: schema.maximum, value: schema.default });
    read = () => {
      if (input.value === "") return undefined;
      const value = Number(input.value);
      if (Number.isNaN(value)) throw new Error(`${name}: not a number`);
      return value;
    };
  } else if (type === "string") {
    const long = (schema.maxLength || 0) > 200 || /content|text|body|query|script|code/i.test(name);
    input = long
      ? h("textarea", { ...common, rows: 3 }, schema.default ?? "")
      : h("input", { ...common, type: "text", value: schema.default, maxlength: schema.maxLength });
    read = () => (input.value === "" && !required ? undefined : input.value);
  } else {
    const example = schema.default !== undefined ? JSON.stringify(schema.default, null, 2) : "";
    input = h("textarea", { ...common, rows: 3, spellcheck: "false", placeholder: type === "array" ? "[ ]" : "{ }" }, example);
    read = () => {
      if (input.value.trim() === "") return undefined;
      try { return JSON.parse(input.value); } catch (e) { throw new Error(`${name}: not valid JSON (${e.message})`); }
    };
  }
  return { node: h("div", { class: "field" }, label, help, input), read, name };
}

function callSection(tool) {
  const section = h("section", { class: "call", "aria-labelledby": "call-title" }, h("h3", { id: "call-title" }, "Try a call"));
  if (!state.overview?.calls) {
    section.append(h("p", { class: "muted", id: "calls-off" },
      "The console is read-only. The operator enables calls with ", h("code", {}, "mcptk serve --http ADDR --console-calls"), "."));
    return section;
  }
  const schema = tool.inputSchema || {};
  const required = new Set(schema.required || []);
  const fields = Object.entries(schema.properties || {}).map(([name, property], i) =>
    fieldFor(name, property || {}, required.has(name), i));
  const progress = h("progress", { max: "1", hidden: true, "aria-label": "Progress" });
  const progressText = h("span", { class: "muted", "aria-live": "polite" });
  const output = h("div", { class: "result", "aria-live": "polite", id: "call-result" });
  const submit = h("button", { type: "submit" }, "Call");
  const cancel = h("button", { type: "button", class: "quiet", hidden: true }, "Cancel");
  const form = h("form", { class: "call-form", id: "call-form", novalidate: true },
    fields.length ? fields.map((f) => f.node) : h("p", { class: "muted" }, "This tool takes no arguments."),
    h("p", { class: "muted" }, `Runs through the gateway's pipeline as ${state.overview.principal}: policy, limits and audit apply.`),
    h("div", { class: "actions" }, submit, cancel, progress, progressText),
    output);
  let controller = null;
  cancel.addEventListener("click", () => controller?.abort());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    output.replaceChildren();
    output.className = "result";
    const args = {};
    try {
      for (const field of fields) {
        const value = field.read();
        if (value !== undefined) args[field.name] = value;
        else if (required.has(field.name)) throw new Error(`${field.name} is required`);
      }
    } catch (e) {
      output.replaceChildren(h("p", { class: "error", role: "alert" }, e.message));
      return;
    }
    controller = new AbortController();
    submit.disabled = true;
    cancel.hidden = false;
    progress.hidden = false;
    progress.removeAttribute("value");
    progressText.textContent = "Running…";
    const started = performance.now();
    try {
      const response = await api("/ui/api/call", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ tool: tool.name, arguments: args }),
        signal: controller.signal,
      });
      if (!response.ok) {
        const body = await response.json().catch(() => ({}));
        throw new Error(errorText(body, response));
      }
      let result = null;
      await readEvents(response, (name, data) => {
        if (name === "progress") {
          if (data.total) { progress.max = data.total; progress.value = data.progress; } else progress.removeAttribute("value");
          progressText.textContent = `${data.progress}${data.total ? ` / ${data.total}` : ""}${data.message ? ` · ${data.message}` : ""}`;
        } else if (name === "result") {
          result = data;
        }
      });
      if (!result) throw new Error("the call ended without a result");
      progressText.textContent = `Done in ${Math.round(performance.now() - started)} ms`;
      renderResult(output, result);
    } catch (e) {
      if (!(e instanceof Unauthorized)) {
        const aborted = e.name === "AbortError";
        progressText.textContent = aborted ? "Cancelled" : "";
        output.replaceChildren(h("p", { class: "error", role: "alert" }, aborted ? "The call was cancelled." : e.message));
      }
    } finally {
      submit.disabled = false;
      cancel.hidden = true;
      progress.hidden = true;
      controller = null;
    }
  });
  section.append(form);
  return section;
}

function renderResult(output, result) {
  const parts = [];
  const failed = result.isError === true;
  output.className = `result${failed ? " is-error" : ""}`;
  parts.push(h("p", {}, h("span", { class: `pill ${failed ? "bad" : "ok"}`, id: "call-outcome" }, failed ? "tool error" : "ok")));
  for (const item of result.content || []) {
    if (item.type === "text") parts.push(h("pre", { class: "text" }, item.text));
    else if (item.type === "image" && /^image\/(png|jpeg|gif|webp)$/.test(item.mimeType || "")) {
      parts.push(h("img", { src: `data:${item.mimeType};base64,${item.data}`, alt: "Image returned by the tool" }));
    } else if (item.type === "audio" && /^audio\//.test(item.mimeType || "")) {
      parts.push(h("audio", { controls: true, src: `data:${item.mimeType};base64,${item.data}` }));
    } else if (item.type === "resource") {
      const r = item.resource || {};
      parts.push(h("p", { class: "muted" }, `Resource ${r.uri || ""}`), h("pre", {}, r.text ?? `(${r.mimeType || "binary"} data)`));
    } else if (item.type === "resource_link") {
      parts.push(h("p", {}, `Resource link: ${item.name || ""} `, h("code", {}, item.uri || "")));
    } else parts.push(h("pre", {}, JSON.stringify(item, null, 2)));
  }
  if (result.structuredContent !== undefined) {
    parts.push(h("h4", {}, "Structured content"), h("pre", { class: "structured" }, JSON.stringify(result.structuredContent, null, 2)));
  }
  output.replaceChildren(...parts);
}

// ---------------------------------------------------------------- activity

function durationText(ms) {
  if (ms === null || ms === undefined) return "—";
  return ms < 10 ? `${ms.toFixed(2)} ms` : ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

function activityRow(record, fresh) {
  const denied = record.decision === "deny";
  const failed = !denied && record.outcome !== "ok" && record.outcome !== "event";
  const classes = [denied ? "denied" : "", failed ? "failed" : "", fresh ? "fresh" : ""].filter(Boolean).join(" ");
  const time = (record.time || "").replace("T", " ").replace(/\.\d+Z$/, "Z");
  return h("tr", { "data-seq": record.seq, "data-decision": record.decision, "data-tool": record.tool, class: classes },
    h("td", {}, String(record.seq)),
    h("td", { class: "mono" }, time),
    h("td", {}, record.principal),
    h("td", {}, h("span", { class: "muted" }, `${record.server} · `), record.tool),
    h("td", {}, h("span", { class: `pill ${denied ? "bad" : "ok"}` }, record.decision),
      record.rule ? h("span", { class: "mono rule" }, ` ${record.rule}`) : null),
    h("td", {}, h("span", { class: `pill ${record.outcome === "ok" ? "ok" : denied ? "bad" : "warn"}` }, record.outcome),
      record.error ? h("span", { class: "desc muted" }, ` ${record.error}`) : null),
    h("td", {}, durationText(record.duration_ms)),
    h("td", {}, h("button", { type: "button", class: "quiet", onclick: (e) => openRecord(record.seq, e.currentTarget),
      "aria-label": `Open audit record ${record.seq}` }, "Open")));
}

function addRecords(records, fresh) {
  const body = $("#activity tbody");
  const onlyDenied = $("#only-denied").checked;
  for (const record of records) {
    if (record.seq <= state.lastSeq) continue;
    state.lastSeq = record.seq;
    state.records.push(record);
    if (fresh && record.decision === "deny" && !activityShown()) state.unseenDenials += 1;
    // Rows that arrive while the list is shown flash once; those that arrived meanwhile do not.
    const row = activityRow(record, fresh && activityShown());
    // Once: a hidden panel shown again would otherwise replay the animation.
    if (row.classList.contains("fresh")) setTimeout(() => row.classList.remove("fresh"), 1500);
    if (onlyDenied && record.decision !== "deny") row.hidden = true;
    body.prepend(row);
  }
  while (state.records.length > MAX_ROWS) {
    const gone = state.records.shift();
    body.querySelector(`tr[data-seq="${gone.seq}"]`)?.remove();
  }
  $("#activity-empty").hidden = state.records.length > 0;
  updateBadge();
}

async function catchUp() {
  const listing = await apiJson(`/ui/api/activity?since=${state.lastSeq}`);
  addRecords(listing.records, false);
}

async function watchActivity() {
  let delay = 1000;
  for (;;) {
    try {
      // Subscribed first, then caught up: a record that comes in between is in one or both,
      // and a record already shown (by its sequence number) is not added again.
      const response = await api("/ui/api/activity/stream");
      if (!response.ok) throw new Error(errorText(await response.json().catch(() => ({})), response));
      await catchUp();
      $("#stream-state").textContent = "Live";
      delay = 1000;
      await readEvents(response, (name, data) => {
        if (name === "record") addRecords([data], true);
        else if (name === "lagged") catchUp().catch(() => {});
      });
      $("#stream-state").textContent = "Reconnecting…";
    } catch (e) {
      if (e instanceof Unauthorized) return;
      $("#stream-state").textContent = `Disconnected (${e.message}); retrying…`;
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 10000);
  }
}

async function openRecord(seq, opener) {
  const dialog = $("#record-dialog");
  const pre = $("#record-json");
  $("#record-title").textContent = `Audit record ${seq}`;
  try {
    const record = await apiJson(`/ui/api/audit/${seq}`);
    pre.textContent = JSON.stringify(record, null, 2);
  } catch (e) {
    pre.textContent = e.message;
  }
  dialog.returnFocusTo = opener;
  dialog.showModal();
  $("#record-close").focus();
}

function setupActivity() {
  $("#only-denied").addEventListener("input", () => {
    const only = $("#only-denied").checked;
    for (const row of document.querySelectorAll("#activity tbody tr")) row.hidden = only && row.dataset.decision !== "deny";
  });
  const dialog = $("#record-dialog");
  $("#record-close").addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => dialog.returnFocusTo?.focus());
}

// ---------------------------------------------------------------- charts

function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (value <= step * power) return step * power;
  return 10 * power;
}

/** A line chart of `series` ([{points: [[t, v]], class}]) over [from, to], `width` pixels wide. */
function lineChart(series, from, to, unit, width) {
  const W = Math.max(360, Math.round(width || 720)), H = 190, left = 52, right = 12, top = 10, bottom = 24;
  const values = series.flatMap((s) => s.points.map((p) => p[1])).filter((v) => v !== null);
  const max = niceMax(Math.max(0, ...values));
  const x = (t) => left + ((t - from) / (to - from)) * (W - left - right);
  const y = (v) => top + (1 - v / max) * (H - top - bottom);
  const ns = "http://www.w3.org/2000/svg";
  const el = (tag, attributes) => {
    const node = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attributes)) node.setAttribute(k, String(v));
    return node;
  };
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img" });
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    svg.append(el("line", { x1: left, x2: W - right, y1: y(v), y2: y(v), class: i ? "gridline" : "axis" }));
    const label = el("text", { x: left - 6, y: y(v) + 4, "text-anchor": "end" });
    label.textContent = `${+v.toPrecision(3)}`;
    svg.append(label);
  }
  for (let minutes = 0; minutes <= Math.round((to - from) / 60); minutes++) {
    const t = to - minutes * 60;
    const label = el("text", { x: x(t), y: H - 6, "text-anchor": minutes === 0 ? "end" : "middle" });
    label.textContent = minutes === 0 ? "now" : `-${minutes}m`;
    svg.append(label);
  }
  for (const s of series) {
    const points = s.points.filter((p) => p[1] !== null);
    if (!points.length) continue;
    const path = points.map((p, i) => `${i ? "L" : "M"}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" ");
    if (s.area) {
      svg.append(el("path", { d: `${path} L${x(points.at(-1)[0]).toFixed(1)},${y(0)} L${x(points[0][0]).toFixed(1)},${y(0)} Z`, class: s.area }));
    }
    svg.append(el("path", { d: path, class: s.class }));
    if (points.length === 1) svg.append(el("circle", { cx: x(points[0][0]), cy: y(points[0][1]), r: 3, class: s.class }));
  }
  const desc = el("title", {});
  desc.textContent = series.map((s) => `${s.name}: ${values.length ? `up to ${+Math.max(...s.points.map((p) => p[1] ?? 0)).toPrecision(3)} ${unit}` : "no data"}`).join("; ");
  svg.prepend(desc);
  return svg;
}

/** Fills the gaps of a series with zero-call buckets, so a quiet minute shows as zero. */
function filled(points, from, to, step) {
  const at = new Map(points.map((p) => [p.t, p]));
  const out = [];
  for (let t = from - (from % step); t <= to; t += step) out.push(at.get(t) || { t, calls: 0, errors: 0, rate: 0, p50: null, p99: null });
  return out;
}

async function refreshStats() {
  if ($("#panel-charts").hidden) return;
  const stats = await apiJson("/ui/api/stats");
  state.stats = stats;
  drawCharts();
}

function drawCharts() {
  const stats = state.stats;
  if (!stats) return;
  const step = stats.bucket_secs;
  const to = stats.now;
  const from = to - stats.buckets * step;
  const wanted = $("#chart-tool").value || "*";
  const series = stats.tools.find((t) => t.tool === wanted) || { points: [] };
  const width = $("#chart-rate").clientWidth;
  const points = filled(series.points, from, to, step);
  $("#chart-window").textContent = `last ${Math.round((to - from) / 60)} minutes, ${step}-second buckets`;
  $("#chart-rate").replaceChildren(lineChart([
    { name: "calls/s", class: "rate", area: "rate-area", points: points.map((p) => [p.t + step / 2, p.rate]) },
  ], from, to, "calls/s", width));
  $("#chart-latency").replaceChildren(lineChart([
    { name: "p50", class: "p50", points: points.map((p) => [p.t + step / 2, p.p50]) },
    { name: "p99", class: "p99", points: points.map((p) => [p.t + step / 2, p.p99]) },
  ], from, to, "ms", width));
  const rows = stats.tools.filter((t) => t.tool !== "*").map((t) => {
    const calls = t.points.reduce((n, p) => n + p.calls, 0);
    const errors = t.points.reduce((n, p) => n + p.errors, 0);
    const last = t.points.at(-1);
    const p = (v) => (v === null || v === undefined ? "—" : v < 10 ? v.toFixed(2) : Math.round(v));
    return h("tr", { "data-chart-tool": t.tool },
      h("th", { scope: "row" }, t.tool), h("td", {}, String(calls)), h("td", {}, String(errors)),
      h("td", {}, last ? last.rate.toFixed(2) : "0"), h("td", {}, p(last?.p50)), h("td", {}, p(last?.p99)));
  });
  $("#chart-table tbody").replaceChildren(...rows);
}

// ---------------------------------------------------------------- start

let started = false;

async function start() {
  try {
    await refreshOverview();
    await refreshTools();
  } catch (e) {
    if (!(e instanceof Unauthorized)) $("#health").textContent = `Cannot reach the gateway: ${e.message}`;
    return;
  }
  if (started) return;
  started = true;
  watchActivity();
  setInterval(() => refreshOverview().catch(() => {}), 5000);
  setInterval(() => refreshStats().catch(() => {}), 5000);
}

document.addEventListener("DOMContentLoaded", () => {
  setupTheme();
  setupLogin();
  setupTabs();
  setupToolFilters();
  setupActivity();
  $("#refresh-servers").addEventListener("click", () => Promise.all([refreshOverview(), refreshTools()]).catch(() => {}));
  $("#chart-tool").addEventListener("input", drawCharts);
  window.addEventListener("resize", drawCharts);
  start();
});
