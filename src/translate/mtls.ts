// The TLS contexts of Istio's mutual TLS, for both proxy flavours:
//  - Envoy sidecars: certificates by SDS (`default`, `ROOTCA`), which meshward serves over the same
//    ADS stream (istio-agent would serve them over a local socket as cluster `sds-grpc`); as
//    istiod's BuildInboundTLS / buildUpstreamClusterTLSContext build them.
//  - proxyless gRPC: certificate provider instance `default` from the bootstrap (certificate
//    names `default` and `ROOTCA`, as grpcgen), in the fields grpc-js-xds reads
//    (tls_certificate_provider_instance, default_validation_context.ca_certificate_provider_instance);
//    no SDS and no tls_params, which grpc-js-xds NACKs.
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import type { TransportSocket } from "../gen/envoy/config/core/v3/base_pb.js";
import { TransportSocketSchema } from "../gen/envoy/config/core/v3/base_pb.js";
import { ApiVersion, ConfigSourceSchema } from "../gen/envoy/config/core/v3/config_source_pb.js";
import { TlsParameters_TlsProtocol } from "../gen/envoy/extensions/transport_sockets/tls/v3/common_pb.js";
import type { SdsSecretConfigSchema } from "../gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js";
import { DownstreamTlsContextSchema, UpstreamTlsContextSchema, type CommonTlsContextSchema } from "../gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.js";
import { RawBufferSchema } from "../gen/envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer_pb.js";
import type { StringMatcherSchema } from "../gen/envoy/type/matcher/v3/string_pb.js";
import type { MeshSnapshot } from "../model/snapshot.js";
import { typedConfig } from "./common.js";

export const TlsTransportSocketName = "envoy.transport_sockets.tls";
export const RawBufferTransportSocketName = "envoy.transport_sockets.raw_buffer";
/** SDS resource names istio-agent serves and meshward serves over ADS. */
export const SdsDefaultName = "default";
export const SdsRootName = "ROOTCA";
/** The bootstrap certificate provider instance proxyless gRPC workloads get from `meshward workload-certs`. */
export const GrpcCertificateProvider = "default";

/** ALPN a server offers: HTTP chains, and TCP chains with metadata exchange (util.ALPNHttp / ALPNDownstreamWithMxc). */
export const AlpnHttp = ["h2", "http/1.1"];
export const AlpnDownstreamWithMxc = ["istio-peer-exchange", "h2", "http/1.1"];
/** ALPN a client offers to an in-mesh server (ALPNInMeshH2WithMxc / ALPNInMeshWithMxc). */
export const AlpnInMeshH2WithMxc = ["istio-peer-exchange", "istio", "h2"];
export const AlpnInMeshWithMxc = ["istio-peer-exchange", "istio"];

/** Istio's server-side ciphers (authn/utils SupportedCiphers), unless meshMTLS.cipherSuites says otherwise. */
export const SupportedCiphers = [
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "AES256-GCM-SHA384",
  "AES128-GCM-SHA256",
];

type CommonTlsInit = MessageInitShape<typeof CommonTlsContextSchema>;
type StringMatcherInit = MessageInitShape<typeof StringMatcherSchema>;

/**
 * An SDS reference served over the proxy's ADS stream. `initial_fetch_timeout: 0s` as istiod: a
 * listener or cluster waits for its certificate instead of coming up without one.
 */
export function sdsSecretConfig(name: string): MessageInitShape<typeof SdsSecretConfigSchema> {
  return {
    name,
    sdsConfig: create(ConfigSourceSchema, {
      configSourceSpecifier: { case: "ads", value: {} },
      resourceApiVersion: ApiVersion.V3,
      initialFetchTimeout: { seconds: 0n },
    }),
  };
}

function raw(mesh: MeshSnapshot["mesh"], ...path: string[]): unknown {
  let v: unknown = mesh.raw;
  for (const k of path) v = v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>)[k] : undefined;
  return v;
}

/** meshMTLS.minProtocolVersion: TLSV1_3 raises the floor; anything else keeps TLS 1.2 (GetMinTLSVersion). */
export function minTlsVersion(mesh: MeshSnapshot["mesh"]): TlsParameters_TlsProtocol {
  return raw(mesh, "meshMTLS", "minProtocolVersion") === "TLSV1_3" ? TlsParameters_TlsProtocol.TLSv1_3 : TlsParameters_TlsProtocol.TLSv1_2;
}

function cipherSuites(mesh: MeshSnapshot["mesh"]): string[] {
  const configured = raw(mesh, "meshMTLS", "cipherSuites");
  return Array.isArray(configured) && configured.every((c) => typeof c === "string") && configured.length > 0 ? (configured as string[]) : SupportedCiphers;
}

/** MeshConfig.enableAutoMtls, default on. */
export function autoMtlsEnabled(mesh: MeshSnapshot["mesh"]): boolean {
  return raw(mesh, "enableAutoMtls") !== false;
}

/** `spiffe://<td>/` for the trust domain and each alias, deduplicated (trustDomainsForValidation). */
export function trustDomainPrefixes(mesh: MeshSnapshot["mesh"]): string[] {
  return [...new Set([mesh.trustDomain, ...mesh.trustDomainAliases].filter((td) => td !== ""))].map((td) => `spiffe://${td}/`);
}

function tlsSocket(config: TransportSocket["configType"]): TransportSocket {
  return create(TransportSocketSchema, { name: TlsTransportSocketName, configType: config });
}

export function downstreamTlsSocket(init: MessageInitShape<typeof DownstreamTlsContextSchema>): TransportSocket {
  return tlsSocket({ case: "typedConfig", value: typedConfig(DownstreamTlsContextSchema, init) });
}

export function upstreamTlsSocket(init: MessageInitShape<typeof UpstreamTlsContextSchema>): TransportSocket {
  return tlsSocket({ case: "typedConfig", value: typedConfig(UpstreamTlsContextSchema, init) });
}

export function rawBufferTransportSocket(): TransportSocket {
  return create(TransportSocketSchema, { name: RawBufferTransportSocketName, configType: { case: "typedConfig", value: typedConfig(RawBufferSchema, {}) } });
}

/** An Envoy sidecar's inbound mTLS (BuildInboundTLS): client certificate required, SPIFFE prefix per trust domain. */
export function sidecarDownstreamTls(mesh: MeshSnapshot["mesh"], chain: "HTTP" | "TCP"): TransportSocket {
  const common: CommonTlsInit = {
    alpnProtocols: chain === "TCP" ? AlpnDownstreamWithMxc : AlpnHttp,
    tlsParams: { cipherSuites: cipherSuites(mesh), tlsMinimumProtocolVersion: minTlsVersion(mesh), tlsMaximumProtocolVersion: TlsParameters_TlsProtocol.TLSv1_3 },
    validationContextType: {
      case: "combinedValidationContext",
      value: {
        defaultValidationContext: { matchSubjectAltNames: trustDomainPrefixes(mesh).map((prefix): StringMatcherInit => ({ matchPattern: { case: "prefix", value: prefix } })) },
        validationContextSdsSecretConfig: sdsSecretConfig(SdsRootName),
      },
    },
    tlsCertificateSdsSecretConfigs: [sdsSecretConfig(SdsDefaultName)],
  };
  return downstreamTlsSocket({ commonTlsContext: common, requireClientCertificate: true });
}

/** An Envoy sidecar's ISTIO_MUTUAL upstream (buildUpstreamClusterTLSContext, ISTIO_MUTUAL case). */
export function sidecarIstioMutualUpstream(subjectAltNames: readonly string[], sni: string, http2: boolean): MessageInitShape<typeof UpstreamTlsContextSchema> {
  return {
    commonTlsContext: {
      tlsParams: { tlsMinimumProtocolVersion: TlsParameters_TlsProtocol.TLSv1_2, tlsMaximumProtocolVersion: TlsParameters_TlsProtocol.TLSv1_3 },
      tlsCertificateSdsSecretConfigs: [sdsSecretConfig(SdsDefaultName)],
      validationContextType: {
        case: "combinedValidationContext",
        value: {
          defaultValidationContext: { matchSubjectAltNames: exactMatchers(subjectAltNames) },
          validationContextSdsSecretConfig: sdsSecretConfig(SdsRootName),
        },
      },
      alpnProtocols: http2 ? AlpnInMeshH2WithMxc : AlpnInMeshWithMxc,
    },
    sni,
  };
}

export function exactMatchers(values: readonly string[]): StringMatcherInit[] {
  return values.map((v) => ({ matchPattern: { case: "exact", value: v } }));
}

/**
 * grpcgen's buildCommonTLSContext, in the fields grpc-js-xds reads. A plain validation_context
 * rather than grpcgen's combined one: Envoy's schema requires an SDS config in a combined context,
 * and gRPC has no SDS.
 */
function grpcCommonTls(subjectAltNames: readonly string[]): CommonTlsInit {
  return {
    tlsCertificateProviderInstance: { instanceName: GrpcCertificateProvider, certificateName: SdsDefaultName },
    validationContextType: {
      case: "validationContext",
      value: {
        caCertificateProviderInstance: { instanceName: GrpcCertificateProvider, certificateName: SdsRootName },
        matchSubjectAltNames: exactMatchers(subjectAltNames),
      },
    },
  };
}

/** A proxyless gRPC server's STRICT mTLS: client certificate required (no SAN check on servers). */
export function grpcDownstreamTls(): TransportSocket {
  return downstreamTlsSocket({ commonTlsContext: grpcCommonTls([]), requireClientCertificate: true });
}

/** A proxyless gRPC client's ISTIO_MUTUAL cluster. */
export function grpcIstioMutualUpstream(subjectAltNames: readonly string[]): TransportSocket {
  return upstreamTlsSocket({ commonTlsContext: grpcCommonTls(subjectAltNames) });
}
