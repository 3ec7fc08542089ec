// DestinationRule `trafficPolicy.tls` and auto-mTLS on outbound clusters, as istiod's
// buildUpstreamTLSSettings / applyUpstreamTLSSettings decide them for Envoy sidecars and as grpcgen
// does for proxyless gRPC (explicit ISTIO_MUTUAL only: a gRPC client cannot reach a PERMISSIVE
// server over mTLS, and nothing tells istiod the server is an xDS server).
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import type { ClusterSchema } from "../gen/envoy/config/cluster/v3/cluster_pb.js";
import { MetadataSchema, type Metadata } from "../gen/envoy/config/core/v3/base_pb.js";
import type { UpstreamTlsContextSchema } from "../gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.js";
import { TlsParameters_TlsProtocol } from "../gen/envoy/extensions/transport_sockets/tls/v3/common_pb.js";
import type { ClientTlsSettings } from "../model/destination-rule.js";
import { modeForPort, namespaceMtlsMode, peerAuthenticationFor } from "../model/peer-authentication.js";
import type { ServiceEntrySpec } from "../model/service-entry.js";
import { isHttp2Protocol } from "../model/service-entry.js";
import type { MeshSnapshot, Service, ServiceEndpoint } from "../model/snapshot.js";
import { TlsModeLabel } from "../model/endpoint-index.js";
import { spiffeId } from "../security/identity.js";
import type { EndpointContext, UpstreamContext } from "./extensions.js";
import {
  autoMtlsEnabled,
  exactMatchers,
  grpcIstioMutualUpstream,
  rawBufferTransportSocket,
  sdsSecretConfig,
  sidecarIstioMutualUpstream,
  upstreamTlsSocket,
} from "./mtls.js";

export type ClusterTls = Pick<MessageInitShape<typeof ClusterSchema>, "transportSocket" | "transportSocketMatches">;

export { TlsModeLabel };
/** The EDS metadata filter an endpoint's tlsMode becomes. */
export const TransportSocketMatchFilter = "envoy.transport_socket_match";
/** OS roots Istio's clients verify SIMPLE/MUTUAL servers with when no CA is given (VERIFY_CERTIFICATE_AT_CLIENT). */
export const DefaultRootCertFile = "/etc/ssl/certs/ca-certificates.crt";

/** `outbound_.<port>_.<subset>_.<host>` (BuildDNSSrvSubsetKey), the SNI of ISTIO_MUTUAL clusters. */
export function istioMutualSni(port: number, subset: string, hostname: string): string {
  return `outbound_.${port}_.${subset}_.${hostname}`;
}

/** The SPIFFE IDs a service's endpoints run as, plus the ServiceEntry's subjectAltNames, sorted. */
export function serviceSubjectAltNames(snapshot: MeshSnapshot, service: Service): string[] {
  const se = snapshot.accepted.get(service.source)?.spec as Partial<ServiceEntrySpec> | undefined;
  return [...new Set([...service.identities.map(spiffeId), ...(se?.subjectAltNames ?? [])])].sort();
}

/** Whether the endpoint speaks Istio mTLS: its tlsMode (label, else service account), else the label alone. */
export function endpointSpeaksIstioMtls(endpoint: Pick<ServiceEndpoint, "labels" | "tlsMode">): boolean {
  return (endpoint.tlsMode ?? endpoint.labels[TlsModeLabel]) === "istio";
}

/**
 * Whether a client should use Istio mTLS to this endpoint of this cluster (istiod's mtlsChecker):
 * a DestinationRule TLS mode decides alone (only ISTIO_MUTUAL); else the endpoint must speak it
 * and its own PeerAuthentication must not DISABLE mTLS on the port it listens on, so a client
 * never sends TLS to a server that only takes plaintext.
 */
export function endpointMtlsEnabled(ctx: EndpointContext): boolean {
  const drMode = ctx.trafficPolicy.tls?.mode;
  if (drMode !== undefined) return drMode === "ISTIO_MUTUAL";
  if (!endpointSpeaksIstioMtls(ctx.endpoint)) return false;
  const pa = peerAuthenticationFor(ctx.snapshot, { namespace: ctx.service.namespace, labels: ctx.endpoint.labels });
  return modeForPort(pa, ctx.endpoint.targetPorts[ctx.servicePort] ?? ctx.servicePort) !== "DISABLE";
}

/** The EDS metadata of an endpoint: Envoy picks the `tlsMode-istio` socket where it says `istio`. */
export function endpointTlsMetadata(ctx: EndpointContext): Metadata | undefined {
  return endpointMtlsEnabled(ctx) ? create(MetadataSchema, { filterMetadata: { [TransportSocketMatchFilter]: { tlsMode: "istio" } } }) : undefined;
}

function userTls(ctx: UpstreamContext, tls: ClientTlsSettings): MessageInitShape<typeof UpstreamTlsContextSchema> {
  const http2 = isHttp2Protocol(ctx.port.protocol);
  const sans = exactMatchers(tls.subjectAltNames);
  let validation: NonNullable<MessageInitShape<typeof UpstreamTlsContextSchema>["commonTlsContext"]>["validationContextType"];
  if (tls.credentialName !== undefined) {
    validation = { case: "combinedValidationContext", value: { defaultValidationContext: { matchSubjectAltNames: sans }, validationContextSdsSecretConfig: sdsSecretConfig(`${tls.credentialName}-cacert`) } };
  } else if (tls.insecureSkipVerify !== true) {
    const ca = tls.caCertificates ?? DefaultRootCertFile;
    validation = { case: "validationContext", value: { trustedCa: { specifier: { case: "filename", value: ca } }, matchSubjectAltNames: sans } };
  }
  const certs =
    tls.mode !== "MUTUAL"
      ? {}
      : tls.credentialName !== undefined
        ? { tlsCertificateSdsSecretConfigs: [sdsSecretConfig(tls.credentialName)] }
        : {
            tlsCertificates: [
              {
                certificateChain: { specifier: { case: "filename" as const, value: tls.clientCertificate ?? "" } },
                privateKey: { specifier: { case: "filename" as const, value: tls.privateKey ?? "" } },
              },
            ],
          };
  return {
    commonTlsContext: {
      tlsParams: { tlsMinimumProtocolVersion: TlsParameters_TlsProtocol.TLSv1_2, tlsMaximumProtocolVersion: TlsParameters_TlsProtocol.TLSv1_3 },
      ...(validation ? { validationContextType: validation } : {}),
      ...certs,
      ...(http2 ? { alpnProtocols: ["h2"] } : {}),
    },
    sni: tls.sni ?? "",
  };
}

function endpointsAllIstio(service: Service): boolean {
  return service.endpoints.length > 0 && service.endpoints.every(endpointSpeaksIstioMtls);
}

/** An Envoy sidecar cluster's transport socket(s). */
function sidecarClusterTls(ctx: UpstreamContext): ClusterTls {
  const { service, port, subset, trafficPolicy } = ctx;
  const sni = istioMutualSni(port.number, subset, service.hostname);
  const http2 = isHttp2Protocol(port.protocol);
  const tls = trafficPolicy.tls;
  if (tls !== undefined) {
    if (tls.mode === "DISABLE") return {};
    if (tls.mode !== "ISTIO_MUTUAL") return { transportSocket: upstreamTlsSocket(userTls(ctx, tls)) };
    const sans = tls.subjectAltNames.length > 0 ? tls.subjectAltNames : serviceSubjectAltNames(ctx.snapshot, service);
    return { transportSocket: upstreamTlsSocket(sidecarIstioMutualUpstream(sans, tls.sni ?? sni, http2)) };
  }
  // Auto-mTLS: in-mesh services whose namespace does not DISABLE mTLS.
  if (service.location === "MESH_EXTERNAL" || !autoMtlsEnabled(ctx.snapshot.mesh)) return {};
  if (namespaceMtlsMode(ctx.snapshot, service.namespace) === "DISABLE") return {};
  const socket = upstreamTlsSocket(sidecarIstioMutualUpstream(serviceSubjectAltNames(ctx.snapshot, service), sni, http2));
  if (ctx.discovery === "ORIGINAL_DST") {
    // No per-endpoint choice for original-destination clusters: TLS only when every endpoint has a sidecar.
    return endpointsAllIstio(service) ? { transportSocket: socket } : {};
  }
  return {
    transportSocketMatches: [
      { name: "tlsMode-istio", match: { tlsMode: "istio" }, transportSocket: socket },
      { name: "tlsMode-disabled", match: {}, transportSocket: rawBufferTransportSocket() },
    ],
  };
}

/** A proxyless gRPC cluster's transport socket: ISTIO_MUTUAL from a DestinationRule, else plaintext. */
function grpcClusterTls(ctx: UpstreamContext): ClusterTls {
  const tls = ctx.trafficPolicy.tls;
  if (tls?.mode !== "ISTIO_MUTUAL") return {};
  const sans = tls.subjectAltNames.length > 0 ? tls.subjectAltNames : serviceSubjectAltNames(ctx.snapshot, ctx.service);
  return { transportSocket: grpcIstioMutualUpstream(sans) };
}

export function clusterTls(ctx: UpstreamContext): ClusterTls {
  return ctx.proxy.flavour === "grpc" ? grpcClusterTls(ctx) : sidecarClusterTls(ctx);
}
