// Routing-level enforcement (WorkloadEnforcement in the snapshot), through the real model, the
// translators and the encode-once provider: peers stop routing to a quarantined pod, its own proxy
// gets empty EDS and a deny-all on its inbound side, isolate-egress blocks calls out only, and a
// release restores everything. The caches must stay shared: peers get one encoding of the changed
// assignment, only the enforced proxy translates apart from its replicas.
import { strict as assert } from "node:assert";
import { fromBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { type MeshSnapshot } from "../../src/model/snapshot.js";
import { buildSnapshot } from "../../src/mesh/model.js";
import type { ConfigObject } from "../../src/model/config.js";
import { parseProxyNode, type Proxy } from "../../src/model/proxy.js";
import { MeshResourceProvider } from "../../src/mesh/provider.js";
import { TypeUrl } from "../../src/xds/types.js";
import { ClusterLoadAssignmentSchema } from "../../src/gen/envoy/config/endpoint/v3/endpoint_pb.js";
import { ClusterSchema, Cluster_DiscoveryType, type Cluster } from "../../src/gen/envoy/config/cluster/v3/cluster_pb.js";
import { ListenerSchema } from "../../src/gen/envoy/config/listener/v3/listener_pb.js";
import type { HttpConnectionManager } from "../../src/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js";
import type { RBAC } from "../../src/gen/envoy/extensions/filters/http/rbac/v3/rbac_pb.js";
import { resourceRegistry } from "../../src/translate/registry.js";
import { grpcServerListenerPrefix } from "../../src/translate/grpc.js";
import { routingOverlay } from "../../src/risk/routing-overlay.js";
import type { Enforcement } from "../../src/risk/quarantine.js";
import { QUARANTINE_SELF_POLICY } from "../../src/translate/enforcement.js";
import type { EnforcingAction } from "../../src/risk/quarantine.js";

const web = {
  apiVersion: "networking.istio.io/v1",
  kind: "ServiceEntry",
  metadata: { name: "web", namespace: "shop", labels: {}, annotations: {} },
  spec: {
    hosts: ["web.shop.svc.cluster.local"],
    location: "MESH_INTERNAL",
    ports: [{ number: 8080, name: "grpc", protocol: "GRPC" }],
    resolution: "STATIC",
    endpoints: [
      { address: "10.0.0.7", serviceAccount: "web", labels: { app: "web" } },
      { address: "10.0.0.8", serviceAccount: "web", labels: { app: "web" } },
    ],
  },
  origin: { file: "/cfg/web.yaml" },
} satisfies ConfigObject;

function enforcement(action: EnforcingAction, ip: string): Enforcement {
  return {
    id: `q-${action}${ip}`,
    action,
    scope: "pod",
    pod: { uid: `uid-${ip}`, namespace: "shop", name: `web-${ip}`, serviceAccount: "web", labels: { app: "web" }, ip },
    identity: { trustDomain: "cluster.local", namespace: "shop", serviceAccount: "web" },
    reason: "test",
    signalId: "s1",
    verdictId: "s1#0",
    policy: "p",
    createdAtMs: 0,
  };
}

/** A DNS-resolved service whose endpoints are IPs: Envoy gets them inline in the cluster. */
const db = {
  ...web,
  metadata: { ...web.metadata, name: "db" },
  spec: { ...web.spec, hosts: ["db.shop.svc.cluster.local"], ports: [{ number: 5432, name: "tcp", protocol: "TCP" }], resolution: "DNS" },
} satisfies ConfigObject;
const dbCluster = "outbound|5432||db.shop.svc.cluster.local";

function dnsEndpointsOf(p: MeshResourceProvider, x: Proxy): string[] {
  const c = fromBinary(ClusterSchema, p.resources(x, TypeUrl.Cluster).get(dbCluster)!.bytes);
  return (c.loadAssignment?.endpoints ?? []).flatMap((l) => l.lbEndpoints.map((e) => (e.hostIdentifier.case === "endpoint" && e.hostIdentifier.value.address?.address.case === "socketAddress" ? e.hostIdentifier.value.address.address.value.address : ""))).sort();
}

let generation = 0;
function snapshot(active: readonly Enforcement[]): MeshSnapshot {
  const s = buildSnapshot({ objects: [web, db, ...routingOverlay(active)], errors: [], mesh: { doc: {}, file: "/cfg/mesh.yaml" } }, undefined);
  assert.deepEqual(s.errors, []);
  return { ...s, generation: ++generation };
}

function proxy(flavour: "envoy" | "grpc", ip: string, app = "web"): Proxy {
  return parseProxyNode({
    id: `sidecar~${ip}~${app}-${ip}.shop~shop.svc.cluster.local`,
    metadata: { NAMESPACE: "shop", SERVICE_ACCOUNT: app, LABELS: { app }, ...(flavour === "grpc" ? { GENERATOR: "grpc" } : {}) },
  });
}

const cluster = "outbound|8080||web.shop.svc.cluster.local";

function endpointsOf(p: MeshResourceProvider, x: Proxy): string[] {
  const r = p.resources(x, TypeUrl.ClusterLoadAssignment).get(cluster);
  assert.ok(r, `${x.id} gets the ${cluster} assignment`);
  const cla = fromBinary(ClusterLoadAssignmentSchema, r.bytes);
  return cla.endpoints.flatMap((l) => l.lbEndpoints.map((e) => (e.hostIdentifier.case === "endpoint" && e.hostIdentifier.value.address?.address.case === "socketAddress" ? e.hostIdentifier.value.address.address.value.address : ""))).sort();
}

/** The HTTP RBAC policy names on every inbound chain of the proxy's listeners, in filter order. */
function inboundRbacPolicies(p: MeshResourceProvider, x: Proxy): string[][] {
  const out: string[][] = [];
  for (const r of p.resources(x, TypeUrl.Listener).values()) {
    const l = fromBinary(ListenerSchema, r.bytes);
    if (l.trafficDirection !== 1 /* INBOUND */ && !l.name.startsWith(grpcServerListenerPrefix)) continue;
    for (const fc of l.filterChains) {
      for (const f of fc.filters) {
        if (f.configType.case !== "typedConfig" || !f.configType.value.typeUrl.endsWith(".HttpConnectionManager")) continue;
        const hcm = anyUnpack(f.configType.value, resourceRegistry) as HttpConnectionManager;
        const names = hcm.httpFilters
          .filter((h) => h.configType.case === "typedConfig" && h.configType.value.typeUrl.endsWith("rbac.v3.RBAC"))
          .flatMap((h) => Object.keys((anyUnpack(h.configType.value as never, resourceRegistry) as RBAC).rules?.policies ?? {}));
        out.push(names);
      }
    }
  }
  assert.ok(out.length > 0, `${x.id} has inbound HTTP chains`);
  return out;
}

for (const flavour of ["grpc", "envoy"] as const) {
  describe(`routing-level enforcement (${flavour} proxies)`, () => {
    const bad = proxy(flavour, "10.0.0.7");
    const replica = proxy(flavour, "10.0.0.8");
    const client = proxy(flavour, "10.0.0.9", "client");

    it("quarantine: peers lose the pod's endpoint (one shared encoding), its own proxy gets empty EDS and a deny-all inbound; release restores", () => {
      const p = new MeshResourceProvider();
      p.update(snapshot([]));
      assert.deepEqual(endpointsOf(p, client), ["10.0.0.7", "10.0.0.8"]);
      assert.deepEqual(endpointsOf(p, bad), ["10.0.0.7", "10.0.0.8"]);
      for (const chain of inboundRbacPolicies(p, bad)) assert.deepEqual(chain, []);

      p.update(snapshot([enforcement("quarantine", "10.0.0.7")]));
      assert.deepEqual(endpointsOf(p, client), ["10.0.0.8"]);
      assert.deepEqual(endpointsOf(p, replica), ["10.0.0.8"]);
      assert.equal(p.resources(client, TypeUrl.ClusterLoadAssignment).get(cluster), p.resources(replica, TypeUrl.ClusterLoadAssignment).get(cluster), "peers share one encoding");
      assert.deepEqual(endpointsOf(p, bad), [], "the quarantined proxy cannot call out");
      if (flavour === "envoy") {
        assert.deepEqual(dnsEndpointsOf(p, client), ["10.0.0.8"], "DNS clusters drop the pod's inline endpoint too");
        assert.deepEqual(dnsEndpointsOf(p, bad), [], "and the pod's own DNS clusters have nowhere to go");
      }
      for (const chain of inboundRbacPolicies(p, bad)) assert.ok(chain.some((n) => n.includes(QUARANTINE_SELF_POLICY)), `deny-all on the quarantined proxy: ${chain.join(",")}`);
      for (const chain of inboundRbacPolicies(p, replica)) assert.ok(!chain.some((n) => n.includes(QUARANTINE_SELF_POLICY)), "not on its replica");

      p.update(snapshot([]));
      assert.deepEqual(endpointsOf(p, client), ["10.0.0.7", "10.0.0.8"]);
      assert.deepEqual(endpointsOf(p, bad), ["10.0.0.7", "10.0.0.8"]);
      for (const chain of inboundRbacPolicies(p, bad)) assert.deepEqual(chain, []);
    });

    it("isolate-egress: the pod cannot call out but stays routable and serves", () => {
      const p = new MeshResourceProvider();
      p.update(snapshot([enforcement("isolate-egress", "10.0.0.7")]));
      assert.deepEqual(endpointsOf(p, bad), []);
      assert.deepEqual(endpointsOf(p, client), ["10.0.0.7", "10.0.0.8"]);
      for (const chain of inboundRbacPolicies(p, bad)) assert.deepEqual(chain, []);
      if (flavour === "envoy") {
        // Envoy could still reach any address through PassthroughCluster (original destination).
        const passthrough = (x: Proxy): Cluster => fromBinary(ClusterSchema, p.resources(x, TypeUrl.Cluster).get("PassthroughCluster")!.bytes);
        assert.equal(passthrough(client).clusterDiscoveryType.value, Cluster_DiscoveryType.ORIGINAL_DST);
        const blocked = passthrough(bad);
        assert.equal(blocked.clusterDiscoveryType.value, Cluster_DiscoveryType.STATIC);
        assert.equal(blocked.loadAssignment, undefined, "nowhere to connect");
      }
    });
  });
}

describe("WorkloadEnforcement validation", () => {
  it("rejects a bad object alone, naming the field", () => {
    const bad: ConfigObject = {
      apiVersion: "meshward.io/v1alpha1",
      kind: "WorkloadEnforcement",
      metadata: { name: "x", namespace: "shop", labels: {}, annotations: {} },
      spec: { action: "explode", addresses: ["not-an-ip"] },
      origin: { file: "/cfg/bad.yaml" },
    };
    const s = buildSnapshot({ objects: [web, bad], errors: [], mesh: { doc: {}, file: "/cfg/mesh.yaml" } }, undefined);
    const paths = s.errors.map((e) => e.path ?? "").sort();
    assert.ok(paths.some((x) => x.includes("spec.action")), JSON.stringify(s.errors));
    assert.ok(paths.some((x) => x.includes("spec.addresses[0]")), JSON.stringify(s.errors));
    assert.ok(s.errors.every((e) => e.file === "/cfg/bad.yaml"));
    assert.equal(s.services.length, 1, "the rest of the config is served");
  });
});
