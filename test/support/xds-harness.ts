// Starts an XdsServer (or, with MESHWARD_XDS_WORKERS, a pool of stream workers) on an ephemeral
// loopback port for protocol tests.
import * as grpc from "@grpc/grpc-js";
import { create, toBinary } from "@bufbuild/protobuf";
import { XdsServer, type XdsServerOptions, type XdsStreams } from "../../src/xds/server.js";
import { XdsWorkerPool } from "../../src/xds/workers/pool.js";
import { Metrics } from "../../src/telemetry/metrics.js";
import { TypeUrl } from "../../src/xds/types.js";
import { ListenerSchema } from "../../src/gen/envoy/config/listener/v3/listener_pb.js";
import { RouteConfigurationSchema } from "../../src/gen/envoy/config/route/v3/route_pb.js";
import { ClusterSchema } from "../../src/gen/envoy/config/cluster/v3/cluster_pb.js";
import { ClusterLoadAssignmentSchema } from "../../src/gen/envoy/config/endpoint/v3/endpoint_pb.js";
import { SecretSchema } from "../../src/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js";
import { MemoryProvider } from "./memory-provider.js";
import { AdsClient } from "./ads-client.js";

export interface Harness {
  readonly address: string;
  readonly port: number;
  /** The single-thread server's gRPC server; undefined when the streams run in workers. */
  readonly grpcServer: grpc.Server | undefined;
  readonly xds: XdsStreams & { readonly epoch: string };
  readonly metrics: Metrics;
  readonly logs: string[];
  stop(): Promise<void>;
}

/**
 * Stream workers for the protocol suites: MESHWARD_XDS_WORKERS=N runs every suite that uses this
 * harness against a pool of N workers (npm run test:xds-workers), 0 or unset: one thread.
 */
export function harnessWorkers(): number {
  const raw = process.env.MESHWARD_XDS_WORKERS ?? "0";
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`MESHWARD_XDS_WORKERS: "${raw}" is not a whole number`);
  return n;
}

export async function startXds(
  provider: MemoryProvider,
  opts: Partial<XdsServerOptions> & { readonly workers?: number } = {},
  port = 0,
  credentials?: grpc.ServerCredentials,
): Promise<Harness> {
  const logs: string[] = [];
  const metrics = opts.metrics ?? new Metrics();
  const serverOpts = { provider, debounceMs: 5, metrics, log: (l: string) => void logs.push(l), ...opts };
  // TLS credentials cannot be handed to a worker thread: those tests run on one thread.
  const workers = credentials === undefined ? opts.workers ?? harnessWorkers() : 0;
  if (workers > 0) {
    const pool = await XdsWorkerPool.start({ ...serverOpts, workers, address: `127.0.0.1:${port}` });
    return { address: pool.address, port: Number(pool.address.slice(pool.address.lastIndexOf(":") + 1)), grpcServer: undefined, xds: pool, metrics, logs, stop: () => pool.stop() };
  }
  const grpcServer = new grpc.Server();
  const xds = new XdsServer(serverOpts);
  xds.addTo(grpcServer);
  const bound = await new Promise<number>((resolve, reject) =>
    grpcServer.bindAsync(`127.0.0.1:${port}`, credentials ?? grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    address: `127.0.0.1:${bound}`,
    port: bound,
    grpcServer,
    xds,
    metrics,
    logs,
    stop: async () => {
      xds.close();
      grpcServer.forceShutdown();
    },
  };
}

/** Message bytes of a small resource of each type; `variant` changes the content (and version). */
export function resourceBytes(typeUrl: TypeUrl, name: string, variant = ""): Uint8Array {
  switch (typeUrl) {
    case TypeUrl.Listener:
      return toBinary(ListenerSchema, create(ListenerSchema, { name, statPrefix: variant }));
    case TypeUrl.RouteConfiguration:
      return toBinary(RouteConfigurationSchema, create(RouteConfigurationSchema, { name, internalOnlyHeaders: variant ? [variant] : [] }));
    case TypeUrl.Cluster:
      return toBinary(ClusterSchema, create(ClusterSchema, { name, altStatName: variant }));
    case TypeUrl.ClusterLoadAssignment:
      return toBinary(ClusterLoadAssignmentSchema, create(ClusterLoadAssignmentSchema, { clusterName: name, endpoints: variant ? [{ priority: variant.length }] : [] }));
    case TypeUrl.Secret:
      return toBinary(SecretSchema, create(SecretSchema, { name, type: variant ? { case: "genericSecret", value: { secret: { specifier: { case: "inlineString", value: variant } } } } : { case: undefined } }));
  }
}

/** Puts resources without notifying; call provider.notify afterwards to make it one change. */
export function seed(provider: MemoryProvider, typeUrl: TypeUrl, names: string[], variant = ""): void {
  for (const n of names) provider.put(typeUrl, n, resourceBytes(typeUrl, n, variant), false);
}

/** Secrets that exist only so tests can prove "nothing else was sent" with a probe subscription. */
export const PROBES: readonly string[] = Array.from({ length: 20 }, (_, i) => `probe-${i}`);

/** The protocol tests' provider: two resources of each type (c1, c2 / l1, l2 / r1, r2) plus probes. */
export function standardProvider(): MemoryProvider {
  const provider = new MemoryProvider();
  seed(provider, TypeUrl.Cluster, ["c1", "c2"]);
  seed(provider, TypeUrl.ClusterLoadAssignment, ["c1", "c2"]);
  seed(provider, TypeUrl.Listener, ["l1", "l2"]);
  seed(provider, TypeUrl.RouteConfiguration, ["r1", "r2"]);
  seed(provider, TypeUrl.Secret, [...PROBES]);
  return provider;
}

/** Applies a provider change (notifying all proxies unless `notify` is false) and waits until it is pushed. */
export async function applyChange(h: Harness, provider: MemoryProvider, fn: () => void = () => {}, notify = true): Promise<void> {
  const flushed = new Promise<void>((resolve) => h.xds.once("flushed", resolve));
  fn();
  if (notify) provider.notify({ all: true });
  await flushed;
}

export interface ProtocolFixture {
  provider: MemoryProvider;
  h: Harness;
  client: AdsClient;
}

/** Registers mocha hooks giving each test a fresh standard provider, server and client connection. */
export function protocolFixture(): ProtocolFixture {
  const f = {} as ProtocolFixture;
  beforeEach(async () => {
    f.provider = standardProvider();
    f.h = await startXds(f.provider);
    f.client = new AdsClient(f.h.address);
  });
  afterEach(async () => {
    f.client.close();
    await f.h.stop();
  });
  return f;
}

/** Changes one resource of each of RDS, LDS, EDS and CDS (in the reverse of push order). */
export function changeOneOfEachType(provider: MemoryProvider): void {
  seed(provider, TypeUrl.RouteConfiguration, ["r1"], "v2");
  seed(provider, TypeUrl.Listener, ["l1"], "v2");
  seed(provider, TypeUrl.ClusterLoadAssignment, ["c1"], "v2");
  seed(provider, TypeUrl.Cluster, ["c1"], "v2");
}
