// The east-west gateway in a multi-network mesh (what multicluster's split-horizon EDS sends
// cross-network traffic to, on 15443): its SNI-DNAT assignments hold its own network's mTLS
// endpoints only, so a connection that crossed into the network is never sent on to another
// network's gateway; REQUESTED_NETWORK_VIEW (as Istio's east-west gateway manifests set it) names
// the networks it serves instead. A flat mesh keeps every mTLS endpoint.
import { strict as assert } from "node:assert";
import { buildSnapshot } from "../../src/mesh/model.js";
import type { ConfigObject } from "../../src/model/config.js";
import type { MeshSnapshot } from "../../src/model/snapshot.js";
import { parseProxyNode } from "../../src/model/proxy.js";
import { translate } from "../../src/translate/index.js";
import { TypeUrl } from "../../src/xds/types.js";
import type { ClusterLoadAssignment } from "../../src/gen/envoy/config/endpoint/v3/endpoint_pb.js";

function object(kind: string, name: string, spec: unknown): ConfigObject {
  return { apiVersion: "networking.istio.io/v1", kind, metadata: { name, namespace: "bookinfo", labels: {}, annotations: {} }, spec, origin: { file: "/cfg/ew.yaml" } };
}

function mesh(networks: boolean): MeshSnapshot {
  const we = (name: string, address: string, network: string): ConfigObject =>
    object("WorkloadEntry", name, { address, labels: { app: "reviews" }, serviceAccount: "reviews", ...(networks ? { network } : {}) });
  return buildSnapshot({
    objects: [
      object("ServiceEntry", "reviews", { hosts: ["reviews.bookinfo.svc.cluster.local"], addresses: ["240.0.0.10"], ports: [{ number: 9080, name: "http", protocol: "HTTP" }], location: "MESH_INTERNAL", resolution: "STATIC", workloadSelector: { labels: { app: "reviews" } } }),
      we("reviews-a1", "10.10.0.1", "net-a"),
      we("reviews-a2", "10.10.0.2", "net-a"),
      we("reviews-b1", "10.20.0.1", "net-b"),
      { apiVersion: "networking.istio.io/v1", kind: "Gateway", metadata: { name: "cross-network", namespace: "istio-system", labels: {}, annotations: {} }, spec: { selector: { istio: "eastwestgateway" }, servers: [{ port: { number: 15443, name: "tls", protocol: "TLS" }, hosts: ["*.local"], tls: { mode: "AUTO_PASSTHROUGH" } }] }, origin: { file: "/cfg/ew.yaml" } },
    ],
    errors: [],
  });
}

function eastWest(metadata: Record<string, string>) {
  return parseProxyNode({ id: "router~10.10.9.9~eastwest-1.istio-system~istio-system.svc.cluster.local", metadata: { NAMESPACE: "istio-system", LABELS: { istio: "eastwestgateway" }, ...metadata } });
}

function sniDnatEndpoints(s: MeshSnapshot, metadata: Record<string, string>): string[] {
  const name = "outbound_.9080_._.reviews.bookinfo.svc.cluster.local";
  const planned = translate(s, eastWest(metadata)).get(TypeUrl.ClusterLoadAssignment)?.find((p) => p.name === name);
  assert.ok(planned, `the east-west gateway has ${name}`);
  const cla = planned.build().message as unknown as ClusterLoadAssignment;
  return cla.endpoints.flatMap((l) => l.lbEndpoints.map((e) => (e.hostIdentifier.case === "endpoint" && e.hostIdentifier.value.address?.address.case === "socketAddress" ? e.hostIdentifier.value.address.address.value.address : "?"))).sort();
}

describe("east-west gateway across networks", () => {
  it("a gateway in net-a forwards SNI-DNAT traffic to net-a's endpoints only", () => {
    assert.deepEqual(sniDnatEndpoints(mesh(true), { NETWORK: "net-a" }), ["10.10.0.1", "10.10.0.2"]);
  });
  it("REQUESTED_NETWORK_VIEW names the networks it serves instead", () => {
    assert.deepEqual(sniDnatEndpoints(mesh(true), { NETWORK: "net-a", REQUESTED_NETWORK_VIEW: "net-b" }), ["10.20.0.1"]);
  });
  it("in a flat mesh every mTLS endpoint stays", () => {
    assert.deepEqual(sniDnatEndpoints(mesh(false), {}), ["10.10.0.1", "10.10.0.2", "10.20.0.1"]);
  });
  it("two gateways of different networks do not share their assignments", () => {
    const s = mesh(true);
    assert.deepEqual(sniDnatEndpoints(s, { NETWORK: "net-b" }), ["10.20.0.1"]);
    assert.deepEqual(sniDnatEndpoints(s, { NETWORK: "net-a" }), ["10.10.0.1", "10.10.0.2"]);
  });
});
