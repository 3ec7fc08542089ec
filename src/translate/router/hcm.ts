// What istiod's buildGatewayConnectionManager sets on a gateway's HTTP connection managers: the
// gateway is where traffic enters the mesh, so it uses the downstream address as the client's
// (`use_remote_address`), trusts exactly `gatewayTopology.numTrustedProxies` X-Forwarded-For hops
// in front of it (what `remoteIpBlocks` in authorization then sees as the real client), and
// sanitises then sets the client certificate header (XFCC) itself.
import { HttpConnectionManager_ForwardClientCertDetails as Xfcc } from "../../gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js";
import type { Proxy } from "../../model/proxy.js";
import type { MeshConfig } from "../../model/mesh-config.js";
import { EnvoyServerName, sidecarHcmOptions, type HcmInit } from "../http-options.js";
import type { TranslationScope } from "../common.js";

const xfccModes: Readonly<Record<string, Xfcc>> = {
  SANITIZE: Xfcc.SANITIZE,
  FORWARD_ONLY: Xfcc.FORWARD_ONLY,
  APPEND_FORWARD: Xfcc.APPEND_FORWARD,
  SANITIZE_SET: Xfcc.SANITIZE_SET,
  ALWAYS_FORWARD_ONLY: Xfcc.ALWAYS_FORWARD_ONLY,
};

/** The gateway's topology: proxies in front of it, and what to do with a client certificate header. */
export interface GatewayTopology {
  readonly numTrustedProxies: number;
  readonly forwardClientCertDetails?: string;
}

function record(v: unknown): Readonly<Record<string, unknown>> | undefined {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function topologyFrom(v: unknown): Partial<GatewayTopology> | undefined {
  const t = record(v);
  if (t === undefined) return undefined;
  const n = t["numTrustedProxies"];
  const f = t["forwardClientCertDetails"];
  return {
    ...(typeof n === "number" && Number.isInteger(n) && n >= 0 ? { numTrustedProxies: n } : {}),
    ...(typeof f === "string" && f in xfccModes ? { forwardClientCertDetails: f } : {}),
  };
}

/**
 * ProxyConfig.gatewayTopology for a gateway: the pod's `proxy.istio.io/config` annotation as its
 * agent sends it (node metadata PROXY_CONFIG, istiod's ProxyConfigOrDefault), field by field over
 * MeshConfig `defaultConfig.gatewayTopology`; default 0 trusted proxies.
 */
export function gatewayTopology(mesh: MeshConfig, proxy: Pick<Proxy, "metadata">): GatewayTopology {
  const fromMesh = topologyFrom(mesh.defaultConfig["gatewayTopology"]) ?? {};
  const fromPod = topologyFrom(record(proxy.metadata["PROXY_CONFIG"])?.["gatewayTopology"]) ?? {};
  const merged = { ...fromMesh, ...fromPod };
  return { numTrustedProxies: merged.numTrustedProxies ?? 0, ...(merged.forwardClientCertDetails ? { forwardClientCertDetails: merged.forwardClientCertDetails } : {}) };
}

/** The connection-manager settings of a gateway HTTP chain. */
export function gatewayHcmOptions(scope: TranslationScope): HcmInit {
  const topology = gatewayTopology(scope.snapshot.mesh, scope.proxy);
  const xfcc = topology.forwardClientCertDetails !== undefined ? xfccModes[topology.forwardClientCertDetails]! : Xfcc.SANITIZE_SET;
  const base = sidecarHcmOptions(scope.snapshot.mesh, "outbound", false);
  return {
    ...base,
    useRemoteAddress: true,
    ...(topology.numTrustedProxies > 0 ? { xffNumTrustedHops: topology.numTrustedProxies } : {}),
    forwardClientCertDetails: xfcc,
    ...(xfcc === Xfcc.APPEND_FORWARD || xfcc === Xfcc.SANITIZE_SET ? { setCurrentClientCertDetails: { subject: true, cert: true, dns: true, uri: true } } : {}),
    serverName: EnvoyServerName,
    httpProtocolOptions: {},
  };
}
