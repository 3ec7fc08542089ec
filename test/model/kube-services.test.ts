// The Kubernetes service registry as istiod reads it, from hand-made apiserver objects: hosts,
// protocols (appProtocol, then the port name), targetPort by number, by the slice and by the pods'
// named ports, ready endpoints only, headless Services, pod labels and service accounts as the
// workload's, ServiceEntries alongside, and unchanged inputs not rebuilt.
import assert from "node:assert/strict";
import type { ConfigObject } from "../../src/model/config.js";
import { buildSnapshot, meshKinds } from "../../src/mesh/model.js";
import { kubePortProtocol } from "../../src/model/kube-objects.js";
import type { MeshSnapshot } from "../../src/model/snapshot.js";
import { snapshotChange } from "../../src/model/changes.js";
import { parseProxyNode } from "../../src/model/proxy.js";

const k8s = (apiVersion: string, kind: string, name: string, body: { spec?: unknown; status?: unknown; labels?: Record<string, string>; namespace?: string }): ConfigObject => ({
  apiVersion,
  kind,
  metadata: { name, namespace: body.namespace ?? "shop", labels: body.labels ?? {}, annotations: {}, uid: `uid-${name}` },
  spec: body.spec,
  ...(body.status !== undefined ? { status: body.status } : {}),
  origin: { source: "kubernetes", cluster: "Kubernetes", file: `k8s://Kubernetes/${kind}/${name}`, resource: `${apiVersion}/${kind} shop/${name}` },
});

const service = (name: string, spec: unknown): ConfigObject => k8s("v1", "Service", name, { spec });
const pod = (name: string, ip: string, sa: string, labels: Record<string, string>, namedPorts: Record<string, number> = {}): ConfigObject =>
  k8s("v1", "Pod", name, {
    labels,
    spec: { serviceAccountName: sa, nodeName: "node-a", containers: [{ name: "c", ports: Object.entries(namedPorts).map(([n, p]) => ({ name: n, containerPort: p })) }] },
    status: { podIP: ip, podIPs: [{ ip }] },
  });
const slice = (name: string, svc: string, endpoints: { ip: string; pod?: string; ready?: boolean }[], ports: { name: string; port: number }[] = []): ConfigObject =>
  k8s("discovery.k8s.io/v1", "EndpointSlice", name, {
    labels: { "kubernetes.io/service-name": svc },
    spec: { addressType: "IPv4", endpoints: endpoints.map((e) => ({ addresses: [e.ip], conditions: { ready: e.ready ?? true }, ...(e.pod ? { targetRef: { kind: "Pod", name: e.pod } } : {}) })), ports },
  });
const build = (objects: ConfigObject[], previous?: MeshSnapshot): MeshSnapshot => buildSnapshot({ objects, errors: [] }, previous);

describe("Kubernetes service registry", () => {
  it("reads protocols as istiod: UDP, then appProtocol, then the port name's prefix, else TCP", () => {
    assert.equal(kubePortProtocol("http-web", "TCP", undefined), "HTTP");
    assert.equal(kubePortProtocol("web", "TCP", "grpc"), "GRPC");
    assert.equal(kubePortProtocol("tcp-x", "TCP", "kubernetes.io/h2c"), "HTTP2");
    assert.equal(kubePortProtocol("grpc-web-ui", "TCP", undefined), "GRPC-WEB");
    assert.equal(kubePortProtocol("http", "UDP", "http"), "UDP");
    assert.equal(kubePortProtocol("metrics", "TCP", undefined), "TCP");
    assert.equal(kubePortProtocol("udp-dns", "TCP", undefined), "TCP", "a UDP name prefix does not make a TCP port UDP");
  });

  it("serves <svc>.<ns>.svc.<domain> on its ClusterIPs with its ready endpoints, pod labels and service accounts", () => {
    const s = build([
      service("cart", { clusterIP: "10.96.0.10", clusterIPs: ["10.96.0.10"], ports: [{ name: "http", port: 80, targetPort: 8080 }, { name: "grpc-api", port: 9090, targetPort: "api" }] }),
      pod("cart-1", "10.244.0.1", "cart", { app: "cart", v: "1" }, { api: 9001 }),
      pod("cart-2", "10.244.0.2", "cart-v2", { app: "cart", v: "2" }, { api: 9002 }),
      pod("cart-3", "10.244.0.3", "cart", { app: "cart", v: "1" }, { api: 9003 }),
      slice("cart-a", "cart", [{ ip: "10.244.0.1", pod: "cart-1" }, { ip: "10.244.0.2", pod: "cart-2" }, { ip: "10.244.0.3", pod: "cart-3", ready: false }], [{ name: "http", port: 8080 }]),
    ]);
    const cart = s.services.find((x) => x.hostname === "cart.shop.svc.cluster.local");
    assert.ok(cart !== undefined, JSON.stringify(s.errors));
    assert.deepEqual(cart.addresses, ["10.96.0.10"]);
    assert.equal(cart.resolution, "STATIC");
    assert.deepEqual(cart.ports.map((p) => [p.number, p.protocol]), [[80, "HTTP"], [9090, "GRPC"]]);
    assert.deepEqual(
      cart.endpoints.map((e) => [e.address, e.targetPorts[80], e.targetPorts[9090], e.identity.serviceAccount, e.labels["v"]]),
      [["10.244.0.1", 8080, 9001, "cart", "1"], ["10.244.0.2", 8080, 9002, "cart-v2", "2"]],
      "targetPort from the slice by port name, or by the pod's named container port; the unready pod left out",
    );
    assert.deepEqual(cart.identities.map((i) => i.serviceAccount).sort(), ["cart", "cart-v2"]);
    assert.deepEqual(s.endpointsByIp.get("10.244.0.3")?.map((t) => t.service.hostname), ["cart.shop.svc.cluster.local"], "the unready pod still serves its Service inbound");
    assert.deepEqual(s.pods.get("shop/cart-2"), { namespace: "shop", name: "cart-2", uid: "uid-cart-2", cluster: "Kubernetes", ips: ["10.244.0.2"], node: "node-a", serviceAccount: "cart-v2", labels: { app: "cart", v: "2" } });
    assert.equal(s.others.has("Pod") || s.others.has("Service") || s.others.has("EndpointSlice"), false, "Kubernetes kinds feed the registry, not the policy bag");
  });

  it("serves a headless Service by original destination, and a ServiceEntry alongside", () => {
    const s = build([
      service("db", { clusterIP: "None", ports: [{ name: "tcp", port: 5432 }] }),
      slice("db-a", "db", [{ ip: "10.244.1.1" }]),
      k8s("networking.istio.io/v1", "ServiceEntry", "ext", { spec: { hosts: ["api.example.com"], ports: [{ number: 443, name: "tls", protocol: "TLS" }], resolution: "DNS", location: "MESH_EXTERNAL" } }),
    ]);
    const db = s.services.find((x) => x.hostname === "db.shop.svc.cluster.local");
    assert.equal(db?.resolution, "NONE");
    assert.deepEqual(db?.addresses, []);
    assert.deepEqual(db?.endpoints.map((e) => [e.address, e.targetPorts[5432], e.identity.serviceAccount]), [["10.244.1.1", 5432, "default"]]);
    assert.ok(s.services.some((x) => x.hostname === "api.example.com"));
  });

  it("names Service hosts under the configured domain", () => {
    const s = buildSnapshot({ objects: [service("cart", { clusterIP: "10.96.0.10", ports: [{ name: "http", port: 80 }] })], errors: [] }, undefined, meshKinds("corp.example"));
    assert.deepEqual(s.services.map((x) => x.hostname), ["cart.shop.svc.corp.example"]);
  });

  it("rebuilds a Service only when its inputs changed, and a pod change touches the proxies that see it", () => {
    const cart = service("cart", { clusterIP: "10.96.0.10", ports: [{ name: "http", port: 80 }] });
    const other = service("other", { clusterIP: "10.96.0.11", ports: [{ name: "http", port: 80 }] });
    const p1 = pod("cart-1", "10.244.0.1", "cart", { app: "cart" });
    const slices = [slice("cart-a", "cart", [{ ip: "10.244.0.1", pod: "cart-1" }]), slice("other-a", "other", [{ ip: "10.244.0.9" }])];
    const s1 = build([cart, other, p1, ...slices]);
    // Only the pod is a new object, as a source hands over only what changed.
    const s2 = build([cart, other, pod("cart-1", "10.244.0.1", "cart", { app: "cart", v: "2" }), ...slices], s1);
    const by = (s: MeshSnapshot, h: string) => s.services.find((x) => x.hostname === h)!;
    assert.equal(by(s2, "other.shop.svc.cluster.local"), by(s1, "other.shop.svc.cluster.local"), "the untouched Service is the same object");
    assert.notEqual(by(s2, "cart.shop.svc.cluster.local").endpointsDigest, by(s1, "cart.shop.svc.cluster.local").endpointsDigest, "the pod's labels are the endpoint's");
    const change = snapshotChange(s1, s2);
    assert.ok(change !== undefined && !change.all);
    const proxy = parseProxyNode({ id: "sidecar~10.244.0.1~cart-1.shop~shop.svc.cluster.local", metadata: { NAMESPACE: "shop" } });
    assert.equal(change.affects(proxy), true);
  });

  it("rejects an EndpointSlice that belongs to no Service, naming the field", () => {
    const s = build([k8s("discovery.k8s.io/v1", "EndpointSlice", "stray", { spec: { addressType: "IPv4", endpoints: [] } })]);
    assert.ok(s.errors.some((e) => e.object === "EndpointSlice shop/stray" && e.path === "metadata.labels" && e.file === "k8s://Kubernetes/EndpointSlice/stray"), JSON.stringify(s.errors));
  });
});
