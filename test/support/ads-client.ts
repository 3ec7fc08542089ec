// A raw xDS client for tests and benchmarks: @grpc/grpc-js plus the generated types, SotW and
// delta, with no protocol logic of its own beyond what a test asks it to send.
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import {
  DeltaDiscoveryRequestSchema,
  DeltaDiscoveryResponseSchema,
  DiscoveryRequestSchema,
  DiscoveryResponseSchema,
  type DeltaDiscoveryResponse,
  type DiscoveryResponse,
} from "../../src/gen/envoy/service/discovery/v3/discovery_pb.js";
import type { Any } from "@bufbuild/protobuf/wkt";
import { ListenerSchema } from "../../src/gen/envoy/config/listener/v3/listener_pb.js";
import { RouteConfigurationSchema } from "../../src/gen/envoy/config/route/v3/route_pb.js";
import { ClusterSchema } from "../../src/gen/envoy/config/cluster/v3/cluster_pb.js";
import { ClusterLoadAssignmentSchema } from "../../src/gen/envoy/config/endpoint/v3/endpoint_pb.js";
import { SecretSchema } from "../../src/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js";
import type { JsonObject } from "@bufbuild/protobuf";
import { NodeSchema } from "../../src/gen/envoy/config/core/v3/base_pb.js";
import { TypeUrl } from "../../src/xds/types.js";

export const ADS_SOTW = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources";
export const ADS_DELTA = "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources";

export type DiscoveryRequestInit = MessageInitShape<typeof DiscoveryRequestSchema>;
export type DeltaDiscoveryRequestInit = MessageInitShape<typeof DeltaDiscoveryRequestSchema>;

export interface TestNode {
  id: string;
  metadata?: JsonObject;
  /** The node's own `locality` claim. */
  locality?: { region: string; zone: string; subZone: string };
}

export function sidecarNode(pod = "pod-1", namespace = "default", ip = "10.0.0.1"): TestNode {
  return { id: `sidecar~${ip}~${pod}.${namespace}~${namespace}.svc.cluster.local`, metadata: { NAMESPACE: namespace } };
}

/** Call metadata carrying `authorization: Bearer <token>`, as a proxy's agent sends its token. */
export function bearer(token: string): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set("authorization", `Bearer ${token}`);
  return md;
}

/** The name of a packed resource, decoded by its type. */
export function resourceName(any: Any): string {
  switch (any.typeUrl) {
    case TypeUrl.Listener:
      return fromBinary(ListenerSchema, any.value).name;
    case TypeUrl.RouteConfiguration:
      return fromBinary(RouteConfigurationSchema, any.value).name;
    case TypeUrl.Cluster:
      return fromBinary(ClusterSchema, any.value).name;
    case TypeUrl.ClusterLoadAssignment:
      return fromBinary(ClusterLoadAssignmentSchema, any.value).clusterName;
    case TypeUrl.Secret:
      return fromBinary(SecretSchema, any.value).name;
    default:
      throw new Error(`resourceName: unknown type ${any.typeUrl}`);
  }
}

export function responseNames(r: DiscoveryResponse): string[] {
  return r.resources.map(resourceName);
}

/** Messages in arrival order, with waiting readers; the stream's end rejects pending reads. */
class Inbox<T> {
  private readonly items: T[] = [];
  private readonly waiters: { resolve: (v: T) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }[] = [];
  private ended: Error | undefined;

  push(item: T): void {
    const w = this.waiters.shift();
    if (w) {
      clearTimeout(w.timer);
      w.resolve(item);
    } else this.items.push(item);
  }

  end(err: Error): void {
    this.ended = err;
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(err);
    }
  }

  /** The next message; rejects after `timeoutMs` so a broken server fails the test instead of hanging it. */
  next(timeoutMs: number, what: string): Promise<T> {
    const item = this.items.shift();
    if (item !== undefined) return Promise.resolve(item);
    if (this.ended) return Promise.reject(this.ended);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.waiters.findIndex((w) => w.timer === timer);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error(`no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push({ resolve, reject, timer });
    });
  }

  get buffered(): number {
    return this.items.length;
  }
}

abstract class RawStream<Res> {
  protected readonly inbox = new Inbox<Res>();
  /** The status the stream ended with. */
  readonly status: Promise<grpc.StatusObject>;
  protected readonly call: grpc.ClientDuplexStream<Uint8Array, Res>;

  constructor(client: grpc.Client, path: string, decode: (b: Buffer) => Res, metadata: grpc.Metadata) {
    this.call = client.makeBidiStreamRequest(path, (b: Uint8Array) => Buffer.from(b), decode, metadata);
    this.call.on("data", (r: Res) => this.inbox.push(r));
    this.status = new Promise((resolve) => {
      this.call.on("status", (s: grpc.StatusObject) => {
        this.inbox.end(new Error(`stream ended: ${grpc.status[s.code]}: ${s.details}`));
        resolve(s);
      });
    });
    this.call.on("error", () => {
      /* reported through status */
    });
  }

  next(timeoutMs = 10_000): Promise<Res> {
    return this.inbox.next(timeoutMs, "response");
  }

  get buffered(): number {
    return this.inbox.buffered;
  }

  /** Stops reading responses (a slow proxy): grpc-js then stops taking data off the connection. */
  pause(): void {
    this.call.pause();
  }

  resume(): void {
    this.call.resume();
  }

  close(): void {
    this.call.end();
  }

  /** Writes bytes as they are, as one request message (for fuzzing the server's decoder). */
  sendRaw(bytes: Uint8Array): void {
    this.call.write(bytes);
  }

  cancel(): void {
    this.call.cancel();
  }
}

/** A state-of-the-world ADS stream. Remembers per type the names and the last ACKed version. */
export class SotwClientStream extends RawStream<DiscoveryResponse> {
  private readonly names = new Map<string, string[]>();
  private readonly accepted = new Map<string, string>();
  private readonly nonces = new Map<string, string>();
  private nodeSent = false;

  constructor(client: grpc.Client, private readonly node: TestNode, path = ADS_SOTW, metadata = new grpc.Metadata()) {
    super(client, path, (b) => fromBinary(DiscoveryResponseSchema, b), metadata);
  }

  /** Sends a raw request; the node is added to the first one unless the request sets its own or `withNode` is false. */
  send(req: DiscoveryRequestInit, withNode = !this.nodeSent): void {
    const init: DiscoveryRequestInit = !withNode || req.node !== undefined ? req : { ...req, node: create(NodeSchema, this.node) };
    this.nodeSent = true;
    this.call.write(toBinary(DiscoveryRequestSchema, create(DiscoveryRequestSchema, init)));
  }

  /** Subscribes to `names` of a type (replacing its list), echoing the latest nonce and version. */
  subscribe(typeUrl: string, names: string[]): void {
    this.names.set(typeUrl, names);
    this.send({
      typeUrl,
      resourceNames: names,
      versionInfo: this.accepted.get(typeUrl) ?? "",
      responseNonce: this.nonces.get(typeUrl) ?? "",
    });
  }

  ack(r: DiscoveryResponse): void {
    this.accepted.set(r.typeUrl, r.versionInfo);
    this.nonces.set(r.typeUrl, r.nonce);
    this.send({ typeUrl: r.typeUrl, resourceNames: this.names.get(r.typeUrl) ?? [], versionInfo: r.versionInfo, responseNonce: r.nonce });
  }

  nack(r: DiscoveryResponse, message: string): void {
    this.nonces.set(r.typeUrl, r.nonce);
    this.send({
      typeUrl: r.typeUrl,
      resourceNames: this.names.get(r.typeUrl) ?? [],
      versionInfo: this.accepted.get(r.typeUrl) ?? "",
      responseNonce: r.nonce,
      errorDetail: { code: grpc.status.INVALID_ARGUMENT, message },
    });
  }
}

/** A delta ADS stream. */
export class DeltaClientStream extends RawStream<DeltaDiscoveryResponse> {
  private nodeSent = false;

  constructor(client: grpc.Client, private readonly node: TestNode, path = ADS_DELTA, metadata = new grpc.Metadata()) {
    super(client, path, (b) => fromBinary(DeltaDiscoveryResponseSchema, b), metadata);
  }

  send(req: DeltaDiscoveryRequestInit, withNode = !this.nodeSent): void {
    const init: DeltaDiscoveryRequestInit = !withNode || req.node !== undefined ? req : { ...req, node: create(NodeSchema, this.node) };
    this.nodeSent = true;
    this.call.write(toBinary(DeltaDiscoveryRequestSchema, create(DeltaDiscoveryRequestSchema, init)));
  }

  ack(r: DeltaDiscoveryResponse): void {
    this.send({ typeUrl: r.typeUrl, responseNonce: r.nonce });
  }

  nack(r: DeltaDiscoveryResponse, message: string): void {
    this.send({ typeUrl: r.typeUrl, responseNonce: r.nonce, errorDetail: { code: grpc.status.INVALID_ARGUMENT, message } });
  }
}

/** One channel (one connection) to an xDS server. */
export class AdsClient {
  readonly client: grpc.Client;

  constructor(address: string, credentials = grpc.credentials.createInsecure(), options: grpc.ChannelOptions = {}) {
    // A local subchannel pool gives every AdsClient its own connection, like separate proxies.
    this.client = new grpc.Client(address, credentials, { "grpc.use_local_subchannel_pool": 1, ...options });
  }

  sotw(node: TestNode, path = ADS_SOTW, metadata?: grpc.Metadata): SotwClientStream {
    return new SotwClientStream(this.client, node, path, metadata);
  }

  delta(node: TestNode, path = ADS_DELTA, metadata?: grpc.Metadata): DeltaClientStream {
    return new DeltaClientStream(this.client, node, path, metadata);
  }

  close(): void {
    this.client.close();
  }
}
