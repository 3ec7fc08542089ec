// meshward console: polls the read API's /api/v1/view every second and renders it; releases a
// quarantine with POST /api/v1/quarantines/release (CSRF token from /api/v1/session). Everything is
// put on the page with textContent: names from config and signals are never parsed as HTML.
"use strict";

const POLL_MS = 1000;
const TOKEN_KEY = "meshward-console-token";
let csrfToken = "";
/** The config generation whose mesh view is on the page: the poll leaves the mesh out until it changes. */
let meshGeneration = -1;

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

async function api(path, init = {}) {
  const headers = { ...(init.headers || {}) };
  const t = token();
  if (t) headers.authorization = `Bearer ${t}`;
  const res = await fetch(path, { ...init, headers, credentials: "omit", cache: "no-store" });
  const body = await res.json().catch(() => ({ error: `${res.status} ${res.statusText}` }));
  if (!res.ok) {
    const e = new Error(body.error || `${res.status}`);
    e.status = res.status;
    throw e;
  }
  return body;
}

/** An element with text and attributes; children appended. */
function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null) continue;
    if (k === "text") e.textContent = String(v);
    else if (k === "class") e.className = v;
    else e.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== undefined && c !== null) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function fill(selector, rows) {
  const body = document.querySelector(`${selector} tbody`);
  body.replaceChildren(...rows);
}

function time(ms) {
  return new Date(ms).toISOString().replace("T", " ").replace("Z", "");
}

function ago(ms) {
  const s = Math.round((Date.now() - ms) / 1000);
  return s < 60 ? `${s}s ago` : s < 3600 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`;
}

function inFuture(ms) {
  const s = Math.round((ms - Date.now()) / 1000);
  if (s <= 0) return "due";
  return s < 120 ? `in ${s}s` : s < 7200 ? `in ${Math.round(s / 60)}m` : s < 172800 ? `in ${Math.round(s / 3600)}h` : `in ${Math.round(s / 86400)}d`;
}

/** The chain's stages, milliseconds after the syscall. */
function stages(c) {
  const at = (us) => (us === undefined ? "–" : `${((us - c.eventUs) / 1000).toFixed(1)} ms`);
  return `agent ${at(c.agentSentUs)} · received ${at(c.receivedUs)} · verdict ${at(c.verdictUs)} · translated ${at(c.translatedUs)} · first push ${at(c.firstPushUs)} · last ACK ${at(c.lastAckUs)}`;
}

function chainSummary(c) {
  if (c === undefined) return "–";
  const total = c.latencyUs === undefined ? "incomplete" : `${(c.latencyUs / 1000).toFixed(1)} ms`;
  return `${total} over ${c.proxies ?? 0} proxies (${c.acked ?? 0} ACK, ${c.nacked ?? 0} NACK)`;
}

async function release(id, button) {
  button.disabled = true;
  const error = document.getElementById("release-error");
  error.textContent = "";
  try {
    const r = await api("/api/v1/quarantines/release", {
      method: "POST",
      headers: { "content-type": "application/json", "x-meshward-csrf": csrfToken },
      body: JSON.stringify({ target: id }),
    });
    if (r.released.length === 0) error.textContent = `nothing active matches ${id}`;
    await refresh();
  } catch (e) {
    error.textContent = `release ${id}: ${e.message}`;
    button.disabled = false;
  }
}

function renderQuarantines(qs) {
  document.getElementById("quarantine-count").textContent = `(${qs.length})`;
  document.getElementById("quarantines-empty").hidden = qs.length > 0;
  fill("[data-testid=quarantines]", qs.map((q) => {
    const button = el("button", { text: "Release", "data-release": q.id, type: "button" });
    button.addEventListener("click", () => release(q.id, button));
    return el("tr", { "data-enforcement": q.id },
      el("td", { class: "mono", text: q.id }), el("td", { text: q.action }), el("td", { text: q.scope }), el("td", { text: `${q.pod.namespace}/${q.pod.name}` }),
      el("td", { class: "mono", text: q.pod.ip }), el("td", { class: "mono", text: q.identityId }), el("td", { text: ago(q.createdAtMs), title: time(q.createdAtMs) }),
      el("td", { text: q.expiresAtMs === undefined ? "never" : inFuture(q.expiresAtMs) }),
      el("td", { "data-chain": q.signalId, title: q.chain ? stages(q.chain) : "" }, chainSummary(q.chain)),
      el("td", { text: q.reason }), el("td", {}, button));
  }));
}

function renderTimeline(events, risk) {
  const items = [];
  const podOf = new Map(events.signals.map((s) => [s.id, `${s.namespace}/${s.podName}`]));
  for (const s of events.signals) {
    items.push({ at: s.receivedMs, kind: "signal", text: `${s.severity} ${s.detection} (${s.technique}) in ${s.namespace}/${s.podName}: ${s.binary} ${s.args.join(" ")} on ${s.node}` });
  }
  for (const v of events.verdicts) {
    items.push({ at: v.decidedMs, kind: "verdict", text: `${v.action} ${v.scope} ${v.namespace}/${v.podName} by ${v.policy} ${v.rule} (risk ${Math.round(v.riskScore)})` });
  }
  for (const a of events.actions) {
    items.push({ at: a.atMs, kind: "action", text: `${a.event} ${a.action} ${a.enforcementId} ${a.namespace}/${a.podName} by ${a.by}` });
  }
  for (const c of events.chains) {
    if (c.translatedUs === undefined) continue;
    items.push({ at: (c.lastAckUs ?? c.translatedUs) / 1000, kind: "chain", signal: c.signalId, text: `chain ${podOf.get(c.signalId) ?? ""}: syscall → last ACK ${chainSummary(c)}`, stages: stages(c) });
  }
  items.sort((a, b) => b.at - a.at);
  document.getElementById("timeline-empty").hidden = items.length > 0;
  document.querySelector("[data-testid=timeline]").replaceChildren(...items.map((i) =>
    el("li", { class: i.kind, "data-kind": i.kind, "data-signal": i.signal }, el("time", { text: time(i.at) }), i.text, i.stages ? el("div", { class: "stages", text: i.stages }) : undefined)));
  fill("[data-testid=risk]", risk.map((r) => el("tr", {},
    el("td", { text: `${r.namespace}/${r.podName}` }), el("td", { text: r.serviceAccount }), el("td", { class: "num", text: r.score.toFixed(1) }),
    el("td", { class: "num", text: r.staticScore }), el("td", { class: "num", text: r.signals }), el("td", { text: r.lastDetection ?? "–" }))));
}

function policyList(a) {
  const parts = [];
  for (const kind of ["custom", "deny", "allow", "audit"]) if (a[kind].length > 0) parts.push(`${kind.toUpperCase()}: ${a[kind].join(", ")}`);
  return parts.length === 0 ? "no policy: allow all" : parts.join("; ");
}

function renderMesh(mesh) {
  fill("[data-testid=services]", mesh.services.map((s) => el("tr", {},
    el("td", { class: "mono", text: s.host }), el("td", { text: s.ports.join(", ") }), el("td", { text: s.workloads.join(", ") }), el("td", { text: s.source, title: s.origin }))));
  fill("[data-testid=workloads]", mesh.workloads.map((w) => el("tr", { "data-workload": w.ref },
    el("td", { text: w.ref }), el("td", { class: "mono", text: w.address }), el("td", { class: "mono", text: w.identity }),
    el("td", { class: w.mtls, text: w.mtls + Object.entries(w.portMtls).map(([p, m]) => ` (${p}: ${m})`).join("") }),
    el("td", { text: policyList(w.authorization) }))));
  document.getElementById("problems").replaceChildren(...mesh.problems.map((p) => el("li", { class: "error", text: p })));
  // Rows: every caller; columns: the workloads a call can be routed to (they serve a service).
  const callers = mesh.workloads.map((w) => w.ref).filter((r) => mesh.calls.some((c) => c.from === r));
  const callees = mesh.workloads.map((w) => w.ref).filter((r) => mesh.calls.some((c) => c.to === r));
  const table = document.querySelector("[data-testid=calls]");
  table.querySelector("thead").replaceChildren(el("tr", {}, el("th", { text: "from \\ to" }), ...callees.map((n) => el("th", { text: n }))));
  const byPair = new Map(mesh.calls.map((c) => [`${c.from}|${c.to}`, c]));
  table.querySelector("tbody").replaceChildren(...callers.map((from) => el("tr", {}, el("th", { text: from }), ...callees.map((to) => {
    const c = byPair.get(`${from}|${to}`);
    if (c === undefined) return el("td", { text: "·" });
    const title = `${c.fromIdentity} → ${c.via}: ${c.decision}${c.by.length ? ` by ${c.by.join(", ")}` : ""}; client: ${c.client}; server mTLS ${c.mtls}`;
    return el("td", { class: c.decision, "data-from": from, "data-to": to, title }, `${c.decision} · ${c.transport}`);
  }))));
}

function renderIdentities(ids) {
  const ca = ids.ca;
  document.getElementById("ca").textContent = `Trust domain ${ca.trustDomain}; CA ${ca.signer.subject.replace(/\n/g, ", ")} expires ${ca.signer.notAfter}; ${ca.roots.length} root(s).`;
  fill("[data-testid=identities]", ids.identities.map((i) => el("tr", {},
    el("td", { class: "mono", text: i.spiffeId }), el("td", { text: i.workloads.join(", ") || "–" }),
    el("td", { text: i.certificate ? `${i.certificate.notAfter} (${inFuture(Date.parse(i.certificate.notAfter))})` : "none issued" }),
    el("td", { class: "num", text: i.certificate ? i.certificate.issued : 0 }), el("td", { class: "mono", text: i.withheldBy.join(", ") || "–" }))));
}

function renderProxies(ps) {
  document.getElementById("proxies-empty").hidden = ps.length > 0;
  fill("[data-testid=proxies]", ps.map((p) => el("tr", { "data-proxy": p.id, title: p.nacks.join("\n") },
    el("td", { class: "mono", text: p.id }), el("td", { class: "mono", text: p.identity }),
    ...["CDS", "EDS", "LDS", "RDS", "SDS"].map((t) => el("td", { class: p.sync[t].replace(" ", "-"), text: p.sync[t] })))));
}

function renderAnalysis(findings) {
  document.getElementById("analysis-empty").hidden = findings.length > 0;
  fill("[data-testid=analysis]", findings.map((f) => el("tr", { "data-code": f.code },
    el("td", { class: f.level === "Error" ? "denied" : f.level === "Warning" ? "conditional" : "", text: f.level }), el("td", { class: "mono", text: f.code }),
    el("td", { text: f.object }), el("td", { class: "mono", text: f.origin }), el("td", { text: f.message }))));
}

function showLogin(message) {
  document.getElementById("login").hidden = false;
  document.getElementById("login-error").textContent = message;
}

async function refresh() {
  const status = document.getElementById("status");
  try {
    if (csrfToken === "") {
      const session = await api("/api/v1/session");
      csrfToken = session.csrfToken;
      document.getElementById("login").hidden = true;
    }
    const v = await api(`/api/v1/view?meshGeneration=${meshGeneration}`);
    renderQuarantines(v.quarantines);
    renderTimeline(v.events, v.risk);
    if (v.mesh !== undefined) {
      renderMesh(v.mesh);
      meshGeneration = v.mesh.generation;
      // Findings change with the config and the quarantines, which both bump the generation.
      renderAnalysis(await api("/api/v1/analysis"));
    }
    renderIdentities(v.identities);
    renderProxies(v.proxies);
    status.className = "";
    status.textContent = `config generation ${v.generation} · ${v.proxies.length} proxies · updated ${new Date().toLocaleTimeString()}`;
  } catch (e) {
    status.className = "down";
    status.textContent = `read API: ${e.message}`;
    if (e.status === 401) {
      csrfToken = "";
      showLogin(token() ? e.message : "");
    }
  }
}

document.getElementById("login").addEventListener("submit", (ev) => {
  ev.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, document.getElementById("token").value.trim());
  csrfToken = "";
  void refresh();
});

let polling = false;
async function poll() {
  if (!polling) {
    polling = true;
    await refresh();
    polling = false;
  }
  setTimeout(poll, POLL_MS);
}
void poll();
