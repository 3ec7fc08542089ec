// What the control plane knows about a connected proxy, taken from its xDS Node the way istiod
// reads it: node id `type~ip~podName.namespace~namespace.svc.cluster.local` and Istio metadata.
import type { Locality, Node } from "../gen/envoy/config/core/v3/base_pb.js";
import { localityString } from "./locality.js";
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";

export type ProxyType = "sidecar" | "router";
/** `envoy` for Envoy sidecars and gateways; `grpc` for proxyless gRPC (metadata GENERATOR=grpc). */
export type ProxyFlavour = "envoy" | "grpc";

export interface Proxy {
  /** The node id exactly as sent. */
  readonly id: string;
  readonly type: ProxyType;
  readonly flavour: ProxyFlavour;
  /** Pod IPs from the node id (and metadata INSTANCE_IPS when present). */
  readonly ips: readonly string[];
  readonly podName: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Cluster id (metadata CLUSTER_ID), `Kubernetes` when absent as in Istio. */
  readonly clusterId: string;
  /**
   * `region/zone/subzone` of the xDS node's `locality` ("" when unset): the proxy's own word, used
   * only when the registry knows no locality for it (locality.ts' proxyLocality).
   */
  readonly nodeLocality?: string;
  /** Raw node metadata for translators that need more. */
  readonly metadata: Readonly<JsonObject>;
}

export class ProxyNodeError extends Error {}

function str(v: JsonValue | undefined): string | undefined {
  return typeof v === "string" ? v : undefined;
}

/** Parses an xDS node into a Proxy; throws ProxyNodeError naming the bad field. */
export function parseProxyNode(node: Pick<Node, "id" | "metadata"> & { readonly locality?: Pick<Locality, "region" | "zone" | "subZone"> | undefined }): Proxy {
  const parts = node.id.split("~");
  if (parts.length !== 4) {
    throw new ProxyNodeError(`node.id "${node.id}": want type~ip~pod.namespace~namespace.svc.cluster.local`);
  }
  const [type, ip, podDotNs, domain] = parts as [string, string, string, string];
  if (type !== "sidecar" && type !== "router") {
    throw new ProxyNodeError(`node.id "${node.id}": proxy type "${type}" is neither sidecar nor router`);
  }
  const md: JsonObject = node.metadata ?? {};
  const dot = podDotNs.lastIndexOf(".");
  const podName = dot > 0 ? podDotNs.slice(0, dot) : podDotNs;
  const namespace = str(md["NAMESPACE"]) ?? (dot > 0 ? podDotNs.slice(dot + 1) : domain.split(".")[0] ?? "");
  if (namespace === "") throw new ProxyNodeError(`node.id "${node.id}": no namespace in the id or metadata NAMESPACE`);
  const labelsValue = md["LABELS"];
  const labels: Record<string, string> = {};
  if (labelsValue !== null && typeof labelsValue === "object" && !Array.isArray(labelsValue)) {
    for (const [k, v] of Object.entries(labelsValue)) if (typeof v === "string") labels[k] = v;
  }
  const ips = new Set<string>([ip]);
  const instanceIps = str(md["INSTANCE_IPS"]);
  if (instanceIps) for (const a of instanceIps.split(",")) if (a) ips.add(a.trim());
  return {
    id: node.id,
    type,
    flavour: str(md["GENERATOR"]) === "grpc" ? "grpc" : "envoy",
    ips: [...ips],
    podName,
    namespace,
    serviceAccount: str(md["SERVICE_ACCOUNT"]) ?? "default",
    labels,
    clusterId: str(md["CLUSTER_ID"]) ?? "Kubernetes",
    nodeLocality: node.locality !== undefined ? localityString(node.locality) : "",
    metadata: md,
  };
}
