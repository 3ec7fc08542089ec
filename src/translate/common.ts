// The small vocabulary every translator shares: the planned-resource shape (name + cache key +
// builder), Istio's resource names, and Envoy building blocks (addresses, ADS config sources,
// typed configs).
import { create, type DescMessage, type Message, type MessageInitShape } from "@bufbuild/protobuf";
import { anyPack, type Any } from "@bufbuild/protobuf/wkt";
import type { TypeUrl } from "../xds/types.js";
import { AddressSchema, type Address } from "../gen/envoy/config/core/v3/address_pb.js";
import { ApiVersion, ConfigSourceSchema, type ConfigSource } from "../gen/envoy/config/core/v3/config_source_pb.js";

// Istio's names and the scope live with the IR, which decides them; re-exported for the builders.
export {
  type TranslationScope,
  inboundPolicyKey,
  outboundPolicyKey,
  dnsDomain,
  BlackHoleCluster,
  PassthroughCluster,
  InboundPassthroughCluster,
  VirtualOutboundListener,
  VirtualInboundListener,
  VirtualOutboundPort,
  VirtualInboundPort,
  outboundClusterName,
  inboundClusterName,
  hostPort,
} from "../ir/scope.js";

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

export function built<Desc extends DescMessage>(schema: Desc, init: MessageInitShape<Desc>): BuiltResource {
  return { schema, message: create(schema, init) as Message };
}

/** Source address Istio binds inbound upstream connections to, so iptables lets them through. */
export const InboundPassthroughBindIpv4 = "127.0.0.6";

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

/** A protobuf Duration init from seconds (model durations are seconds). */
export function durationFromSeconds(seconds: number): { seconds: bigint; nanos: number } {
  return { seconds: BigInt(Math.floor(seconds)), nanos: Math.round((seconds % 1) * 1e9) };
}
