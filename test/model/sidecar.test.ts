// The Sidecar resource on the model side: its validation (field paths, istiod's rules), which
// Sidecar applies to a proxy (istiod's precedence), which services it imports, which proxies a
// change touches, and that proxies under one scope still share their outbound resources.
import { strict as assert } from "node:assert";
import { type ConfigSet, type MeshSnapshot } from "../../src/model/snapshot.js";
import { buildSnapshot } from "../../src/mesh/model.js";
import type { ConfigObject } from "../../src/model/config.js";
import { parseProxyNode, type Proxy } from "../../src/model/proxy.js";
import { visibleServices } from "../../src/model/lookup.js";
import { sidecarScope } from "../../src/model/sidecar-scope.js";
import { snapshotChange } from "../../src/model/changes.js";
import { outboundKey, translate } from "../../src/translate/index.js";
import { TypeUrl } from "../../src/xds/types.js";
import { dumpResources } from "../../src/translate/dump.js";
import { MeshResourceProvider } from "../../src/mesh/provider.js";
import { fromBinary } from "@bufbuild/protobuf";
import { RouteConfigurationSchema } from "../../src/gen/envoy/config/route/v3/route_pb.js";

const file = "/cfg/sidecars.yaml";

function obj(kind: string, name: string, namespace: string, spec: unknown): ConfigObject {
  return { apiVersion: "networking.istio.io/v1", kind, metadata: { name, namespace, labels: {}, annotations: {} }, spec, origin: { file } };
}

function service(host: string, namespace: string, address: string): ConfigObject {
  return obj("ServiceEntry", host.split(".")[0]!, namespace, {
    hosts: [host],
    ports: [{ number: 8080, name: "http", protocol: "HTTP" }],
    resolution: "STATIC",
    endpoints: [{ address }],
  });
}

const services = [
  service("a.default.svc.cluster.local", "default", "10.0.0.1"),
  service("b.other.svc.cluster.local", "other", "10.0.0.2"),
  service("c.other.svc.cluster.local", "other", "10.0.0.3"),
  service("api.example.com", "egress", "10.0.0.4"),
  service("d.istio-system.svc.cluster.local", "istio-system", "10.0.0.5"),
];

function build(objects: ConfigObject[], previous?: MeshSnapshot, mesh?: unknown): MeshSnapshot {
  const set: ConfigSet = { objects: [...services, ...objects], errors: [], ...(mesh !== undefined ? { mesh: { doc: mesh, file: "/cfg/mesh.yaml" } } : {}) };
  return buildSnapshot(set, previous);
}

function proxy(pod: string, namespace: string, labels: Record<string, string> = {}, type = "sidecar"): Proxy {
  return parseProxyNode({ id: `${type}~10.9.0.1~${pod}.${namespace}~${namespace}.svc.cluster.local`, metadata: { NAMESPACE: namespace, LABELS: labels } });
}

function hosts(s: MeshSnapshot, p: Proxy): string[] {
  return visibleServices(s, p).map((x) => x.hostname).sort();
}

function rejected(spec: unknown, path: string, message: RegExp): void {
  const s = build([obj("Sidecar", "bad", "default", spec)]);
  const errs = s.errors.filter((e) => e.object === "Sidecar default/bad" && e.severity === "error");
  const hit = errs.find((e) => e.path === path);
  assert.ok(hit, `want an error at ${path}, got ${JSON.stringify(errs)}`);
  assert.equal(hit.file, file);
  assert.match(hit.message, message);
  assert.ok(!s.accepted.has("Sidecar default/bad"), "the Sidecar is rejected");
}

describe("Sidecar: validation", () => {
  it("rejects an egress host without a namespace", () => rejected({ egress: [{ hosts: ["a.example.com"] }] }, "spec.egress[0].hosts[0]", /namespace\/dnsName/));
  it("rejects an egress listener without hosts", () => rejected({ egress: [{ hosts: [] }] }, "spec.egress[0].hosts", /at least one host/));
  it("rejects a catch-all egress listener that is not the last", () =>
    rejected({ egress: [{ hosts: ["./*"] }, { port: { number: 80, protocol: "HTTP" }, hosts: ["./*"] }] }, "spec.egress[0]", /should be the last/));
  it("rejects two egress listeners on one port", () =>
    rejected({ egress: [{ port: { number: 80, protocol: "HTTP" }, hosts: ["./*"] }, { port: { number: 80, protocol: "HTTP" }, hosts: ["./*"] }] }, "spec.egress[1].port.number", /unique/));
  it("rejects an unknown outbound traffic policy mode", () => rejected({ outboundTrafficPolicy: { mode: "DENY" } }, "spec.outboundTrafficPolicy.mode", /ALLOW_ANY, REGISTRY_ONLY/));
  it("rejects an ingress defaultEndpoint on another address", () =>
    rejected({ ingress: [{ port: { number: 9080, protocol: "HTTP", name: "http" }, defaultEndpoint: "10.1.1.1:8080" }] }, "spec.ingress[0].defaultEndpoint", /127\.0\.0\.1:<port>/));
  it("rejects a workloadSelector without labels", () => rejected({ workloadSelector: { labels: {} }, egress: [{ hosts: ["./*"] }] }, "spec.workloadSelector.labels", /at least one label/));
  it("warns about a duplicated egress host but accepts the Sidecar", () => {
    const s = build([obj("Sidecar", "dup", "default", { egress: [{ hosts: ["other/*", "other/b.other.svc.cluster.local"] }] })]);
    assert.ok(s.accepted.has("Sidecar default/dup"));
    assert.ok(s.errors.some((e) => e.object === "Sidecar default/dup" && e.severity === "warning" && e.path === "spec.egress[0].hosts[1]" && /duplicated egress host/.test(e.message)));
  });
  it("reports a second selector-less Sidecar in a namespace and applies the first by name", () => {
    const s = build([obj("Sidecar", "b-second", "default", { egress: [{ hosts: ["*/*"] }] }), obj("Sidecar", "a-first", "default", { egress: [{ hosts: ["./*"] }] })]);
    const err = s.errors.find((e) => e.object === "Sidecar default/b-second" && e.severity === "error");
    assert.ok(err, JSON.stringify(s.errors));
    assert.match(err.message, /Sidecar default\/a-first/);
    assert.deepEqual(hosts(s, proxy("p", "default")), ["a.default.svc.cluster.local"]);
  });
  it("keeps the last good version of a Sidecar that turns bad", () => {
    const good = build([obj("Sidecar", "default", "default", { egress: [{ hosts: ["./*"] }] })]);
    const bad = build([obj("Sidecar", "default", "default", { egress: [{ hosts: ["nope"] }] })], good);
    assert.deepEqual(hosts(bad, proxy("p", "default")), ["a.default.svc.cluster.local"]);
  });
});

describe("Sidecar: which one applies and what it imports", () => {
  const all = ["a.default.svc.cluster.local", "api.example.com", "b.other.svc.cluster.local", "c.other.svc.cluster.local", "d.istio-system.svc.cluster.local"];
  const snapshot = build([
    obj("Sidecar", "default", "default", { egress: [{ hosts: ["./*", "other/b.other.svc.cluster.local"] }], outboundTrafficPolicy: { mode: "REGISTRY_ONLY" } }),
    obj("Sidecar", "frontend", "default", { workloadSelector: { labels: { app: "frontend" } }, egress: [{ hosts: ["*/*.example.com", "~/*"] }] }),
    obj("Sidecar", "default", "istio-system", { egress: [{ hosts: ["./*", "istio-system/*"] }] }),
  ]);

  it("a Sidecar selecting the workload wins over the namespace default", () => {
    assert.deepEqual(hosts(snapshot, proxy("fe", "default", { app: "frontend" })), ["api.example.com"]);
    assert.equal(sidecarScope(snapshot, proxy("fe", "default", { app: "frontend" })).ref, "Sidecar default/frontend");
  });
  it("the namespace default applies to the other workloads of its namespace", () => {
    assert.deepEqual(hosts(snapshot, proxy("p", "default", { app: "reviews" })), ["a.default.svc.cluster.local", "b.other.svc.cluster.local"]);
    assert.equal(sidecarScope(snapshot, proxy("p", "default")).outboundTrafficPolicy, "REGISTRY_ONLY");
  });
  it("the root namespace's default applies where a namespace has none, `.` meaning the proxy's namespace", () => {
    assert.deepEqual(hosts(snapshot, proxy("p", "other")), ["b.other.svc.cluster.local", "c.other.svc.cluster.local", "d.istio-system.svc.cluster.local"]);
    assert.equal(sidecarScope(snapshot, proxy("p", "other")).outboundTrafficPolicy, "ALLOW_ANY");
  });
  it("a Sidecar selecting workloads of another namespace does not apply", () => {
    assert.equal(sidecarScope(snapshot, proxy("p", "other", { app: "frontend" })).ref, "Sidecar istio-system/default");
  });
  it("a router (gateway) gets no Sidecar and sees every service", () => {
    assert.deepEqual(hosts(snapshot, proxy("gw", "default", {}, "router")), all);
  });
  it("without any Sidecar every service is visible and the mesh config's policy applies", () => {
    const none = build([], undefined, { outboundTrafficPolicy: { mode: "REGISTRY_ONLY" } });
    assert.deepEqual(hosts(none, proxy("p", "default")), all);
    assert.equal(sidecarScope(none, proxy("p", "default")).outboundTrafficPolicy, "REGISTRY_ONLY");
  });
});

describe("Sidecar: push scope and sharing", () => {
  const ns = obj("Sidecar", "default", "default", { egress: [{ hosts: ["./*"] }] });
  const fe = obj("Sidecar", "frontend", "default", { workloadSelector: { labels: { app: "frontend" } }, egress: [{ hosts: ["other/*"] }] });

  it("a selector Sidecar's change touches only the proxies it selects", () => {
    const before = build([ns, fe]);
    const after = build([ns, obj("Sidecar", "frontend", "default", { workloadSelector: { labels: { app: "frontend" } }, egress: [{ hosts: ["*/*"] }] })], before);
    const change = snapshotChange(before, after);
    assert.ok(change !== undefined && !change.all);
    assert.equal(change.affects(proxy("fe", "default", { app: "frontend" })), true);
    assert.equal(change.affects(proxy("p", "default", { app: "reviews" })), false);
    assert.equal(change.affects(proxy("p", "other")), false);
  });
  it("a root-namespace default touches the namespaces without a Sidecar of their own only", () => {
    const before = build([ns]);
    const after = build([ns, obj("Sidecar", "default", "istio-system", { egress: [{ hosts: ["./*"] }] })], before);
    const change = snapshotChange(before, after);
    assert.ok(change !== undefined && !change.all);
    assert.equal(change.affects(proxy("p", "other")), true);
    assert.equal(change.affects(proxy("p", "default")), false);
  });
  it("proxies under one Sidecar share one outbound key; another Sidecar or none gives another", () => {
    const s = build([ns, fe]);
    const a = proxy("a", "default", { app: "reviews" });
    const b = proxy("b", "default", { app: "ratings" });
    const c = proxy("c", "default", { app: "frontend" });
    assert.equal(outboundKey(a, s), outboundKey(b, s));
    assert.notEqual(outboundKey(a, s), outboundKey(c, s));
    assert.notEqual(outboundKey(a, s), outboundKey(a, build([])));
  });
  it("a service left out of the scope is in none of the proxy's clusters, endpoints, listeners or routes", () => {
    const s = build([ns]);
    const out = translate(s, proxy("p", "default"));
    const names = [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.RouteConfiguration, TypeUrl.Listener].flatMap((t) =>
      (out.get(t) ?? []).map((r) => JSON.stringify(r.build().message, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v))),
    );
    assert.ok(names.some((n) => n.includes("a.default.svc.cluster.local")), "the imported service is there");
    assert.ok(!names.some((n) => n.includes("b.other.svc.cluster.local")), "the left-out service is nowhere");
  });
});

describe("Sidecar: VirtualServices", () => {
  const vs = {
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService",
    metadata: { name: "a-timeout", namespace: "routing", labels: {}, annotations: {} },
    spec: { hosts: ["a.default.svc.cluster.local"], http: [{ route: [{ destination: { host: "a.default.svc.cluster.local" } }], timeout: "7s" }] },
    origin: { file },
  } satisfies ConfigObject;
  const withoutRouting = obj("Sidecar", "narrow", "default", { workloadSelector: { labels: { app: "narrow" } }, egress: [{ hosts: ["./*"] }] });
  const withRouting = obj("Sidecar", "wide", "default", { workloadSelector: { labels: { app: "wide" } }, egress: [{ hosts: ["./*", "routing/*"] }] });

  const routeText = (s: MeshSnapshot, p: Proxy): string => JSON.stringify(dumpResources(s, p)["routes"] ?? []);

  it("a VirtualService of a namespace the Sidecar does not import does not route the proxy's calls", () => {
    const s = build([vs, withoutRouting, withRouting]);
    const wide = routeText(s, proxy("w", "default", { app: "wide" }));
    const narrow = routeText(s, proxy("n", "default", { app: "narrow" }));
    assert.match(wide, /"timeout":"7s"/, "imported: the VirtualService's timeout");
    assert.doesNotMatch(narrow, /"timeout":"7s"/, "not imported: Istio's default route");
    assert.match(narrow, /outbound\|8080\|\|a\.default\.svc\.cluster\.local/);
  });

  it("through the push path, proxies under different Sidecars get their own routes even when they see the same services", () => {
    const provider = new MeshResourceProvider();
    provider.update(build([vs, withoutRouting, withRouting]));
    /** The route timeouts (seconds) of the proxy's encoded route tables. */
    const timeouts = (p: Proxy): number[] =>
      [...provider.resources(p, TypeUrl.RouteConfiguration).values()].flatMap((r) =>
        fromBinary(RouteConfigurationSchema, r.bytes).virtualHosts.flatMap((v) => v.routes.flatMap((route) => (route.action.case === "route" && route.action.value.timeout ? [Number(route.action.value.timeout.seconds)] : []))),
      );
    // Asked in this order, a shared encoding would hand the narrow proxy the wide one's routes.
    assert.ok(timeouts(proxy("w", "default", { app: "wide" })).includes(7));
    assert.ok(!timeouts(proxy("n", "default", { app: "narrow" })).includes(7));
  });
});

