// Real proxyless gRPC workloads for end-to-end tests: @grpc/grpc-js-xds servers and clients, each
// with its own bootstrap (the TEST_ONLY channel/server option) pointing at a meshward under test.
import * as grpc from "@grpc/grpc-js";
import { createServer } from "node:net";
import { readFileSync } from "node:fs";
import * as grpcXds from "@grpc/grpc-js-xds";
import { grpcXdsBootstrap } from "../../src/ca/grpc-bootstrap.js";
import type { ControlPlane } from "../../src/mesh/control-plane.js";
import { parseProxyNode } from "../../src/model/proxy.js";
import { PushOrder } from "../../src/xds/types.js";
import { expectEnvoyValidResources } from "./envoy-valid.js";
import { expectGrpcXdsAccepts } from "./grpc-xds-rules.js";

export { eventually } from "./eventually.js";

grpcXds.register();

export const bootstrapOption = "grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config";

export interface NodeSpec {
  readonly ip: string;
  readonly pod: string;
  readonly namespace: string;
  readonly serviceAccount?: string;
  readonly labels?: Record<string, string>;
  /** The node the pod runs on (metadata NODE_NAME, as Istio's agent sets it). */
  readonly node?: string;
  /** The cluster the proxy says it is in (metadata CLUSTER_ID; default Kubernetes). */
  readonly clusterId?: string;
  /** `region/zone/subzone` in the bootstrap's node.locality. */
  readonly locality?: string;
}

/** Every resource meshward may send `node` now passes Envoy's validation rules and grpc-js-xds's checks. */
export function expectValidForNode(cp: ControlPlane, node: NodeSpec): void {
  const proxy = parseProxyNode((JSON.parse(bootstrap(cp.xdsAddress, node)) as { node: Parameters<typeof parseProxyNode>[0] }).node);
  const all = PushOrder.flatMap((t) => [...cp.provider.resources(proxy, t).values()]);
  expectEnvoyValidResources(all);
  expectGrpcXdsAccepts(all);
}

/** A plaintext gRPC bootstrap as Istio's agent writes it, for one node. */
export function bootstrap(xdsAddress: string, node: NodeSpec): string {
  return JSON.stringify(
    grpcXdsBootstrap({
      xdsAddress,
      namespace: node.namespace,
      serviceAccount: node.serviceAccount ?? "default",
      podName: node.pod,
      podIp: node.ip,
      ...(node.labels !== undefined ? { labels: node.labels } : {}),
      ...(node.node !== undefined ? { nodeName: node.node } : {}),
      ...(node.clusterId !== undefined ? { clusterId: node.clusterId } : {}),
      ...(node.locality !== undefined ? { locality: node.locality } : {}),
    }),
  );
}

/**
 * A port free right now on loopback (grpc-js-xds servers cannot bind port 0). It is taken from just
 * below the kernel's ephemeral range, so no outgoing connection (ours or another test's) can be
 * given it between this check and the server's own bind, nor while a server restarts on it.
 */
export async function freePort(): Promise<number> {
  let low = 32768;
  try {
    low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]) || low;
  } catch {
    // not Linux: keep the usual default
  }
  const hi = low - 1;
  const lo = Math.max(1024, hi - 10_000);
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = lo + Math.floor(Math.random() * (hi - lo + 1));
    if (await bindable(port)) return port;
  }
  throw new Error(`no free loopback port in ${lo}-${hi}`);
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

const identity = (b: Buffer): Buffer => b;
/** A one-method service over raw bytes: no protos needed. */
export const echoService: grpc.ServiceDefinition = {
  echo: {
    path: "/meshward.test.Echo/Echo",
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

/** An xDS-enabled echo server answering with its name; resolves once xDS made it serve. */
export class EchoServer {
  readonly server: grpcXds.XdsServer;
  readonly calls: number[] = [];
  serving = false;
  constructor(
    readonly name: string,
    xdsAddress: string,
    node: NodeSpec,
    bootstrapJson?: string,
  ) {
    this.server = new grpcXds.XdsServer({ [bootstrapOption]: bootstrapJson ?? bootstrap(xdsAddress, node) } as grpc.ServerOptions);
    this.server.addService(echoService, {
      echo: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        this.calls.push(Date.now());
        cb(null, Buffer.from(this.name));
      },
    });
  }

  /** Binds `ip:port`; the promise settles when meshward's server listener arrives. */
  start(address: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.bindAsync(address, new grpcXds.XdsServerCredentials(grpc.ServerCredentials.createInsecure()), (err) => {
        if (err) return reject(err);
        this.serving = true;
        resolve();
      });
    });
  }

  stop(): void {
    this.server.forceShutdown();
  }
}

/** A client of `xds:///<target>` with its own XdsClient. */
export class EchoClient {
  readonly client: grpc.Client;
  constructor(target: string, xdsAddress: string, node: NodeSpec) {
    this.client = new grpc.Client(`xds:///${target}`, new grpcXds.XdsChannelCredentials(grpc.credentials.createInsecure()), {
      [bootstrapOption]: bootstrap(xdsAddress, node),
    } as grpc.ChannelOptions);
  }

  /** One call; resolves with the answering backend's name. */
  call(timeoutMs = 5000, headers: Record<string, string> = {}): Promise<string> {
    const metadata = new grpc.Metadata();
    for (const [k, v] of Object.entries(headers)) metadata.set(k, v);
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        "/meshward.test.Echo/Echo",
        identity,
        identity,
        Buffer.from("ping"),
        metadata,
        { deadline: Date.now() + timeoutMs },
        (err: grpc.ServiceError | null, res?: Buffer) => (err ? reject(err) : resolve(res!.toString())),
      );
    });
  }

  close(): void {
    this.client.close();
  }
}
