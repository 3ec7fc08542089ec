// Worker process of the push benchmark: `count` simulated Envoy sidecars, one gRPC connection and
// one SotW ADS stream each, subscribing the way Envoy does (CDS and LDS wildcard, EDS for the EDS
// clusters, RDS for the HTTP listeners' route names) and ACKing every response. The gRPC framing
// is done directly over node:http2: grpc-js's client machinery (resolver, balancer, retries) per
// simulated proxy would make the benchmark measure the clients rather than the server.
// Usage (forked by xds-push.ts): node xds-push-client.js <address> <firstIndex> <count> <services> [<node name>] [router]
// With a node name, every sidecar announces it as NODE_NAME (as Istio's agent does). With `router`
// the simulated proxies are ingress gateways (push-mesh.ts routerNode), whose HTTP listener on 80
// names RDS http.80.
// On {storm: ms} every sidecar drops its connection within that window and reconnects (see storm()),
// retrying a connection that fails before it has synced (as Envoy does).
import * as http2 from "node:http2";
import { create, fromBinary, toBinary, type JsonObject } from "@bufbuild/protobuf";
import { NodeSchema } from "../src/gen/envoy/config/core/v3/base_pb.js";
import { DiscoveryRequestSchema, DiscoveryResponseSchema, type DiscoveryResponse } from "../src/gen/envoy/service/discovery/v3/discovery_pb.js";
import { TypeUrl } from "../src/xds/types.js";
import { routerNode, serviceApp, serviceNamespace, sidecarIp } from "./push-mesh.js";

const [address = "", firstArg = "0", countArg = "0", servicesArg = "1", nodeArg = "", kindArg = ""] = process.argv.slice(2);
const nodeName = nodeArg === "" ? undefined : nodeArg;
const routers = kindArg === "router";
const first = Number(firstArg);
const count = Number(countArg);
const services = Number(servicesArg);
/** Streams doing their initial sync at once per worker, so the server is not flooded at start. */
const CONCURRENT_SYNCS = 100;

/** Field 1 (the name in Cluster, Listener, RouteConfiguration, ClusterLoadAssignment), read without decoding the rest. */
function nameOf(bytes: Uint8Array): string {
  if (bytes[0] !== 0x0a) return "";
  let len = 0;
  let shift = 0;
  let i = 1;
  for (;;) {
    const b = bytes[i++] ?? 0;
    len += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) break;
    shift += 7;
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset + i, len).toString("utf8");
}

/** Splits a gRPC response body into messages (1-byte compressed flag, 4-byte length, message). */
class GrpcFramer {
  private pending: Buffer = Buffer.alloc(0);
  constructor(private readonly onMessage: (m: Buffer) => void) {}
  push(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= 5) {
      const len = this.pending.readUInt32BE(1);
      if (this.pending.length < 5 + len) break;
      this.onMessage(this.pending.subarray(5, 5 + len));
      this.pending = this.pending.subarray(5 + len);
    }
  }
}

/** resource_names encoded once per list. */
const encodedNames = new WeakMap<string[], Uint8Array>();

function grpcFrame(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

class Sidecar {
  private readonly session: http2.ClientHttp2Session;
  private readonly call: http2.ClientHttp2Stream;
  private readonly names = new Map<string, string[]>();
  private readonly seen = new Set<string>();
  synced = false;
  /** Resource names held, by type (LDS and CDS replaced by each response, EDS and RDS added to). */
  readonly held = new Map<string, Set<string>>();
  /** Responses that named one resource twice. */
  duplicates = 0;
  closed = false;

  private lost = false;

  /** `onLost`: the connection or stream failed before this sidecar closed it (reconnect, as Envoy does). */
  constructor(readonly index: number, onSynced: () => void, private readonly onLost?: (why: string) => void) {
    const svc = index % services;
    const ip = sidecarIp(index);
    const pod = `${serviceApp(svc)}-${index}`;
    const ns = serviceNamespace(svc);
    this.session = http2.connect(`http://${address}`);
    this.session.on("error", (e: Error) => this.failed(`${pod}: ${e.message}`));
    this.call = this.session.request({
      ":method": "POST",
      ":path": "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources",
      "content-type": "application/grpc",
      te: "trailers",
    });
    const framer = new GrpcFramer((m) => {
      this.onResponse(fromBinary(DiscoveryResponseSchema, m));
      if (!this.synced && this.seen.size === 4) {
        this.synced = true;
        onSynced();
      }
    });
    this.call.on("data", (chunk: Buffer) => framer.push(chunk));
    this.call.on("trailers", (t) => this.failed(`${pod}: stream ended: grpc-status ${String(t["grpc-status"])} ${String(t["grpc-message"] ?? "")}`));
    this.call.on("error", (e: Error) => this.failed(`${pod}: ${e.message}`));
    this.send(
      TypeUrl.Cluster,
      [],
      "",
      "",
      routers
        ? routerNode(index)
        : {
            id: `sidecar~${ip}~${pod}.${ns}~${ns}.svc.cluster.local`,
            metadata: { NAMESPACE: ns, LABELS: { app: serviceApp(svc) }, SERVICE_ACCOUNT: serviceApp(svc), ...(nodeName ? { NODE_NAME: nodeName } : {}) },
          },
    );
  }

  private failed(why: string): void {
    if (this.closed || this.lost) return;
    if (this.onLost === undefined) return void process.send?.({ error: why });
    this.lost = true;
    this.onLost(why);
  }

  private send(typeUrl: string, resourceNames: string[], versionInfo: string, responseNonce: string, node?: { id: string; metadata: JsonObject }): void {
    this.names.set(typeUrl, resourceNames);
    const req = create(DiscoveryRequestSchema, { typeUrl, versionInfo, responseNonce });
    if (node) req.node = create(NodeSchema, node);
    // Envoy repeats every name in each ACK; the names are encoded once per list (concatenated
    // protobuf messages merge), so the simulated proxies spend their CPU like C++ Envoys would not.
    let names = encodedNames.get(resourceNames);
    if (names === undefined) {
      names = toBinary(DiscoveryRequestSchema, create(DiscoveryRequestSchema, { resourceNames }));
      encodedNames.set(resourceNames, names);
    }
    this.call.write(grpcFrame(Buffer.concat([toBinary(DiscoveryRequestSchema, req), names])));
  }

  private onResponse(r: DiscoveryResponse): void {
    this.seen.add(r.typeUrl);
    const names = r.resources.map((a) => nameOf(a.value));
    if (new Set(names).size !== names.length) this.duplicates++;
    const fullState = r.typeUrl === TypeUrl.Listener || r.typeUrl === TypeUrl.Cluster;
    const held = fullState ? new Set<string>() : (this.held.get(r.typeUrl) ?? new Set<string>());
    for (const n of names) held.add(n);
    this.held.set(r.typeUrl, held);
    const ack = () => this.send(r.typeUrl, this.names.get(r.typeUrl) ?? [], r.versionInfo, r.nonce);
    switch (r.typeUrl) {
      case TypeUrl.Cluster: {
        ack();
        const eds = r.resources.map((a) => nameOf(a.value)).filter((n) => n.startsWith("outbound|"));
        if (eds.join() !== (this.names.get(TypeUrl.ClusterLoadAssignment) ?? []).join()) this.send(TypeUrl.ClusterLoadAssignment, eds, "", "");
        if (!this.names.has(TypeUrl.Listener)) this.send(TypeUrl.Listener, [], "", "");
        break;
      }
      case TypeUrl.Listener: {
        ack();
        // Istio's HTTP listeners 0.0.0.0_<port> use the route configuration named <port> on
        // sidecars, http.<port> on gateways.
        const rds = r.resources.map((a) => nameOf(a.value)).filter((n) => n.startsWith("0.0.0.0_")).map((n) => `${routers ? "http." : ""}${n.slice("0.0.0.0_".length)}`);
        if (rds.join() !== (this.names.get(TypeUrl.RouteConfiguration) ?? []).join()) this.send(TypeUrl.RouteConfiguration, rds, "", "");
        break;
      }
      default:
        ack();
    }
  }

  close(): void {
    this.closed = true;
    this.call.close();
    this.session.destroy();
  }
}

/** Whether two sidecars hold the same names of every type (nothing lost, nothing extra). */
function sameHeld(a: Sidecar, b: Sidecar): boolean {
  const types = new Set([...a.held.keys(), ...b.held.keys()]);
  for (const t of types) {
    const x = a.held.get(t) ?? new Set<string>();
    const y = b.held.get(t) ?? new Set<string>();
    if (x.size !== y.size || [...x].some((n) => !y.has(n))) return false;
  }
  return true;
}

/**
 * The reconnect storm: every sidecar drops its connection at a random moment within `windowMs`
 * and reconnects at once; reports when all have synced again, and any that came back holding
 * other names than before (lost or extra) or received a response naming a resource twice.
 */
function storm(windowMs: number): void {
  let resynced = 0;
  let mismatched = 0;
  let duplicates = 0;
  let retries = 0;
  /** Why reconnections failed, with the pod names taken out, and how often. */
  const reasons: Record<string, number> = {};
  const report = (): void => void process.send?.({ resynced, mismatched, duplicates, retries, reasons });
  // A connection lost before it resynced (reset, refused, ended) is tried again after 0.2-1 s.
  const connect = (i: number, before: Sidecar): void => {
    const after: Sidecar = new Sidecar(
      before.index,
      () => {
        resynced++;
        if (!sameHeld(before, after)) mismatched++;
        duplicates += after.duplicates;
        if (resynced % 500 === 0 || resynced === sidecars.length) report();
      },
      (why) => {
        after.close();
        if (after.synced) return;
        retries++;
        const reason = why.replace(/^[^:]*: /, "");
        reasons[reason] = (reasons[reason] ?? 0) + 1;
        if (retries % 100 === 0) report();
        setTimeout(() => connect(i, before), 200 + Math.random() * 800);
      },
    );
    sidecars[i] = after;
  };
  for (let i = 0; i < sidecars.length; i++) {
    const before = sidecars[i]!;
    setTimeout(() => {
      before.close();
      connect(i, before);
    }, Math.random() * windowMs);
  }
}

const sidecars: Sidecar[] = [];
let synced = 0;
let started = 0;

function startMore(): void {
  while (started < count && started - synced < CONCURRENT_SYNCS) {
    const index = first + started++;
    sidecars.push(
      new Sidecar(index, () => {
        synced++;
        if (synced % 500 === 0 || synced === count) process.send?.({ synced });
        startMore();
      }),
    );
  }
}

process.on("message", (m: { stop?: boolean; storm?: number }) => {
  if (m.storm !== undefined) storm(m.storm);
  if (m.stop) {
    for (const s of sidecars) s.close();
    process.exit(0);
  }
});
startMore();
