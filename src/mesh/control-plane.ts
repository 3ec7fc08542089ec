// The running control plane: file source -> model -> provider -> xDS server on gRPC, plus the
// monitoring HTTP endpoint. `meshward serve` is a thin flag parser over startControlPlane; tests
// start it on ephemeral ports. Later issues (CA, signal API) register on the same gRPC server.
import * as grpc from "@grpc/grpc-js";
import { createServer, type Server as HttpServer } from "node:http";
import { mkdirSync } from "node:fs";
import { FileSource } from "../sources/file.js";
import { buildSnapshot, type ConfigSet } from "../model/snapshot.js";
import { formatConfigError } from "../model/config.js";
import { Metrics } from "../telemetry/metrics.js";
import { XdsServer } from "../xds/server.js";
import { MeshResourceProvider } from "./provider.js";

export interface ControlPlaneOptions {
  readonly configDir: string;
  /** `host:port` for plaintext gRPC (xDS); port 0 picks a free one. */
  readonly xdsAddress: string;
  /** `host:port` for HTTP health, metrics and debug; port 0 picks a free one. */
  readonly monitoringAddress: string;
  readonly dataDir: string;
  readonly debounceMs?: number;
  readonly log?: (line: string) => void;
}

export interface ControlPlane {
  /** Bound addresses (with the real ports). */
  readonly xdsAddress: string;
  readonly monitoringAddress: string;
  readonly provider: MeshResourceProvider;
  readonly xds: XdsServer;
  readonly metrics: Metrics;
  readonly source: FileSource;
  readonly grpcServer: grpc.Server;
  stop(): Promise<void>;
}

function splitHostPort(address: string): { host: string; port: number } {
  const m = /^\[?([^\]]*)\]?:(\d+)$/.exec(address);
  if (m === null) throw new Error(`"${address}" is not host:port`);
  return { host: m[1]!, port: Number(m[2]) };
}

function listenHttp(server: HttpServer, address: string): Promise<string> {
  const { host, port } = splitHostPort(address);
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      const a = server.address();
      resolve(typeof a === "object" && a !== null ? `${host}:${a.port}` : address);
    });
  });
}

export async function startControlPlane(opts: ControlPlaneOptions): Promise<ControlPlane> {
  const log = opts.log ?? ((l: string) => console.error(l));
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const metrics = new Metrics();
  const configErrors = metrics.gauge("meshward_config_errors", "Problems in the current configuration, by severity.");
  const reloads = metrics.counter("meshward_config_reloads_total", "Configuration sets read from the source and turned into a snapshot.");
  const generation = metrics.gauge("meshward_config_generation", "Generation of the snapshot being served.");

  const provider = new MeshResourceProvider();
  const xds = new XdsServer({ provider, metrics, log, ...(opts.debounceMs !== undefined ? { debounceMs: opts.debounceMs } : {}) });
  const source = new FileSource({ dir: opts.configDir, log, ...(opts.debounceMs !== undefined ? { debounceMs: opts.debounceMs } : {}) });
  const apply = (set: ConfigSet): void => {
    const snapshot = buildSnapshot(set, provider.snapshot);
    provider.update(snapshot);
    reloads.inc();
    generation.set({}, snapshot.generation);
    for (const severity of ["error", "warning"] as const) {
      configErrors.set({ severity }, snapshot.errors.filter((e) => e.severity === severity).length);
    }
  };
  source.start(apply);

  const grpcServer = new grpc.Server();
  xds.addTo(grpcServer);
  const xdsPort = await new Promise<number>((resolve, reject) =>
    grpcServer.bindAsync(opts.xdsAddress, grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
  );
  const xdsAddress = `${splitHostPort(opts.xdsAddress).host}:${xdsPort}`;

  const http = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
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
        return send(200, "text/plain; version=0.0.4", metrics.render());
      case "/debug/config": {
        const s = provider.snapshot;
        const body = {
          configDir: opts.configDir,
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
      default:
        return send(404, "text/plain", "not found\n");
    }
  });
  const monitoringAddress = await listenHttp(http, opts.monitoringAddress);
  log(`meshward: serving xDS on ${xdsAddress}, monitoring on http://${monitoringAddress}, config from ${opts.configDir}`);

  return {
    xdsAddress,
    monitoringAddress,
    provider,
    xds,
    metrics,
    source,
    grpcServer,
    async stop() {
      source.stop();
      xds.close();
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => grpcServer.forceShutdown(), 2000);
        grpcServer.tryShutdown(() => (clearTimeout(force), resolve()));
      });
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
