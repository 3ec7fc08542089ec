// Starts an XdsServer on an ephemeral loopback port for protocol tests.
import * as grpc from "@grpc/grpc-js";
import { create, toBinary } from "@bufbuild/protobuf";
import { XdsServer, type XdsServerOptions } from "../../src/xds/server.js";
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
  readonly grpcServer: grpc.Server;
  readonly xds: XdsServer;
  readonly metrics: Metrics;
  readonly logs: string[];
  stop(): Promise<void>;
}

export async function startXds(
  provider: MemoryProvider,
  opts: Partial<XdsServerOptions> = {},
  port = 0,
  credentials = grpc.ServerCredentials.createInsecure(),
): Promise<Harness> {
  const grpcServer = new grpc.Server();
  const logs: string[] = [];
  const metrics = opts.metrics ?? new Metrics();
  const xds = new XdsServer({ provider, debounceMs: 5, metrics, log: (l) => logs.push(l), ...opts });
  xds.addTo(grpcServer);
  const bound = await new Promise<number>((resolve, reject) =>
    grpcServer.bindAsync(`127.0.0.1:${port}`, credentials, (err, p) => (err ? reject(err) : resolve(p))),
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
