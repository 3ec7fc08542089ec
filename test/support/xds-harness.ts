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

export interface Harness {
  readonly address: string;
  readonly port: number;
  readonly grpcServer: grpc.Server;
  readonly xds: XdsServer;
  readonly metrics: Metrics;
  readonly logs: string[];
  stop(): Promise<void>;
}

export async function startXds(provider: MemoryProvider, opts: Partial<XdsServerOptions> = {}, port = 0): Promise<Harness> {
  const grpcServer = new grpc.Server();
  const logs: string[] = [];
  const metrics = opts.metrics ?? new Metrics();
  const xds = new XdsServer({ provider, debounceMs: 5, metrics, log: (l) => logs.push(l), ...opts });
  xds.addTo(grpcServer);
  const bound = await new Promise<number>((resolve, reject) =>
    grpcServer.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
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
