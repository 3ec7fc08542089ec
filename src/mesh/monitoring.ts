// The monitoring HTTP endpoint (Istio's 15014): health, readiness, Prometheus metrics, and debug
// views of the configuration and of what a given proxy would receive. Loopback by default: the
// debug views show the whole mesh configuration.
import type { IncomingMessage, RequestListener, Server as HttpServer, ServerResponse } from "node:http";
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { formatConfigError } from "../model/config.js";
import { parseProxyNode } from "../model/proxy.js";
import type { Metrics } from "../telemetry/metrics.js";
import { dumpResources } from "../translate/dump.js";
import type { XdsStreams } from "../xds/server.js";
import type { MeshResourceProvider } from "./provider.js";

export interface MonitoringSources {
  readonly provider: MeshResourceProvider;
  readonly xds: XdsStreams;
  readonly metrics: Metrics;
  readonly configDir: string;
}

function safeJson(text: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    return text;
  }
}

export function monitoringHandler({ provider, xds, metrics, configDir }: MonitoringSources): RequestListener {
  return (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://monitoring");
    const path = url.pathname;
    const send = (code: number, type: string, body: string): void => {
      res.writeHead(code, { "content-type": type });
      res.end(body);
    };
    switch (path) {
      case "/healthz":
        return send(200, "text/plain", "ok\n");
      case "/readyz":
        return provider.snapshot.generation > 0 ? send(200, "text/plain", "ready\n") : send(503, "text/plain", "no configuration loaded yet\n");
      case "/metrics":
        return void metrics.render().then(
          (text) => send(200, metrics.contentType, text),
          (e: unknown) => send(500, "text/plain", `metrics: ${(e as Error).message}\n`),
        );
      case "/debug/config": {
        const s = provider.snapshot;
        const body = {
          configDir,
          generation: s.generation,
          errors: s.errors.map(formatConfigError),
          services: s.services.map((x) => ({ host: x.hostname, namespace: x.namespace, ports: x.ports.map((p) => `${p.number}/${p.protocol}`), endpoints: x.endpoints.length })),
          destinationRules: s.destinationRules.map((d) => d.ref),
          others: Object.fromEntries([...s.others].map(([k, v]) => [k, v.length])),
          proxies: xds.status().length,
          cache: provider.stats(),
        };
        return send(200, "application/json", JSON.stringify(body, null, 2) + "\n");
      }
      case "/debug/resources": {
        // What a proxy would receive: ?id=<node id>, other parameters become node metadata
        // (NAMESPACE, SERVICE_ACCOUNT, GENERATOR=grpc, LABELS as JSON).
        const metadata: JsonObject = {};
        for (const [k, v] of url.searchParams) if (k !== "id") metadata[k] = k === "LABELS" ? safeJson(v) : v;
        try {
          const proxy = parseProxyNode({ id: url.searchParams.get("id") ?? "", metadata });
          return send(200, "application/json", JSON.stringify(dumpResources(provider.snapshot, proxy), null, 2) + "\n");
        } catch (e) {
          return send(400, "text/plain", `${(e as Error).message}\n`);
        }
      }
      default:
        return send(404, "text/plain", "not found\n");
    }
  };
}

/** `host:port` or `[v6]:port`. */
export function splitHostPort(address: string): { host: string; port: number } {
  const m = /^\[?([^\]]*)\]?:(\d+)$/.exec(address);
  if (m === null) throw new Error(`"${address}" is not host:port`);
  return { host: m[1]!, port: Number(m[2]) };
}

export function listenHttp(server: HttpServer, address: string): Promise<string> {
  const { host, port } = splitHostPort(address);
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      const a = server.address();
      resolve(typeof a === "object" && a !== null ? `${host}:${a.port}` : address);
    });
  });
}

