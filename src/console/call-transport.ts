// How a call from one workload to a service endpoint travels, for the console's "who may call
// whom": Istio mTLS, plaintext, or refused before authorization (a plaintext client to a STRICT
// server, Istio mTLS to a server whose mTLS is DISABLEd). The client side is an Envoy sidecar's, as
// istiod builds its cluster (mtls-upstream.ts): the DestinationRule's TLS mode, else auto-mTLS;
// proxyless gRPC clients use mTLS only with a DestinationRule ISTIO_MUTUAL.
import { effectiveTrafficPolicy } from "../model/destination-rule.js";
import { destinationRuleFor } from "../model/lookup.js";
import { modeForPort, namespaceMtlsMode, peerAuthenticationFor, type EffectiveMtlsMode } from "../model/peer-authentication.js";
import type { ServicePortSpec } from "../model/service-entry.js";
import type { MeshSnapshot, Service, ServiceEndpoint } from "../model/snapshot.js";
import { autoMtlsEnabled } from "../translate/mtls.js";
import { endpointSpeaksIstioMtls } from "../translate/mtls-upstream.js";

export type CallTransport = "mTLS" | "plaintext" | "refused";

export interface TransportVerdict {
  readonly transport: CallTransport;
  /** What the client sends and why: `DestinationRule ns/name: ISTIO_MUTUAL`, `auto mTLS`, ... */
  readonly client: string;
  /** The server's PeerAuthentication mode on the port it listens on. */
  readonly server: EffectiveMtlsMode;
  /** Why the connection is refused, when it is. */
  readonly refusal?: string;
}

export function callTransport(snapshot: MeshSnapshot, fromNamespace: string, service: Service, port: ServicePortSpec, endpoint: ServiceEndpoint): TransportVerdict {
  const dr = destinationRuleFor(snapshot, fromNamespace, service);
  const tls = effectiveTrafficPolicy(dr?.spec, port.number).tls?.mode;
  const server = modeForPort(peerAuthenticationFor(snapshot, { namespace: service.namespace, labels: endpoint.labels }), endpoint.targetPorts[port.number] ?? port.number);
  let mtls: boolean;
  let client: string;
  if (dr !== undefined && tls !== undefined) {
    mtls = tls === "ISTIO_MUTUAL";
    client = `${dr.ref}: ${tls}`;
  } else {
    mtls = service.location !== "MESH_EXTERNAL" && autoMtlsEnabled(snapshot.mesh) && namespaceMtlsMode(snapshot, service.namespace) !== "DISABLE" && endpointSpeaksIstioMtls(endpoint) && server !== "DISABLE";
    client = mtls ? "auto mTLS" : "plaintext (no auto mTLS to this endpoint)";
  }
  if (!mtls && server === "STRICT") return { transport: "refused", client, server, refusal: `${client} to a server in mTLS mode STRICT` };
  if (mtls && server === "DISABLE") return { transport: "refused", client, server, refusal: `${client} to a server in mTLS mode DISABLE` };
  return { transport: mtls ? "mTLS" : "plaintext", client, server };
}
