// The push benchmark's mesh, served by the real pipeline (config objects -> snapshot -> translators
// -> encode-once MeshResourceProvider): S HTTP services on 8080 in namespaces ns-0..ns-9, each a
// ServiceEntry selecting its WorkloadEntries; one WorkloadEntry per simulated sidecar (its IP, so
// every sidecar gets the inbound side of its service); a DestinationRule per service; a mesh-wide
// AuthorizationPolicy in the root namespace and an ALLOW policy per namespace. Two changes:
// a new endpoint of svc-0 (every sidecar's outbound clusters include it) and an update of the
// root-namespace policy (every sidecar's inbound listener carries it).
// With gateways: an ingress Gateway (istio-system, selector istio=ingressgateway, HTTP on 80) and
// one VirtualService per service bound to it (host svc-i.example.com), so each router proxy
// (routerNode) gets S virtual hosts in RDS http.80 and every service's clusters.
import { type MeshSnapshot } from "../src/model/snapshot.js";
import { buildSnapshot } from "../src/mesh/model.js";
import type { ConfigObject } from "../src/model/config.js";
import type { Proxy } from "../src/model/proxy.js";
import { MeshResourceProvider } from "../src/mesh/provider.js";
import { PushOrder, TypeUrl, type EncodedResource, type ProxyChange, type ResourceProvider } from "../src/xds/types.js";

const PORT = 8080;
const NAMESPACES = 10;
const ROOT_NAMESPACE = "istio-system";

export const serviceApp = (i: number): string => `svc-${i}`;
export const serviceNamespace = (i: number): string => `ns-${i % NAMESPACES}`;
export const serviceHost = (i: number): string => `svc-${i}.${serviceNamespace(i)}.svc.cluster.local`;
export const outboundCluster = (i: number): string => `outbound|${PORT}||${serviceHost(i)}`;
/** The IP of simulated sidecar `index` (the bench client uses the same). */
export const sidecarIp = (index: number): string => `10.${(index >> 16) & 255}.${(index >> 8) & 255}.${index & 255}`;

/** The node of simulated gateway (router proxy) `index`: an ingress gateway pod in istio-system. */
export function routerNode(index: number): { id: string; metadata: { NAMESPACE: string; LABELS: Record<string, string>; SERVICE_ACCOUNT: string } } {
  const ip = `172.31.${(index >> 8) & 255}.${index & 255}`;
  return { id: `router~${ip}~ingressgateway-${index}.${ROOT_NAMESPACE}~${ROOT_NAMESPACE}.svc.cluster.local`, metadata: { NAMESPACE: ROOT_NAMESPACE, LABELS: { istio: "ingressgateway" }, SERVICE_ACCOUNT: "istio-ingressgateway" } };
}

/** The RDS route configuration a router's HTTP listener on 80 names. */
export const ROUTER_ROUTE = "http.80";

function object(kind: string, apiVersion: string, name: string, namespace: string, spec: unknown): ConfigObject {
  return { apiVersion, kind, metadata: { name, namespace, labels: {}, annotations: {} }, spec, origin: { file: "bench" } };
}

function serviceEntry(i: number): ConfigObject {
  return object("ServiceEntry", "networking.istio.io/v1", serviceApp(i), serviceNamespace(i), {
    hosts: [serviceHost(i)],
    ports: [{ number: PORT, name: "http", protocol: "HTTP" }],
    location: "MESH_INTERNAL",
    resolution: "STATIC",
    workloadSelector: { labels: { app: serviceApp(i) } },
  });
}

function workloadEntry(name: string, service: number, address: string): ConfigObject {
  return object("WorkloadEntry", "networking.istio.io/v1", name, serviceNamespace(service), {
    address,
    labels: { app: serviceApp(service) },
    serviceAccount: serviceApp(service),
    locality: "us-east1/us-east1-b",
  });
}

function destinationRule(i: number): ConfigObject {
  return object("DestinationRule", "networking.istio.io/v1", serviceApp(i), serviceNamespace(i), {
    host: serviceHost(i),
    trafficPolicy: {
      loadBalancer: { simple: "LEAST_REQUEST" },
      connectionPool: { http: { http2MaxRequests: 1000, maxRequestsPerConnection: 100 } },
      outlierDetection: { consecutive5xxErrors: 5, interval: "10s", baseEjectionTime: "30s" },
    },
  });
}

function ingressGateway(): ConfigObject {
  return object("Gateway", "networking.istio.io/v1", "ingress", ROOT_NAMESPACE, {
    selector: { istio: "ingressgateway" },
    servers: [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: ["*"] }],
  });
}

function gatewayRoutes(i: number): ConfigObject {
  return object("VirtualService", "networking.istio.io/v1", `${serviceApp(i)}-ingress`, serviceNamespace(i), {
    hosts: [`${serviceApp(i)}.example.com`],
    gateways: [`${ROOT_NAMESPACE}/ingress`],
    http: [{ route: [{ destination: { host: serviceHost(i), port: { number: PORT } } }] }],
  });
}

function rootPolicy(revision: number): ConfigObject {
  const blocks = Array.from({ length: revision + 1 }, (_, k) => `203.0.${k & 255}.0/24`);
  return object("AuthorizationPolicy", "security.istio.io/v1", "deny-blocked-ranges", ROOT_NAMESPACE, {
    action: "DENY",
    rules: [{ from: [{ source: { ipBlocks: blocks } }] }],
  });
}

function namespacePolicy(ns: number): ConfigObject {
  return object("AuthorizationPolicy", "security.istio.io/v1", "allow-mesh", `ns-${ns}`, {
    action: "ALLOW",
    rules: [{ from: [{ source: { namespaces: Array.from({ length: NAMESPACES }, (_, k) => `ns-${k}`) } }] }],
  });
}

export class PushMesh implements ResourceProvider {
  private readonly provider = new MeshResourceProvider();
  private readonly fixed: ConfigObject[] = [];
  private readonly extraEndpoints: ConfigObject[] = [];
  /** Objects the risk stage adds (enforcement overlays). */
  private overlay: readonly ConfigObject[] = [];
  private policyRevision = 0;
  private snapshot: MeshSnapshot | undefined;
  /** Wall time of the last snapshot rebuild plus provider update, in ms. */
  lastRebuildMs = 0;

  constructor(
    readonly services: number,
    readonly proxies: number,
    /** With gateways: the ingress Gateway and one bound VirtualService per service. */
    readonly gateways = 0,
  ) {
    for (let i = 0; i < services; i++) this.fixed.push(serviceEntry(i), destinationRule(i));
    if (gateways > 0) {
      this.fixed.push(ingressGateway());
      for (let i = 0; i < services; i++) this.fixed.push(gatewayRoutes(i));
    }
    for (let k = 0; k < Math.min(NAMESPACES, services); k++) this.fixed.push(namespacePolicy(k));
    for (let p = 0; p < proxies; p++) this.fixed.push(workloadEntry(`${serviceApp(p % services)}-${p}`, p % services, sidecarIp(p)));
    this.rebuild();
  }

  private rebuild(): void {
    const start = performance.now();
    const objects = [...this.fixed, ...this.extraEndpoints, rootPolicy(this.policyRevision), ...this.overlay];
    this.snapshot = buildSnapshot({ objects, errors: [] }, this.snapshot);
    if (this.snapshot.errors.length > 0) throw new Error(`bench mesh config: ${this.snapshot.errors[0]?.message} (${this.snapshot.errors[0]?.object})`);
    this.provider.update(this.snapshot);
    this.lastRebuildMs = performance.now() - start;
  }

  resources(proxy: Proxy, typeUrl: TypeUrl): ReadonlyMap<string, EncodedResource> {
    return this.provider.resources(proxy, typeUrl);
  }

  onChange(listener: (c: ProxyChange) => void): () => void {
    return this.provider.onChange(listener);
  }

  /** A new endpoint (WorkloadEntry, not a simulated sidecar) for svc-0; returns the EDS name that changes. */
  addEndpoint(): { typeUrl: TypeUrl; name: string } {
    const n = this.extraEndpoints.length;
    this.extraEndpoints.push(workloadEntry(`${serviceApp(0)}-extra-${n}`, 0, `172.16.${(n >> 8) & 255}.${n & 255}`));
    this.rebuild();
    return { typeUrl: TypeUrl.ClusterLoadAssignment, name: outboundCluster(0) };
  }

  /** Updates the root-namespace DENY policy; returns the listener that changes on every sidecar. */
  updateRootPolicy(): { typeUrl: TypeUrl; name: string } {
    this.policyRevision++;
    this.rebuild();
    return { typeUrl: TypeUrl.Listener, name: "virtualInbound" };
  }

  /** Replaces the risk stage's overlay objects (as RiskWiring.configSet adds them) and rebuilds. */
  setOverlay(objects: readonly ConfigObject[]): void {
    this.overlay = objects;
    this.rebuild();
  }

  stats(): ReturnType<MeshResourceProvider["stats"]> {
    return this.provider.stats();
  }

  /** Bytes of the distinct encodings one sidecar of svc-0 (or one gateway) receives. */
  encodedBytes(kind: "sidecar" | "router" = "sidecar"): number {
    const node = routerNode(0);
    const router = {
      id: node.id,
      type: "router",
      flavour: "envoy",
      ips: [node.id.split("~")[1]!],
      podName: "ingressgateway-0",
      namespace: ROOT_NAMESPACE,
      serviceAccount: node.metadata.SERVICE_ACCOUNT,
      labels: node.metadata.LABELS,
      clusterId: "Kubernetes",
      metadata: {},
    } satisfies Proxy;
    const sidecar = {
      id: `sidecar~${sidecarIp(0)}~probe.ns-0~ns-0.svc.cluster.local`,
      type: "sidecar",
      flavour: "envoy",
      ips: [sidecarIp(0)],
      podName: "probe",
      namespace: serviceNamespace(0),
      serviceAccount: serviceApp(0),
      labels: { app: serviceApp(0) },
      clusterId: "Kubernetes",
      metadata: {},
    } satisfies Proxy;
    const probe = kind === "router" ? router : sidecar;
    let bytes = 0;
    for (const t of PushOrder) for (const r of this.provider.resources(probe, t).values()) bytes += r.bytes.length;
    return bytes;
  }
}
