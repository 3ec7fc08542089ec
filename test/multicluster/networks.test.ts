// Networks and clusters in the Kubernetes registry, from hand-made apiserver objects of two
// clusters: one host from a Service in both (namespace sameness), every endpoint resolved against
// its own cluster's pods and labelled with its cluster and network; the network from the pod's
// label, else its namespace's, else the cluster's (its istio-system namespace), else meshNetworks;
// east-west gateways from Services labelled with their network; a proxy placed by its Pod, not by
// the CLUSTER_ID and NETWORK it claims.
import assert from "node:assert/strict";
import type { ConfigObject } from "../../src/model/config.js";
import { buildSnapshot } from "../../src/mesh/model.js";
import type { MeshSnapshot } from "../../src/model/snapshot.js";
import { parseProxyNode } from "../../src/model/proxy.js";
import { placeProxy } from "../../src/model/placement.js";

interface Body {
  spec?: unknown;
  status?: unknown;
  labels?: Record<string, string>;
  namespace?: string;
}
const k8s = (cluster: string, apiVersion: string, kind: string, name: string, body: Body): ConfigObject => {
  const namespace = kind === "Namespace" ? "" : body.namespace ?? "shop";
  return {
    apiVersion,
    kind,
    metadata: { name, namespace, labels: body.labels ?? {}, annotations: {}, uid: `uid-${cluster}-${name}` },
    spec: body.spec,
    ...(body.status !== undefined ? { status: body.status } : {}),
    origin: { source: "kubernetes", cluster, file: `k8s://${cluster}/${kind}/${name}`, resource: `${apiVersion}/${kind} ${namespace}/${name}` },
  };
};
const ns = (cluster: string, name: string, labels: Record<string, string> = {}): ConfigObject => k8s(cluster, "v1", "Namespace", name, { labels });
const cart = (cluster: string, port: number): ConfigObject => k8s(cluster, "v1", "Service", "cart", { spec: { clusterIP: "10.96.0.10", ports: [{ name: "grpc", port: 9090, targetPort: port }] } });
const pod = (cluster: string, name: string, ip: string, labels: Record<string, string> = {}): ConfigObject =>
  k8s(cluster, "v1", "Pod", name, { labels, spec: { serviceAccountName: "cart", containers: [] }, status: { podIP: ip, podIPs: [{ ip }] } });
const slice = (cluster: string, name: string, ips: [string, string][]): ConfigObject =>
  k8s(cluster, "discovery.k8s.io/v1", "EndpointSlice", name, {
    labels: { "kubernetes.io/service-name": "cart" },
    spec: { addressType: "IPv4", endpoints: ips.map(([ip, p]) => ({ addresses: [ip], conditions: { ready: true }, targetRef: { kind: "Pod", name: p } })), ports: [] },
  });
const gateway = (cluster: string, network: string, ip: string): ConfigObject =>
  k8s(cluster, "v1", "Service", "istio-eastwestgateway", {
    namespace: "istio-system",
    labels: { "topology.istio.io/network": network },
    spec: { type: "LoadBalancer", clusterIP: "10.96.0.99", ports: [{ name: "tls", port: 15443 }] },
    status: { loadBalancer: { ingress: [{ ip }] } },
  });

const mesh = { doc: { meshNetworks: { networks: { "net-vm": { endpoints: [{ fromCidr: "10.9.0.0/16" }] }, "net-c": { endpoints: [{ fromRegistry: "c" }] } } } }, file: "mesh.yaml" };
const build = (objects: ConfigObject[]): MeshSnapshot => buildSnapshot({ mesh, objects, errors: [] });

describe("networks and clusters in the Kubernetes registry", () => {
  const objects = [
    ns("a", "istio-system", { "topology.istio.io/network": "net-a" }),
    ns("a", "shop"),
    cart("a", 8080),
    pod("a", "cart-1", "10.1.0.1"),
    pod("a", "cart-2", "10.1.0.2", { "topology.istio.io/network": "net-pod" }),
    slice("a", "cart-a", [["10.1.0.1", "cart-1"], ["10.1.0.2", "cart-2"]]),
    gateway("a", "net-a", "192.0.2.1"),
    // Cluster b: the namespace says the network; the same pod name as in a is another pod.
    ns("b", "shop", { "topology.istio.io/network": "net-b" }),
    cart("b", 8081),
    pod("b", "cart-1", "10.2.0.1"),
    slice("b", "cart-b", [["10.2.0.1", "cart-1"]]),
    gateway("b", "net-b", "192.0.2.2"),
    // Cluster c: no labels; meshNetworks' fromRegistry says the network.
    cart("c", 8082),
    pod("c", "cart-9", "10.3.0.1"),
    slice("c", "cart-c", [["10.3.0.1", "cart-9"]]),
  ];

  it("makes one host of a Service in several clusters, each endpoint with its cluster, network and own target port", () => {
    const s = build(objects);
    const svc = s.services.find((x) => x.hostname === "cart.shop.svc.cluster.local");
    assert.ok(svc !== undefined, JSON.stringify(s.errors));
    assert.deepEqual(
      svc.endpoints.map((e) => [e.address, e.cluster, e.network, e.targetPorts[9090], e.labels["topology.istio.io/cluster"], e.labels["topology.istio.io/network"]]),
      [
        ["10.1.0.1", "a", "net-a", 8080, "a", "net-a"],
        ["10.1.0.2", "a", "net-pod", 8080, "a", "net-pod"],
        ["10.2.0.1", "b", "net-b", 8081, "b", "net-b"],
        ["10.3.0.1", "c", "net-c", 8082, "c", "net-c"],
      ],
    );
    assert.deepEqual(s.errors, []);
    assert.equal(s.allPods.length, 4);
  });

  it("finds each network's east-west gateway from Services labelled with it", () => {
    const s = build(objects);
    assert.deepEqual(Object.fromEntries([...s.networkGateways].map(([n, gws]) => [n, gws.map((g) => `${g.address}:${g.port}`)])), { "net-a": ["192.0.2.1:15443"], "net-b": ["192.0.2.2:15443"] });
  });

  it("places a proxy by its Pod in the registry, whatever CLUSTER_ID and NETWORK it claims", () => {
    const s = build(objects);
    const liar = parseProxyNode({ id: "sidecar~10.2.0.1~cart-1.shop~shop.svc.cluster.local", metadata: { NAMESPACE: "shop", CLUSTER_ID: "a", NETWORK: "net-a" } });
    assert.deepEqual({ ...placeProxy(s, liar), pod: undefined }, { cluster: "b", network: "net-b", pod: undefined, by: "registry" });
    // Unknown to the registry: its word, then meshNetworks by address.
    const vm = parseProxyNode({ id: "sidecar~10.9.0.7~vm-1.shop~shop.svc.cluster.local", metadata: { NAMESPACE: "shop", CLUSTER_ID: "vms" } });
    assert.deepEqual(placeProxy(s, vm), { cluster: "vms", network: "net-vm", by: "metadata" });
  });

  it("rejects a meshNetworks entry it cannot read, naming the field path, and keeps the last good mesh config", () => {
    const good = build(objects);
    const bad = buildSnapshot({ mesh: { doc: { meshNetworks: { networks: { x: { endpoints: [{ fromCidr: "10.0.0.0/99" }], gateways: [{ address: "192.0.2.9" }] } } } }, file: "mesh.yaml" }, objects, errors: [] }, good);
    const paths = bad.errors.filter((e) => e.file === "mesh.yaml").map((e) => e.path);
    assert.ok(paths.includes("meshNetworks.networks.x.endpoints[0].fromCidr"), JSON.stringify(bad.errors));
    assert.ok(paths.includes("meshNetworks.networks.x.gateways[0].port"), JSON.stringify(bad.errors));
    assert.equal(bad.mesh, good.mesh, "the last good mesh config keeps serving");
  });
});
