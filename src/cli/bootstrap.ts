// `meshward bootstrap --type sidecar|router`: the Envoy bootstrap a sidecar or gateway needs to
// reach meshward, in the shape of Istio's envoy_bootstrap.json: ADS over gRPC to the TLS port
// (15012) with the proxy's certificate and the mesh root taken by SDS from the node agent's
// identity socket (the agent identifies the caller from the kernel, so the proxy proves who it is
// without holding a key on disk), Istio's node id and metadata, the admin endpoint on loopback and
// Prometheus stats on 15090. The result is checked against Envoy's validate.rules before printing.
import { fromJson, toJson, createRegistry, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { isIP } from "node:net";
import { stringify as stringifyYaml } from "yaml";
import { BootstrapSchema, file_envoy_config_bootstrap_v3_bootstrap } from "../gen/envoy/config/bootstrap/v3/bootstrap_pb.js";
import { file_envoy_extensions_transport_sockets_tls_v3_tls } from "../gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.js";
import { file_envoy_extensions_upstreams_http_v3_http_protocol_options } from "../gen/envoy/extensions/upstreams/http/v3/http_protocol_options_pb.js";
import { file_envoy_extensions_filters_network_http_connection_manager_v3_http_connection_manager } from "../gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js";
import { file_envoy_extensions_filters_http_router_v3_router } from "../gen/envoy/extensions/filters/http/router/v3/router_pb.js";
import { formatViolations, validateMessage } from "../validate/pgv.js";
import { parseProxyNode, ProxyNodeError, type ProxyType } from "../model/proxy.js";
import { DEFAULT_SECRET, ROOT_SECRET } from "../ca/sds.js";
import { ISTIOD_DNS_NAMES } from "../ca/serving-credentials.js";
import { FlagError, parseFlags, parseLabels, runCommand } from "./flags.js";
import { parseLocality } from "../model/locality.js";
import type { Command } from "./main.js";

/**
 * The node agent's identity socket (SDS + SPIFFE Workload API), as `meshward agent` serves it
 * (agent/identity/identity-socket.ts; a copy so this command does not load the agent's native
 * modules, and a test keeps the two equal).
 */
export const DEFAULT_SDS_SOCKET = "/var/run/meshward/identity.sock";

const USAGE = `usage: meshward bootstrap --type sidecar|router (--node <id> | --pod <name> [--namespace <ns>] [--ip <ip>]) [flags]

Prints the Envoy bootstrap (JSON, or YAML with -o yaml) for a sidecar or a gateway (router) to
reach meshward: ADS over gRPC with mTLS on the TLS port, its certificate and the mesh root by SDS
from the node agent's identity socket, admin on loopback and Prometheus stats.
  --type                 sidecar or router (required)
  --node                 the full node id, type~ip~pod.namespace~namespace.svc.cluster.local
  --pod, --namespace     build the node id from these (namespace default "default")
  --ip                   the pod IP in the node id (default 127.0.0.1)
  --labels k=v,...       the workload's labels (node metadata LABELS)
  --cluster-id           node metadata CLUSTER_ID (default Kubernetes)
  --locality r[/z[/s]]   node.locality, used only when meshward's registry knows no locality
                         for the workload (default none)
  --discovery-address    meshward's TLS xDS address (default 127.0.0.1:15012)
  --sds-socket           the node agent's identity socket (default ${DEFAULT_SDS_SOCKET})
  --admin-port           Envoy admin on 127.0.0.1 (default 15000)
  --stats-port           Prometheus stats listener, /stats/prometheus (default 15090; 0: none)
  -o, --output           json (default) or yaml`;

export interface BootstrapRequest {
  readonly type: ProxyType;
  readonly nodeId: string;
  readonly serviceCluster: string;
  readonly namespace: string;
  readonly ips: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  readonly clusterId: string;
  /** node.locality as written (`region/zone/subzone`); absent: none. */
  readonly locality?: string;
  readonly discoveryAddress: { readonly host: string; readonly port: number };
  readonly sdsSocket: string;
  readonly adminPort: number;
  readonly statsPort: number;
}

/** Every message the bootstrap's Any fields carry, so it renders and validates with its @type. */
export const bootstrapTypeRegistry = createRegistry(
  file_envoy_config_bootstrap_v3_bootstrap,
  file_envoy_extensions_transport_sockets_tls_v3_tls,
  file_envoy_extensions_upstreams_http_v3_http_protocol_options,
  file_envoy_extensions_filters_network_http_connection_manager_v3_http_connection_manager,
  file_envoy_extensions_filters_http_router_v3_router,
);

const XDS_CLUSTER = "xds-grpc";
const SDS_CLUSTER = "sds-grpc";

function port(v: string, flag: string, allowZero = false): number {
  const n = /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n > 65535 || (n === 0 && !allowZero)) throw new FlagError(`--${flag} must be a port number, found "${v}"`);
  return n;
}

function hostPort(v: string, flag: string): { host: string; port: number } {
  const i = v.lastIndexOf(":");
  if (i <= 0) throw new FlagError(`--${flag} must be host:port, found "${v}"`);
  return { host: v.slice(0, i).replace(/^\[(.*)\]$/, "$1"), port: port(v.slice(i + 1), flag) };
}

export function parseBootstrapArgs(args: readonly string[]): { req: BootstrapRequest; output: "json" | "yaml" } {
  const { values } = parseFlags(args, {
    type: { type: "string" }, node: { type: "string" }, pod: { type: "string" }, namespace: { type: "string" }, ip: { type: "string" },
    labels: { type: "string" }, "cluster-id": { type: "string", default: "Kubernetes" }, locality: { type: "string" },
    "discovery-address": { type: "string", default: "127.0.0.1:15012" }, "sds-socket": { type: "string", default: DEFAULT_SDS_SOCKET },
    "admin-port": { type: "string", default: "15000" }, "stats-port": { type: "string", default: "15090" },
    output: { type: "string", short: "o", default: "json" },
  });
  const type = values.type;
  if (type !== "sidecar" && type !== "router") throw new FlagError(type === undefined ? "--type is required (sidecar or router)" : `--type must be sidecar or router, found "${type}"`);
  if (values.output !== "json" && values.output !== "yaml") throw new FlagError(`-o must be json or yaml, found "${values.output}"`);
  let nodeId = values.node;
  if (nodeId === undefined) {
    if (values.pod === undefined) throw new FlagError("--node or --pod is required");
    const ns = values.namespace ?? "default";
    nodeId = `${type}~${values.ip ?? "127.0.0.1"}~${values.pod}.${ns}~${ns}.svc.cluster.local`;
  } else if (values.pod !== undefined || values.ip !== undefined) {
    throw new FlagError("--node already names the pod and IP: give --node or --pod/--ip, not both");
  }
  const labels = parseLabels(values.labels);
  const locality = values.locality;
  if (locality !== undefined && (locality === "" || locality.split("/").length > 3)) throw new FlagError(`--locality must be region[/zone[/subzone]], found "${locality}"`);
  let proxy;
  try {
    // The same reading the server applies to the node it receives.
    proxy = parseProxyNode({ id: nodeId, metadata: { ...(values.namespace !== undefined ? { NAMESPACE: values.namespace } : {}) } });
  } catch (e) {
    if (e instanceof ProxyNodeError) throw new FlagError(`--node: ${e.message}`);
    throw e;
  }
  if (proxy.type !== type) throw new FlagError(`--node "${nodeId}" is a ${proxy.type}, but --type is ${type}`);
  const badIp = proxy.ips.find((ip) => isIP(ip) === 0);
  if (badIp !== undefined) throw new FlagError(`${values.node !== undefined ? "--node" : "--ip"}: "${badIp}" is not an IP address`);
  return {
    req: {
      type,
      nodeId,
      // Istio's service cluster: the app label (else the pod name) and the namespace.
      serviceCluster: `${labels["app"] ?? proxy.podName}.${proxy.namespace}`,
      namespace: proxy.namespace,
      ips: proxy.ips,
      labels,
      clusterId: values["cluster-id"],
      ...(locality !== undefined ? { locality } : {}),
      discoveryAddress: hostPort(values["discovery-address"], "discovery-address"),
      sdsSocket: values["sds-socket"],
      adminPort: port(values["admin-port"], "admin-port"),
      statsPort: port(values["stats-port"], "stats-port", true),
    },
    output: values.output,
  };
}

/** Envoy's node.locality from `region/zone/subzone`: only the parts that are set. */
function nodeLocality(locality: string): JsonObject {
  const { region, zone, subZone } = parseLocality(locality);
  return { ...(region !== "" ? { region } : {}), ...(zone !== "" ? { zone } : {}), ...(subZone !== "" ? { subZone } : {}) };
}

const V3 = "V3";
const sdsSecret = (name: string): JsonObject => ({
  name,
  sdsConfig: { apiConfigSource: { apiType: "GRPC", transportApiVersion: V3, grpcServices: [{ envoyGrpc: { clusterName: SDS_CLUSTER } }] }, resourceApiVersion: V3 },
});
const http2Only: JsonObject = {
  "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
    "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
    explicitHttpConfig: { http2ProtocolOptions: {} },
  },
};
const isIp = (h: string): boolean => isIP(h) !== 0;
const socketAddress = (address: string, portValue: number): JsonObject => ({ address: { socketAddress: { address, portValue } } });

/** The bootstrap as proto3 JSON (before the round trip through the message type). */
function bootstrapJson(r: BootstrapRequest): JsonObject {
  const metadata: JsonObject = {
    NAMESPACE: r.namespace,
    INSTANCE_IPS: r.ips.join(","),
    CLUSTER_ID: r.clusterId,
    ...(Object.keys(r.labels).length > 0 ? { LABELS: { ...r.labels } } : {}),
  };
  const xds: JsonObject = {
    name: XDS_CLUSTER,
    type: isIp(r.discoveryAddress.host) ? "STATIC" : "STRICT_DNS",
    connectTimeout: "1s",
    typedExtensionProtocolOptions: http2Only,
    loadAssignment: { clusterName: XDS_CLUSTER, endpoints: [{ lbEndpoints: [{ endpoint: socketAddress(r.discoveryAddress.host, r.discoveryAddress.port) }] }] },
    transportSocket: {
      name: "envoy.transport_sockets.tls",
      typedConfig: {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
        sni: ISTIOD_DNS_NAMES[0],
        commonTlsContext: {
          tlsCertificateSdsSecretConfigs: [sdsSecret(DEFAULT_SECRET)],
          combinedValidationContext: {
            defaultValidationContext: { matchTypedSubjectAltNames: [{ sanType: "DNS", matcher: { exact: ISTIOD_DNS_NAMES[0] } }] },
            validationContextSdsSecretConfig: sdsSecret(ROOT_SECRET),
          },
          alpnProtocols: ["h2"],
        },
      },
    },
  };
  const sds: JsonObject = {
    name: SDS_CLUSTER,
    type: "STATIC",
    connectTimeout: "1s",
    typedExtensionProtocolOptions: http2Only,
    loadAssignment: { clusterName: SDS_CLUSTER, endpoints: [{ lbEndpoints: [{ endpoint: { address: { pipe: { path: r.sdsSocket } } } }] }] },
  };
  const clusters: JsonValue[] = [xds, sds];
  const listeners: JsonValue[] = [];
  if (r.statsPort !== 0) {
    clusters.push({
      name: "prometheus_stats",
      type: "STATIC",
      connectTimeout: "0.250s",
      loadAssignment: { clusterName: "prometheus_stats", endpoints: [{ lbEndpoints: [{ endpoint: socketAddress("127.0.0.1", r.adminPort) }] }] },
    });
    listeners.push({
      name: "prometheus_stats",
      address: { socketAddress: { address: "0.0.0.0", portValue: r.statsPort } },
      filterChains: [{
        filters: [{
          name: "envoy.filters.network.http_connection_manager",
          typedConfig: {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            statPrefix: "stats",
            routeConfig: {
              virtualHosts: [{
                name: "backend",
                domains: ["*"],
                routes: [{ match: { prefix: "/stats/prometheus" }, route: { cluster: "prometheus_stats" } }],
              }],
            },
            httpFilters: [{ name: "envoy.filters.http.router", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
          },
        }],
      }],
    });
  }
  return {
    node: { id: r.nodeId, cluster: r.serviceCluster, ...(r.locality !== undefined ? { locality: nodeLocality(r.locality) } : {}), metadata },
    admin: { address: socketAddress("127.0.0.1", r.adminPort)["address"] as JsonObject },
    dynamicResources: {
      adsConfig: { apiType: "GRPC", transportApiVersion: V3, setNodeOnFirstMessageOnly: true, grpcServices: [{ envoyGrpc: { clusterName: XDS_CLUSTER } }] },
      cdsConfig: { ads: {}, resourceApiVersion: V3, initialFetchTimeout: "0s" },
      ldsConfig: { ads: {}, resourceApiVersion: V3, initialFetchTimeout: "0s" },
    },
    staticResources: { clusters, listeners },
    statsConfig: { useAllDefaultTags: false, statsTags: [{ tagName: "cluster_name", regex: "^cluster\\.((.+?(\\..+?\\.svc\\.cluster\\.local)?)\\.)" }] },
  };
}

/** The bootstrap as Envoy's proto3 JSON, or the validate.rules violations that stop it. */
export function buildBootstrap(r: BootstrapRequest): { json: JsonValue } | { violations: string } {
  const message = fromJson(BootstrapSchema, bootstrapJson(r), { registry: bootstrapTypeRegistry });
  const violations = formatViolations(validateMessage(BootstrapSchema, message, { strictAny: true }));
  if (violations !== "") return { violations };
  return { json: toJson(BootstrapSchema, message, { registry: bootstrapTypeRegistry }) };
}

export const bootstrapCommand: Command = {
  summary: "print the Envoy bootstrap for a sidecar or gateway to reach meshward (ADS over mTLS, SDS from the node agent)",
  run: (args) =>
    runCommand("bootstrap", USAGE, () => {
      const { req, output } = parseBootstrapArgs(args);
      const out = buildBootstrap(req);
      if ("violations" in out) {
        console.error(`meshward bootstrap: the bootstrap breaks Envoy's validate.rules:\n${out.violations}`);
        return 1;
      }
      process.stdout.write(output === "yaml" ? stringifyYaml(out.json) : `${JSON.stringify(out.json, null, 2)}\n`);
      return 0;
    }),
};
