// The read API: one authenticated JSON view of the running control plane (DESIGN.md) for the web
// console and the CLI, and the console's page itself, from one HTTP handler.
//
//   GET  /api/v1/session      who the caller is, the CSRF token, the server's data and config dirs
//   GET  /api/v1/view         everything below but analysis in one answer (what the console polls);
//                             ?meshGeneration=N leaves the mesh out while N is still the one served
//   GET  /api/v1/mesh         services, workloads (identity, mTLS, authorization), who may call whom
//   GET  /api/v1/identities   identities with their last certificate's expiry; the CA's roots
//   GET  /api/v1/proxies      connected proxies and their sync state per xDS type
//   GET  /api/v1/quarantines  active enforcements with their chain latency
//   GET  /api/v1/risk         per-workload risk scores
//   GET  /api/v1/events       the audit timeline (?pod ?namespace ?detection ?signal ?sinceMs ?untilMs ?limit)
//   GET  /api/v1/analysis     `meshward analyze` findings for the config being served
//   POST /api/v1/quarantines/release   {"target": "<id | pod uid | ip | ns/pod | pod>", "by"?: name}: ends them
import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import { readFileSync } from "node:fs";
import { readBoundedBody } from "../mesh/http-body.js";
import { fileURLToPath } from "node:url";
import { analyzeSnapshot } from "../analysis/analyzers.js";
import { findingToJson, sortFindings } from "../analysis/findings.js";
import { quarantineFindingsOf } from "../analysis/quarantines.js";
import type { CertificateAuthority } from "../ca/authority.js";
import type { MeshSnapshot } from "../model/snapshot.js";
import type { Proxy } from "../model/proxy.js";
import type { EventFilter } from "../risk/audit-query.js";
import type { RiskService } from "../risk/risk-service.js";
import type { Log } from "../telemetry/log.js";
import type { ProxyStatus } from "../xds/events.js";
import { ConsoleAccess, ConsoleAccessError, type ConsoleCaller } from "./access.js";
import { identitiesView, type IssuedCertificates } from "./identity-view.js";
import { meshView } from "./mesh-view.js";
import { enforcementsView, proxiesView } from "./risk-view.js";

/** The console's page: plain files next to the sources (dist/src/console -> src/console/web). */
export const CONSOLE_WEB_DIR = fileURLToPath(new URL("../../../src/console/web/", import.meta.url));
const STATIC: Readonly<Record<string, { file: string; type: string }>> = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/console.js": { file: "console.js", type: "text/javascript; charset=utf-8" },
  "/console.css": { file: "console.css", type: "text/css; charset=utf-8" },
};

/** A release body is one target name: anything larger is refused unread. */
export const MAX_REQUEST_BODY_BYTES = 4096;
/** Timeline rows per answer at most (the audit trail can be large). */
export const MAX_TIMELINE_ROWS = 1000;
const DEFAULT_TIMELINE_ROWS = 200;

export interface ReadApiSources {
  /** The snapshot being served (enforcement overlay included). */
  snapshot(): MeshSnapshot;
  /** The sources' config alone (no overlay), for analysis of what the user wrote. */
  configSnapshot(): MeshSnapshot;
  streams(): ReadonlyArray<{ readonly proxy: Proxy; readonly status: ProxyStatus }>;
  readonly ca: CertificateAuthority;
  readonly issued: IssuedCertificates;
  /** Throws before the first configuration is loaded. */
  risk(): RiskService;
  readonly dataDir: string;
  readonly configDir: string;
  readonly log: Log;
  readonly now?: () => number;
}

class BadRequest extends Error {}

function numberParam(url: URL, name: string): number | undefined {
  const v = url.searchParams.get(name);
  if (v === null) return undefined;
  if (!/^\d+$/.test(v)) throw new BadRequest(`query parameter ${name}: "${v}" is not a non-negative integer`);
  return Number(v);
}

function eventFilter(url: URL): EventFilter {
  const str = (k: string): Record<string, string> => {
    const v = url.searchParams.get(k);
    return v !== null && v !== "" ? { [k]: v } : {};
  };
  const sinceMs = numberParam(url, "sinceMs");
  const untilMs = numberParam(url, "untilMs");
  const limit = Math.min(numberParam(url, "limit") ?? DEFAULT_TIMELINE_ROWS, MAX_TIMELINE_ROWS);
  return {
    ...str("pod"), ...str("namespace"), ...str("detection"), ...str("signal"),
    ...(sinceMs !== undefined ? { sinceMs } : {}),
    ...(untilMs !== undefined ? { untilMs } : {}),
    limit: Math.max(limit, 1),
  };
}

/** Every read view by name (what /api/v1/<name> answers, and /api/v1/view gathers). */
function views(s: ReadApiSources, url: URL): Record<string, () => unknown> {
  const now = s.now ?? Date.now;
  return {
    mesh: () => meshView(s.snapshot()),
    identities: () => identitiesView(s.snapshot(), s.ca, s.issued, s.risk().enforcement.active(), now()),
    proxies: () => proxiesView(s.streams(), s.snapshot().mesh.trustDomain),
    quarantines: () => enforcementsView(s.risk().enforcement.active(), s.risk().audit.query),
    risk: () => s.risk().engine.risks(),
    events: () => s.risk().audit.query.timeline(eventFilter(url)),
    analysis: () =>
      sortFindings([...analyzeSnapshot(s.configSnapshot()), ...quarantineFindingsOf(s.risk().enforcement.active(), "control plane", now())]).map(findingToJson),
  };
}

const SECURITY_HEADERS = {
  "content-security-policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

export function readApiHandler(s: ReadApiSources, access: ConsoleAccess): RequestListener {
  const send = (res: ServerResponse, code: number, type: string, body: string | Buffer): void => {
    // An error may leave a request body unread: the connection is not reused after it.
    res.writeHead(code, { "content-type": type, ...SECURITY_HEADERS, ...(code >= 400 ? { connection: "close" } : {}) });
    res.end(body);
  };
  const json = (res: ServerResponse, code: number, body: unknown): void => send(res, code, "application/json", JSON.stringify(body) + "\n");

  const release = async (req: IncomingMessage, caller: ConsoleCaller): Promise<unknown> => {
    access.checkStateChange(req);
    if (!/^application\/json\b/.test(req.headers["content-type"] ?? "")) throw new BadRequest("a release is a JSON body (content-type application/json)");
    let body: unknown;
    try {
      body = JSON.parse(await readBoundedBody(req, MAX_REQUEST_BODY_BYTES));
    } catch (e) {
      throw new BadRequest(`release body: ${(e as Error).message}`);
    }
    const target = typeof body === "object" && body !== null ? (body as Record<string, unknown>)["target"] : undefined;
    if (typeof target !== "string" || target === "") throw new BadRequest(`release body: field "target" must be a non-empty string (an enforcement id, pod UID, pod IP, namespace/pod or pod)`);
    // Who asked is the authenticated caller; a name it gives is kept beside it, never instead.
    const said = (body as Record<string, unknown>)["by"];
    const by = `console:${caller.who}${typeof said === "string" && said !== "" ? ` (${said.slice(0, 64)})` : ""}`;
    const risk = s.risk();
    let released;
    try {
      released = risk.release(target, by);
    } catch (e) {
      throw new BadRequest((e as Error).message);
    }
    for (const e of released) s.log(`meshward console: ${by} released ${e.id} (${e.action} ${e.pod.namespace}/${e.pod.name})`, { stage: "console", enforcement: e.id });
    return { released: enforcementsView(released, risk.audit.query) };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://console");
    const path = url.pathname === "/index.html" ? "/" : url.pathname;
    const page = STATIC[path];
    if (page !== undefined && req.method === "GET") {
      // The page holds no data (the API does); a caller from elsewhere enters its token in it.
      return send(res, 200, page.type, readFileSync(`${CONSOLE_WEB_DIR}${page.file}`));
    }
    if (!path.startsWith("/api/v1/")) return json(res, 404, { error: `no such page ${path}` });
    const caller = await access.authenticate(req);
    const name = path.slice("/api/v1/".length);
    if (req.method === "POST" && name === "quarantines/release") return json(res, 200, await release(req, caller));
    if (req.method !== "GET") return json(res, 405, { error: `${req.method} ${path}: only GET (and POST /api/v1/quarantines/release)` });
    if (name === "session") {
      return json(res, 200, { who: caller.who, csrfToken: access.csrfToken, dataDir: s.dataDir, configDir: s.configDir, generation: s.snapshot().generation });
    }
    const all = views(s, url);
    if (name === "view") {
      // The mesh view is the large part and changes only with the config: a poller that has this
      // generation's already gets the rest.
      const generation = s.snapshot().generation;
      const skipMesh = url.searchParams.get("meshGeneration") === String(generation);
      const parts = Object.entries(all).filter(([k]) => k !== "analysis" && !(skipMesh && k === "mesh"));
      return json(res, 200, { generation, ...Object.fromEntries(parts.map(([k, f]) => [k, f()])) });
    }
    const view = all[name];
    if (view === undefined) return json(res, 404, { error: `no such view ${path} (see /api/v1/session)` });
    return json(res, 200, view());
  };

  return (req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (res.headersSent) return void res.destroy();
      if (e instanceof ConsoleAccessError) return json(res, e.status, { error: e.message });
      if (e instanceof BadRequest) return json(res, 400, { error: e.message });
      s.log(`meshward console: ${req.method} ${req.url ?? ""}: ${(e as Error).message}`, { level: "error", stage: "console" });
      return json(res, 500, { error: (e as Error).message });
    });
  };
}
