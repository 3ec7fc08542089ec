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
import { listenHttp, monitoringHandler, splitHostPort } from "./monitoring.js";

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
    // The source already logged its own problems; these are the model's (rejected objects).
    for (const e of snapshot.errors.slice(set.errors.length)) log(`meshward config: ${formatConfigError(e)}`);
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
  ).catch((e: unknown) => {
    source.stop();
    xds.close();
    throw e;
  });
  const xdsAddress = `${splitHostPort(opts.xdsAddress).host}:${xdsPort}`;

  let http: HttpServer;
  let monitoringAddress: string;
  try {
    http = createServer(monitoringHandler({ provider, xds, metrics, configDir: opts.configDir }));
    monitoringAddress = await listenHttp(http, opts.monitoringAddress);
  } catch (e) {
    source.stop();
    xds.close();
    grpcServer.forceShutdown();
    throw e;
  }
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
