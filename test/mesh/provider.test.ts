// The mesh ResourceProvider: encode once (shared objects and bytes), content versions, and which
// proxies a snapshot change touches.
import { strict as assert } from "node:assert";
import { fromBinary } from "@bufbuild/protobuf";
import { MeshResourceProvider } from "../../src/mesh/provider.js";
import { type MeshSnapshot } from "../../src/model/snapshot.js";
import { buildSnapshot } from "../../src/mesh/model.js";
import type { ConfigObject } from "../../src/model/config.js";
import { parseProxyNode, type Proxy } from "../../src/model/proxy.js";
import { TypeUrl, type ProxyChange } from "../../src/xds/types.js";
import { ClusterLoadAssignmentSchema } from "../../src/gen/envoy/config/endpoint/v3/endpoint_pb.js";

function obj(kind: string, name: string, spec: unknown, namespace = "default"): ConfigObject {
  return { apiVersion: "networking.istio.io/v1", kind, metadata: { name, namespace, labels: {}, annotations: {} }, spec, origin: { file: "t.yaml" } };
}

function service(name: string, namespace: string, addresses: string[], exportTo?: string[], port = 8080): ConfigObject {
  return obj(
    "ServiceEntry",
    name,
    {
      hosts: [`${name}.${namespace}.svc.cluster.local`],
      ports: [{ number: port, name: "http", protocol: "HTTP" }],
      resolution: "STATIC",
      endpoints: addresses.map((address) => ({ address })),
      ...(exportTo ? { exportTo } : {}),
    },
    namespace,
  );
}

function sidecar(ip: string, namespace = "default", generator?: string): Proxy {
  return parseProxyNode({
    id: `sidecar~${ip}~pod-${ip}.${namespace}~${namespace}.svc.cluster.local`,
    metadata: { NAMESPACE: namespace, ...(generator ? { GENERATOR: generator } : {}) },
  });
}

function snapshotOf(objects: ConfigObject[], previous?: MeshSnapshot): MeshSnapshot {
  return buildSnapshot({ objects, errors: [] }, previous);
}

describe("mesh resource provider", () => {
  it("proxies that translate alike share the same EncodedResource objects, encoded once", () => {
    const p = new MeshResourceProvider();
    p.update(snapshotOf([service("a", "default", ["10.0.0.1", "10.0.0.2"]), service("b", "default", ["10.0.0.3"], undefined, 9090)]));
    // Two replicas of service a: different IPs, same targets.
    const r1 = p.resources(sidecar("10.0.0.1"), TypeUrl.Listener);
    const encodesAfterFirst = p.stats().encodes;
    const r2 = p.resources(sidecar("10.0.0.2"), TypeUrl.Listener);
    assert.equal(r1, r2, "same map for the same group");
    assert.equal(p.stats().encodes, encodesAfterFirst, "nothing re-encoded for the replica");
    // A proxy of another service: different inbound, same outbound objects.
    const r3 = p.resources(sidecar("10.0.0.3"), TypeUrl.Listener);
    assert.notEqual(r3, r1);
    assert.equal(r3.get("0.0.0.0_8080"), r1.get("0.0.0.0_8080"), "shared outbound listener object");
    assert.notEqual(r3.get("virtualInbound")?.version, r1.get("virtualInbound")?.version);
    // Clusters of every group share the outbound cluster objects.
    const c1 = p.resources(sidecar("10.0.0.1"), TypeUrl.Cluster).get("outbound|9090||b.default.svc.cluster.local");
    const c3 = p.resources(sidecar("10.0.0.3"), TypeUrl.Cluster).get("outbound|9090||b.default.svc.cluster.local");
    assert.ok(c1);
    assert.equal(c1, c3);
    assert.equal(p.stats().groups, 2);
  });

  it("versions are content hashes: a new provider (restart) gives equal versions", () => {
    const objects = [service("a", "default", ["10.0.0.1"])];
    const a = new MeshResourceProvider();
    a.update(snapshotOf(objects));
    const b = new MeshResourceProvider();
    b.update(snapshotOf(objects));
    for (const t of [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.Listener, TypeUrl.RouteConfiguration]) {
      const va = [...a.resources(sidecar("10.9.9.9"), t)].map(([n, r]) => [n, r.version]);
      const vb = [...b.resources(sidecar("10.9.9.9"), t)].map(([n, r]) => [n, r.version]);
      assert.deepEqual(va, vb);
      assert.ok(va.length > 0);
    }
  });

  it("an endpoint change re-encodes only what depends on it and touches only proxies that see it", () => {
    const p = new MeshResourceProvider();
    const changes: ProxyChange[] = [];
    p.onChange((c) => changes.push(c));
    const hidden = (eps: string[]): ConfigObject => service("hidden", "other", eps, ["."]);
    const s1 = snapshotOf([service("a", "default", ["10.0.0.1"]), hidden(["10.1.0.1"])]);
    p.update(s1);
    const viewer = sidecar("10.5.0.1", "default");
    const before = new Map([TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.Listener].map((t) => [t, p.resources(viewer, t)]));
    const encodes = p.stats().encodes;

    // An endpoint of the hidden service changes: proxies in `default` are not touched.
    const s2 = snapshotOf([service("a", "default", ["10.0.0.1"]), hidden(["10.1.0.1", "10.1.0.2"])], s1);
    const c2 = p.update(s2);
    assert.ok(c2 && !c2.all);
    assert.equal(c2.affects(viewer), false);
    assert.equal(c2.affects(sidecar("10.5.0.2", "other")), true);
    assert.equal(c2.affects(sidecar("10.1.0.2", "elsewhere")), true, "the new endpoint's own proxy (inbound side)");

    // An endpoint of a is added: default proxies are touched; only a's EDS changes.
    const s3 = snapshotOf([service("a", "default", ["10.0.0.1", "10.0.0.9"]), hidden(["10.1.0.1", "10.1.0.2"])], s2);
    const c3 = p.update(s3);
    assert.ok(c3 && !c3.all && c3.affects(viewer));
    assert.equal(changes.length, 3, "the first snapshot, then s2 and s3");
    const eds = p.resources(viewer, TypeUrl.ClusterLoadAssignment).get("outbound|8080||a.default.svc.cluster.local")!;
    assert.notEqual(eds.version, before.get(TypeUrl.ClusterLoadAssignment)!.get(eds.name)!.version);
    const cla = fromBinary(ClusterLoadAssignmentSchema, eds.bytes);
    assert.deepEqual(
      cla.endpoints.flatMap((l) => l.lbEndpoints.map((e) => (e.hostIdentifier.case === "endpoint" && e.hostIdentifier.value.address?.address.case === "socketAddress" ? e.hostIdentifier.value.address.address.value.address : ""))),
      ["10.0.0.1", "10.0.0.9"],
    );
    for (const t of [TypeUrl.Cluster, TypeUrl.Listener]) {
      for (const [name, r] of p.resources(viewer, t)) assert.equal(r, before.get(t)!.get(name), `${name} kept its encoding`);
    }
    assert.equal(p.stats().encodes, encodes + 1, "one resource re-encoded: a's EDS");
  });

  it("hands out the same map object for a type whose resources did not change", () => {
    const p = new MeshResourceProvider();
    const s1 = snapshotOf([service("a", "default", ["10.0.0.1"]), service("b", "default", ["10.0.0.2"], undefined, 9090)]);
    p.update(s1);
    const proxy = sidecar("10.0.0.1");
    const types = [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.Listener, TypeUrl.RouteConfiguration];
    const before = types.map((t) => p.resources(proxy, t));
    p.update(snapshotOf([service("a", "default", ["10.0.0.1"]), service("b", "default", ["10.0.0.2", "10.0.0.3"], undefined, 9090)], s1));
    const after = types.map((t) => p.resources(proxy, t));
    assert.equal(after[0], before[0], "CDS map (an overlay with the inbound cluster) reused");
    assert.notEqual(after[1], before[1], "EDS changed");
    assert.equal(after[2], before[2], "LDS map reused");
    assert.equal(after[3], before[3], "RDS map reused");
  });

  it("a policy change re-keys inbound resources only; outbound encodings are reused", () => {
    const p = new MeshResourceProvider();
    const policy = (action: string): ConfigObject => ({
      apiVersion: "security.istio.io/v1",
      kind: "SomePolicy",
      metadata: { name: "p", namespace: "default", labels: {}, annotations: {} },
      spec: { action },
      origin: { file: "t.yaml" },
    });
    const s1 = snapshotOf([service("a", "default", ["10.0.0.1"]), policy("ALLOW")]);
    p.update(s1);
    const proxy = sidecar("10.0.0.1");
    for (const t of [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.Listener, TypeUrl.RouteConfiguration]) p.resources(proxy, t);
    const encodes = p.stats().encodes;
    p.update(snapshotOf([service("a", "default", ["10.0.0.1"]), policy("DENY")], s1));
    for (const t of [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.Listener, TypeUrl.RouteConfiguration]) p.resources(proxy, t);
    // virtualInbound and inbound|8080|| were rebuilt (an authorization hook may change them); nothing else.
    assert.equal(p.stats().encodes - encodes, 2);
  });

  it("reports no change for an identical snapshot and 'all' for a mesh config change", () => {
    const p = new MeshResourceProvider();
    const s1 = snapshotOf([service("a", "default", ["10.0.0.1"])]);
    p.update(s1);
    assert.equal(p.update(snapshotOf([service("a", "default", ["10.0.0.1"])], s1)), undefined);
    const s3 = buildSnapshot({ objects: [service("a", "default", ["10.0.0.1"])], errors: [], mesh: { doc: { trustDomain: "x.org" }, file: "mesh.yaml" } }, s1);
    assert.deepEqual(p.update(s3), { all: true });
  });

  it("gives proxyless gRPC proxies their own flavour", () => {
    const p = new MeshResourceProvider();
    p.update(snapshotOf([service("a", "default", ["10.0.0.1"])]));
    const lds = p.resources(sidecar("10.0.0.1", "default", "grpc"), TypeUrl.Listener);
    assert.ok(lds.has("a.default.svc.cluster.local:8080"));
    assert.ok(lds.has("a:8080"));
    assert.ok(lds.has("xds.istio.io/grpc/lds/inbound/10.0.0.1:8080"));
    assert.ok(!lds.has("virtualInbound"));
  });
});
