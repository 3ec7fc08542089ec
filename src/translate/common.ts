// The small vocabulary every translator shares: the planned-resource shape (name + cache key +
// builder), Istio's resource names, and Envoy building blocks (addresses, ADS config sources,
// typed configs).
import { create, type DescMessage, type Message, type MessageInitShape } from "@bufbuild/protobuf";
import { anyPack, type Any } from "@bufbuild/protobuf/wkt";
import type { Proxy } from "../model/proxy.js";
import type { MeshSnapshot } from "../model/snapshot.js";
import type { TypeUrl } from "../xds/types.js";
import { AddressSchema, type Address } from "../gen/envoy/config/core/v3/address_pb.js";
import { ApiVersion, ConfigSourceSchema, type ConfigSource } from "../gen/envoy/config/core/v3/config_source_pb.js";
import { outboundPolicyKinds } from "./extensions.js";

/** A translated resource: the message and the schema that encodes it. */
export interface BuiltResource {
  readonly schema: DescMessage;
  readonly message: Message;
}

/**
 * A resource a proxy should receive, not yet built. `key` names every input the resource depends
 * on (content digests), so proxies and snapshots that plan the same key share one encoding.
 */
export interface PlannedResource {
  readonly typeUrl: TypeUrl;
  readonly name: string;
  readonly key: string;
  build(): BuiltResource;
}

/** What translation of one proxy yields, by type. */
export type ProxyResources = ReadonlyMap<TypeUrl, readonly PlannedResource[]>;

/** The inputs of one translation. Translators are pure functions of this. */
export interface TranslationScope {
  readonly snapshot: MeshSnapshot;
  readonly proxy: Proxy;
}

export function built<Desc extends DescMessage>(schema: Desc, init: MessageInitShape<Desc>): BuiltResource {
  return { schema, message: create(schema, init) as Message };
}

/**
 * What inbound resources may depend on through the hooks besides services: the mesh config and
 * every kind in `others` (authorization, authentication, risk overlays select the proxy itself).
 */
export function inboundPolicyKey(snapshot: MeshSnapshot): string {
  return `${snapshot.meshDigest}.${snapshot.othersDigest}`;
}

/**
 * What outbound resources may depend on through the hooks besides services and DestinationRules:
 * the mesh config and the kinds in `outboundPolicyKinds` only, so an authorization change does
 * not re-key (and re-encode) every outbound resource of the mesh.
 */
export function outboundPolicyKey(snapshot: MeshSnapshot): string {
  return [snapshot.meshDigest, ...outboundPolicyKinds.map((k) => snapshot.othersDigestByKind.get(k) ?? "")].join(".");
}

export const BlackHoleCluster = "BlackHoleCluster";
export const PassthroughCluster = "PassthroughCluster";
export const InboundPassthroughCluster = "InboundPassthroughCluster";
export const VirtualOutboundListener = "virtualOutbound";
export const VirtualInboundListener = "virtualInbound";
export const VirtualOutboundPort = 15001;
export const VirtualInboundPort = 15006;
/** Source address Istio binds inbound upstream connections to, so iptables lets them through. */
export const InboundPassthroughBindIpv4 = "127.0.0.6";

/** Istio's subset key `outbound|<port>|<subset>|<host>` (`BuildSubsetKey`). */
export function outboundClusterName(port: number, subset: string, hostname: string): string {
  return `outbound|${port}|${subset}|${hostname}`;
}

/** Where traffic to no known service goes: on (ALLOW_ANY) or nowhere (REGISTRY_ONLY), as istiod. */
export function catchAllCluster(mode: "ALLOW_ANY" | "REGISTRY_ONLY"): string {
  return mode === "ALLOW_ANY" ? PassthroughCluster : BlackHoleCluster;
}

/** `inbound|<port>||`, keyed by the port the workload listens on. */
export function inboundClusterName(targetPort: number): string {
  return `inbound|${targetPort}||`;
}

/** `host:port`, bracketing IPv6 literals. */
export function hostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

export function socketAddress(address: string, port: number): Address {
  return create(AddressSchema, { address: { case: "socketAddress", value: { address, portSpecifier: { case: "portValue", value: port } } } });
}

/**
 * Resources come over the same ADS stream (what grpc-js-xds requires: `ads` or `self`). Envoy
 * resources add `initial_fetch_timeout: 0s` as istiod does: wait for the resource, never warm
 * up without it.
 */
export function adsConfigSource(extra: Pick<MessageInitShape<typeof ConfigSourceSchema>, "initialFetchTimeout"> = {}): ConfigSource {
  return create(ConfigSourceSchema, { configSourceSpecifier: { case: "ads", value: {} }, ...extra, resourceApiVersion: ApiVersion.V3 });
}

export function typedConfig<Desc extends DescMessage>(schema: Desc, init: MessageInitShape<Desc>): Any {
  return anyPack(schema, create(schema, init));
}

/** The DNS domain from the node id (`ns.svc.cluster.local`), used to expand short host names. */
export function dnsDomain(proxy: Proxy): string {
  const parts = proxy.id.split("~");
  return parts[3] ?? `${proxy.namespace}.svc.cluster.local`;
}

/** A protobuf Duration init from seconds (model durations are seconds). */
export function durationFromSeconds(seconds: number): { seconds: bigint; nanos: number } {
  return { seconds: BigInt(Math.floor(seconds)), nanos: Math.round((seconds % 1) * 1e9) };
}
