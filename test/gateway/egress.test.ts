// The egress gateway pattern, worked through (test/gateway/egress/egress.yaml): sidecars reach
// external hosts through the egress gateway over mTLS, and an AuthorizationPolicy on the gateway
// decides which workload may reach which external host. The gateway's filters are judged by a real
// RBAC engine (grpc-js-xds's, decoding the bytes), not by their look. Quarantine applies to
// gateways as to sidecars: a quarantined gateway pod is cut off (deny-all first, no endpoints to
// call), and a quarantined pod behind a gateway leaves the gateway's EDS.
import { strict as assert } from "node:assert";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { FileSource } from "../../src/sources/file.js";
import { buildSnapshot } from "../../src/mesh/model.js";
import type { ConfigObject } from "../../src/model/config.js";
import type { ConfigSet, MeshSnapshot } from "../../src/model/snapshot.js";
import { parseProxyNode, type Proxy } from "../../src/model/proxy.js";
import { translate } from "../../src/translate/index.js";
import { TypeUrl } from "../../src/xds/types.js";
import type { Listener } from "../../src/gen/envoy/config/listener/v3/listener_pb.js";
import type { ClusterLoadAssignment } from "../../src/gen/envoy/config/endpoint/v3/endpoint_pb.js";
import type { RouteConfiguration } from "../../src/gen/envoy/config/route/v3/route_pb.js";
import { HttpConnectionManagerSchema, type HttpFilter } from "../../src/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js";
import { DownstreamTlsContextSchema } from "../../src/gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.js";
import { repoRoot } from "../support/grpc-go-peer.js";
import { admits, rbacEngines } from "../support/rbac-engine.js";

const egressGateway = parseProxyNode({
  id: "router~10.0.0.9~istio-egressgateway-1.istio-system~istio-system.svc.cluster.local",
  metadata: { NAMESPACE: "istio-system", SERVICE_ACCOUNT: "istio-egressgateway", LABELS: { istio: "egressgateway" } },
});
const ingressGateway = parseProxyNode({
  id: "router~10.0.0.5~istio-ingressgateway-1.istio-system~istio-system.svc.cluster.local",
  metadata: { NAMESPACE: "istio-system", SERVICE_ACCOUNT: "istio-ingressgateway", LABELS: { istio: "ingressgateway" } },
});

const checkout = "spiffe://cluster.local/ns/shop/sa/checkout";
const web = "spiffe://cluster.local/ns/shop/sa/web";

function quarantine(address: string): ConfigObject {
  return {
    apiVersion: "meshward.io/v1alpha1",
    kind: "WorkloadEnforcement",
    metadata: { name: `quarantine-${address.replaceAll(".", "-")}`, namespace: "istio-system", labels: {}, annotations: {} },
    spec: { action: "quarantine", addresses: [address] },
    origin: { file: "test:risk" },
  };
}

function built<T>(snapshot: MeshSnapshot, proxy: Proxy, typeUrl: TypeUrl): T[] {
  return (translate(snapshot, proxy).get(typeUrl) ?? []).map((p) => p.build().message as unknown as T);
}

/** The HTTP filters and TLS context of the listener's only HTTP chain. */
function httpChain(snapshot: MeshSnapshot, proxy: Proxy, listener: string): { filters: HttpFilter[]; requireClientCertificate: boolean } {
  const l = built<Listener>(snapshot, proxy, TypeUrl.Listener).find((x) => x.name === listener);
  assert.ok(l, `${proxy.id} has listener ${listener}`);
  assert.equal(l.filterChains.length, 1);
  const chain = l.filterChains[0]!;
  const typed = chain.filters[0]?.configType;
  assert.ok(typed?.case === "typedConfig");
  const hcm = anyUnpack(typed.value, HttpConnectionManagerSchema);
  assert.ok(hcm);
  const ts = chain.transportSocket?.configType;
  const tls = ts?.case === "typedConfig" ? anyUnpack(ts.value, DownstreamTlsContextSchema) : undefined;
  return { filters: hcm.httpFilters, requireClientCertificate: tls?.requireClientCertificate === true };
}

/** Domain -> the cluster of the virtual host's first route, in route configuration `name`. */
function routeTargets(snapshot: MeshSnapshot, proxy: Proxy, name: string): Record<string, string> {
  const rc = built<RouteConfiguration>(snapshot, proxy, TypeUrl.RouteConfiguration).find((r) => r.name === name);
  assert.ok(rc, `${proxy.id} has route configuration ${name}`);
  const out: Record<string, string> = {};
  for (const vh of rc.virtualHosts) {
    const action = vh.routes[0]?.action;
    const cluster = action?.case === "route" && action.value.clusterSpecifier.case === "cluster" ? action.value.clusterSpecifier.value : "?";
    for (const d of vh.domains) if (d === "api.example.com" || d === "www.example.org") out[d] = cluster;
  }
  return out;
}

function endpointsOf(snapshot: MeshSnapshot, proxy: Proxy, cluster: string): string[] {
  const a = built<ClusterLoadAssignment>(snapshot, proxy, TypeUrl.ClusterLoadAssignment).find((x) => x.clusterName === cluster);
  assert.ok(a, `${proxy.id} has an assignment for ${cluster}`);
  return a.endpoints.flatMap((l) => l.lbEndpoints.map((e) => (e.hostIdentifier.case === "endpoint" && e.hostIdentifier.value.address?.address.case === "socketAddress" ? e.hostIdentifier.value.address.address.value.address : "?")));
}

describe("egress gateway: which workload may reach which external host, and quarantine on gateways", () => {
  let dir: string;
  let set: ConfigSet;
  let snapshot: MeshSnapshot;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "meshward-egress-"));
    copyFileSync(join(repoRoot(), "test/gateway/egress/egress.yaml"), join(dir, "egress.yaml"));
    set = new FileSource({ dir, log: () => {} }).load();
    snapshot = buildSnapshot(set);
    assert.deepEqual(snapshot.errors.filter((e) => e.severity === "error"), []);
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it("sidecars route the external hosts to the egress gateway, and the gateway each host to its own external cluster", () => {
    const checkoutSidecar = parseProxyNode({ id: "sidecar~10.3.0.1~checkout-1.shop~shop.svc.cluster.local", metadata: { NAMESPACE: "shop", SERVICE_ACCOUNT: "checkout", LABELS: { app: "checkout" } } });
    assert.deepEqual(routeTargets(snapshot, checkoutSidecar, "80"), { "api.example.com": "outbound|443||istio-egressgateway.istio-system.svc.cluster.local", "www.example.org": "outbound|443||istio-egressgateway.istio-system.svc.cluster.local" });
    assert.deepEqual(routeTargets(snapshot, egressGateway, "https.443.https.egress.istio-system"), { "api.example.com": "outbound|443||api.example.com", "www.example.org": "outbound|443||www.example.org" });
  });

  it("the egress gateway's server takes only mTLS callers, so the policy's principals are proven identities", () => {
    assert.equal(httpChain(snapshot, egressGateway, "0.0.0.0_443").requireClientCertificate, true);
  });

  it("checkout may reach api.example.com and not www.example.org; web the other way round; a caller without identity neither", () => {
    const engines = rbacEngines(httpChain(snapshot, egressGateway, "0.0.0.0_443").filters);
    assert.ok(engines.length > 0, "the egress gateway has authorization filters");
    assert.equal(admits(engines, { spiffe: checkout, authority: "api.example.com" }), true);
    assert.equal(admits(engines, { spiffe: checkout, authority: "www.example.org" }), false);
    assert.equal(admits(engines, { spiffe: web, authority: "www.example.org" }), true);
    assert.equal(admits(engines, { spiffe: web, authority: "api.example.com" }), false);
    assert.equal(admits(engines, { authority: "api.example.com" }), false);
    assert.equal(admits(engines, { spiffe: "spiffe://cluster.local/ns/shop/sa/intruder", authority: "api.example.com" }), false);
  });

  it("the egress policy is the egress gateway's only: the ingress gateway's chain has no authorization filter", () => {
    assert.deepEqual(rbacEngines(httpChain(snapshot, ingressGateway, "0.0.0.0_80").filters), []);
  });

  it("a quarantined egress gateway pod is cut off: every call is denied, even checkout's, and it has no endpoint to call", () => {
    const q = buildSnapshot({ ...set, objects: [...set.objects, quarantine("10.0.0.9")] }, snapshot);
    const engines = rbacEngines(httpChain(q, egressGateway, "0.0.0.0_443").filters);
    assert.equal(admits(engines, { spiffe: checkout, authority: "api.example.com" }), false);
    assert.deepEqual(endpointsOf(q, egressGateway, "outbound|8080||shop.shop.svc.cluster.local"), []);
    // The other gateway is untouched.
    assert.deepEqual(endpointsOf(q, ingressGateway, "outbound|8080||shop.shop.svc.cluster.local").sort(), ["10.1.0.1", "10.1.0.2"]);
  });

  it("a quarantined pod behind the ingress gateway leaves the gateway's EDS, the others stay", () => {
    assert.deepEqual(endpointsOf(snapshot, ingressGateway, "outbound|8080||shop.shop.svc.cluster.local").sort(), ["10.1.0.1", "10.1.0.2"]);
    const q = buildSnapshot({ ...set, objects: [...set.objects, quarantine("10.1.0.2")] }, snapshot);
    assert.deepEqual(endpointsOf(q, ingressGateway, "outbound|8080||shop.shop.svc.cluster.local"), ["10.1.0.1"]);
  });
});
