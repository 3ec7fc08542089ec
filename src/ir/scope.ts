// What every IR function is a pure function of (the snapshot and the proxy), the cache-key parts
// that name those inputs, and Istio's resource names, which the IR decides and the Envoy builders
// only copy.
import type { Proxy } from "../model/proxy.js";
import type { MeshSnapshot } from "../model/snapshot.js";

/** The inputs of one translation. IR builders and Envoy builders are pure functions of this. */
export interface TranslationScope {
  readonly snapshot: MeshSnapshot;
  readonly proxy: Proxy;
}

/**
 * The kinds of the snapshot's `others` bag that outbound resources read: auto-mTLS follows the
 * destination's PeerAuthentication, routes follow VirtualServices. Outbound cache keys include
 * exactly these; an outbound builder that reads another kind must list it here. Inbound builders
 * may read any kind.
 */
export const outboundPolicyKinds: readonly string[] = ["PeerAuthentication"];

/** Kinds in `others` that only outbound routes read (their own cache-key part, virtual-service-hosts.ts). */
const routingKinds: readonly string[] = ["VirtualService"];

const inboundKeys = new WeakMap<MeshSnapshot, string>();

/**
 * What inbound resources may depend on through the hooks besides services: the mesh config and
 * every kind in `others` (authorization, authentication, risk overlays select the proxy itself)
 * but the routing kinds, so a VirtualService edit re-encodes no inbound listener.
 */
export function inboundPolicyKey(snapshot: MeshSnapshot): string {
  let key = inboundKeys.get(snapshot);
  if (key === undefined) {
    const kinds = [...snapshot.othersDigestByKind].filter(([k]) => !routingKinds.includes(k)).sort(([a], [b]) => (a < b ? -1 : 1));
    key = [snapshot.meshDigest, ...kinds.map(([k, d]) => `${k}:${d}`)].join(".");
    inboundKeys.set(snapshot, key);
  }
  return key;
}

/**
 * What outbound resources may depend on through the hooks besides services and DestinationRules:
 * the mesh config and the kinds in `outboundPolicyKinds` only, so an authorization change does
 * not re-key (and re-encode) every outbound resource of the mesh.
 */
export function outboundPolicyKey(snapshot: MeshSnapshot): string {
  return [snapshot.meshDigest, ...outboundPolicyKinds.map((k) => snapshot.othersDigestByKind.get(k) ?? "")].join(".");
}

/** The cluster's DNS suffix (`cluster.local`) from the proxy's DNS domain; empty when the node id has none. */
export function clusterDomain(proxy: Proxy): string {
  return dnsDomain(proxy).split(".").slice(2).join(".");
}

/** The DNS domain from the node id (`ns.svc.cluster.local`), used to expand short host names. */
export function dnsDomain(proxy: Proxy): string {
  const parts = proxy.id.split("~");
  return parts[3] ?? `${proxy.namespace}.svc.cluster.local`;
}

export const BlackHoleCluster = "BlackHoleCluster";
export const PassthroughCluster = "PassthroughCluster";
export const InboundPassthroughCluster = "InboundPassthroughCluster";
export const VirtualOutboundListener = "virtualOutbound";
export const VirtualInboundListener = "virtualInbound";
export const VirtualOutboundPort = 15001;
export const VirtualInboundPort = 15006;

/** Istio's subset key `outbound|<port>|<subset>|<host>` (`BuildSubsetKey`). */
export function outboundClusterName(port: number, subset: string, hostname: string): string {
  return `outbound|${port}|${subset}|${hostname}`;
}

/** `inbound|<port>||`, keyed by the port the workload listens on. */
export function inboundClusterName(targetPort: number): string {
  return `inbound|${targetPort}||`;
}

/** `host:port`, bracketing IPv6 literals. */
export function hostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
