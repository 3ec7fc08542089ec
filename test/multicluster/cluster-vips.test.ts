// One Service in two clusters has a ClusterIP in each (istiod's ClusterVIPs). A sidecar must match
// the address its application resolves the name to, which is its own cluster's ClusterIP: before,
// every cluster's sidecars got the first cluster's, so traffic from cluster b to 10.96.1.20 matched
// no outbound listener and left by the passthrough (no mTLS, no routing). A proxy's cluster is where
// its Pod is (or its CLUSTER_ID outside the registry); a cluster without the Service sees the first
// cluster's address.
import assert from "node:assert/strict";
import type { ConfigObject } from "../../src/model/config.js";
import { buildSnapshot } from "../../src/mesh/model.js";
import type { MeshSnapshot } from "../../src/model/snapshot.js";
import { parseProxyNode, type Proxy } from "../../src/model/proxy.js";
import { MeshResourceProvider } from "../../src/mesh/provider.js";
import { translate } from "../../src/translate/index.js";
import { TypeUrl } from "../../src/xds/types.js";

const k8s = (cluster: string, kind: string, name: string, spec: unknown, extra: Partial<ConfigObject> = {}): ConfigObject => ({
  apiVersion: kind === "EndpointSlice" ? "discovery.k8s.io/v1" : "v1",
  kind,
  metadata: { name, namespace: "shop", labels: kind === "EndpointSlice" ? { "kubernetes.io/service-name": name.split("-")[0]! } : {}, annotations: {}, uid: `uid-${cluster}-${kind}-${name}` },
  spec,
  origin: { source: "kubernetes", cluster, file: `k8s://${cluster}/${kind}/${name}`, resource: `v1/${kind} shop/${name}` },
  ...extra,
});
const service = (cluster: string, name: string, clusterIP: string, port: number, protocol: "tcp" | "http"): ConfigObject =>
  k8s(cluster, "Service", name, { clusterIP, ports: [{ name: `${protocol}-main`, port, targetPort: port }] });
const pod = (cluster: string, name: string, ip: string): ConfigObject =>
  k8s(cluster, "Pod", name, { serviceAccountName: name, containers: [] }, { status: { podIP: ip, podIPs: [{ ip }] } } as Partial<ConfigObject>);
const slice = (cluster: string, svc: string, ip: string, podName: string, port: number): ConfigObject =>
  k8s(cluster, "EndpointSlice", `${svc}-${cluster}`, { addressType: "IPv4", endpoints: [{ addresses: [ip], conditions: { ready: true }, targetRef: { kind: "Pod", name: podName } }], ports: [{ name: `x`, port }] });

const objects: ConfigObject[] = [
  // db (TCP) and web (HTTP) in both clusters, with different ClusterIPs; cache only in a.
  service("a", "db", "10.96.0.20", 5432, "tcp"),
  service("b", "db", "10.96.1.20", 5432, "tcp"),
  service("a", "web", "10.96.0.30", 8080, "http"),
  service("b", "web", "10.96.1.30", 8080, "http"),
  service("a", "cache", "10.96.0.40", 6379, "tcp"),
  pod("a", "client-a", "10.1.0.5"),
  pod("b", "client-b", "10.2.0.5"),
  pod("a", "db-a", "10.1.0.6"),
  pod("b", "db-b", "10.2.0.6"),
  slice("a", "db", "10.1.0.6", "db-a", 5432),
  slice("b", "db", "10.2.0.6", "db-b", 5432),
];

const sidecar = (podName: string, ip: string, clusterId = "Kubernetes"): Proxy =>
  parseProxyNode({ id: `sidecar~${ip}~${podName}.shop~shop.svc.cluster.local`, metadata: { NAMESPACE: "shop", CLUSTER_ID: clusterId } });

function names(s: MeshSnapshot, p: Proxy, type: TypeUrl): string[] {
  return (translate(s, p).get(type) ?? []).map((r) => r.name);
}

/** The domains of the virtual host for web.shop on the proxy's route `8080`. */
function webDomains(s: MeshSnapshot, p: Proxy): string[] {
  const route = (translate(s, p).get(TypeUrl.RouteConfiguration) ?? []).find((r) => r.name === "8080");
  assert.ok(route !== undefined, "route 8080");
  const { message } = route.build() as unknown as { message: { virtualHosts: Array<{ name: string; domains: string[] }> } };
  return message.virtualHosts.find((v) => v.name.startsWith("web.shop.svc.cluster.local"))?.domains ?? [];
}

describe("multi-cluster: each cluster's sidecars see its own ClusterIPs", () => {
  const s = buildSnapshot({ objects, errors: [] });

  it("keeps every cluster's ClusterIPs on the one host", () => {
    const db = s.services.find((x) => x.hostname === "db.shop.svc.cluster.local");
    assert.ok(db !== undefined, JSON.stringify(s.errors));
    assert.deepEqual(db.addresses, ["10.96.0.20"]);
    assert.deepEqual(Object.fromEntries(db.clusterAddresses ?? []), { a: ["10.96.0.20"], b: ["10.96.1.20"] });
    const cache = s.services.find((x) => x.hostname === "cache.shop.svc.cluster.local");
    assert.equal(cache?.clusterAddresses, undefined, "a Service in one cluster has no per-cluster addresses");
  });

  it("binds a TCP service's outbound listener to the proxy's own cluster's ClusterIP", () => {
    const a = names(s, sidecar("client-a", "10.1.0.5"), TypeUrl.Listener);
    const b = names(s, sidecar("client-b", "10.2.0.5"), TypeUrl.Listener);
    assert.ok(a.includes("10.96.0.20_5432") && !a.includes("10.96.1.20_5432"), a.join(","));
    assert.ok(b.includes("10.96.1.20_5432") && !b.includes("10.96.0.20_5432"), b.join(","));
    // cache exists only in a: b's sidecars see a's address.
    assert.ok(b.includes("10.96.0.40_6379"), b.join(","));
  });

  it("answers HTTP for the proxy's own cluster's ClusterIP", () => {
    const a = webDomains(s, sidecar("client-a", "10.1.0.5"));
    const b = webDomains(s, sidecar("client-b", "10.2.0.5"));
    assert.ok(a.includes("10.96.0.30") && !a.includes("10.96.1.30"), a.join(","));
    assert.ok(b.includes("10.96.1.30") && !b.includes("10.96.0.30"), b.join(","));
  });

  it("places a proxy by its Pod, not by the CLUSTER_ID it claims; outside the registry by its CLUSTER_ID", () => {
    assert.ok(names(s, sidecar("client-b", "10.2.0.5", "a"), TypeUrl.Listener).includes("10.96.1.20_5432"));
    assert.ok(names(s, sidecar("vm-1", "10.9.0.1", "b"), TypeUrl.Listener).includes("10.96.1.20_5432"));
  });

  it("the resource provider translates the two clusters' proxies apart", () => {
    const provider = new MeshResourceProvider();
    provider.update(s);
    const listeners = (p: Proxy) => [...provider.resources(p, TypeUrl.Listener).keys()];
    assert.ok(listeners(sidecar("client-a", "10.1.0.5")).includes("10.96.0.20_5432"));
    assert.ok(listeners(sidecar("client-b", "10.2.0.5")).includes("10.96.1.20_5432"));
  });
});
