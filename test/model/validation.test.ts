// One test per validation rule: a bad field is reported with file, object and field path, the
// object is rejected alone, and the other objects are kept.
import { strict as assert } from "node:assert";
import { type ConfigSet, type MeshSnapshot } from "../../src/model/snapshot.js";
import { buildSnapshot } from "../../src/mesh/model.js";
import type { ConfigError, ConfigObject } from "../../src/model/config.js";

const file = "/cfg/mesh.objects.yaml";

function obj(kind: string, name: string, spec: unknown, namespace = "default", apiVersion = "networking.istio.io/v1"): ConfigObject {
  return { apiVersion, kind, metadata: { name, namespace, labels: {}, annotations: {} }, spec, origin: { file } };
}

const goodService = obj("ServiceEntry", "good", {
  hosts: ["good.default.svc.cluster.local"],
  ports: [{ number: 80, name: "http", protocol: "HTTP" }],
  resolution: "STATIC",
  endpoints: [{ address: "10.0.0.1" }],
});

function build(objects: ConfigObject[], previous?: MeshSnapshot, mesh?: unknown): MeshSnapshot {
  const set: ConfigSet = { objects, errors: [], ...(mesh !== undefined ? { mesh: { doc: mesh, file: "/cfg/mesh.yaml" } } : {}) };
  return buildSnapshot(set, previous);
}

function errorsOf(s: MeshSnapshot, object: string): ConfigError[] {
  return s.errors.filter((e) => e.object === object && e.severity === "error");
}

/** Asserts `bad` is rejected with an error at `path` naming the file, and `good` survives. */
function rejects(kind: string, spec: unknown, path: string, message: RegExp, apiVersion?: string): void {
  const bad = obj(kind, "bad", spec, "default", apiVersion);
  const s = build([goodService, bad]);
  const ref = `${kind} default/bad`;
  const errs = errorsOf(s, ref);
  const hit = errs.find((e) => e.path === path);
  assert.ok(hit, `want an error at ${path}, got ${JSON.stringify(errs)}`);
  assert.equal(hit.file, file);
  assert.match(hit.message, message);
  assert.ok(!s.accepted.has(ref), `${ref} must be rejected`);
  assert.ok(s.accepted.has("ServiceEntry default/good"), "the good object stays");
  assert.equal(s.services.filter((x) => x.hostname === "good.default.svc.cluster.local").length, 1);
}

describe("model validation: ServiceEntry", () => {
  const base = { hosts: ["a.example.com"], ports: [{ number: 80, name: "http", protocol: "HTTP" }], resolution: "STATIC", endpoints: [{ address: "10.1.1.1" }] };
  it("requires hosts", () => rejects("ServiceEntry", { ...base, hosts: undefined }, "spec.hosts", /required/));
  it("rejects a bad host", () => rejects("ServiceEntry", { ...base, hosts: ["a..b"] }, "spec.hosts[0]", /not a valid host/));
  it("rejects a port number out of range", () => rejects("ServiceEntry", { ...base, ports: [{ number: 0, name: "http" }] }, "spec.ports[0].number", /1 to 65535/));
  it("rejects an unknown protocol", () => rejects("ServiceEntry", { ...base, ports: [{ number: 80, name: "x", protocol: "SPDY" }] }, "spec.ports[0].protocol", /unknown protocol/));
  it("rejects a port without a name", () => rejects("ServiceEntry", { ...base, ports: [{ number: 80 }] }, "spec.ports[0].name", /required/));
  it("rejects DNS_ROUND_ROBIN with more than one endpoint, as istiod", () =>
    rejects("ServiceEntry", { ...base, resolution: "DNS_ROUND_ROBIN", endpoints: [{ address: "a.example.com" }, { address: "b.example.com" }] }, "spec.endpoints", /0 or 1 endpoint/));
  it("rejects duplicate port numbers", () =>
    rejects("ServiceEntry", { ...base, ports: [{ number: 80, name: "a" }, { number: 80, name: "b" }] }, "spec.ports[1].number", /twice/));
  it("rejects a bad address", () => rejects("ServiceEntry", { ...base, addresses: ["10.0.0.300"] }, "spec.addresses[0]", /not an IP/));
  it("rejects an unknown resolution", () => rejects("ServiceEntry", { ...base, resolution: "MAGIC" }, "spec.resolution", /one of/));
  it("rejects a non-IP endpoint with STATIC", () => rejects("ServiceEntry", { ...base, endpoints: [{ address: "host.example" }] }, "spec.endpoints[0].address", /IP address/));
  it("rejects an endpoint port naming no service port", () =>
    rejects("ServiceEntry", { ...base, endpoints: [{ address: "10.1.1.1", ports: { grpc: 9000 } }] }, "spec.endpoints[0].ports.grpc", /no service port/));
  it("rejects workloadSelector with endpoints", () =>
    rejects("ServiceEntry", { ...base, workloadSelector: { labels: { app: "a" } } }, "spec.workloadSelector", /cannot be combined/));
  it("rejects exportTo mixing * with names", () => rejects("ServiceEntry", { ...base, exportTo: ["*", "ns"] }, "spec.exportTo", /cannot be combined/));
  it("rejects a wrong apiVersion", () => rejects("ServiceEntry", base, "apiVersion", /not a version/, "networking.istio.io/v9"));
  it("rejects a missing spec", () => rejects("ServiceEntry", undefined, "spec", /required/));
  it("warns about a misspelt field and still accepts the object", () => {
    const s = build([obj("ServiceEntry", "typo", { ...base, resolutoin: "DNS", ports: [{ number: 80, name: "http", protcol: "HTTP" }] })]);
    assert.ok(s.accepted.has("ServiceEntry default/typo"));
    const warnings = s.errors.filter((e) => e.severity === "warning" && e.object === "ServiceEntry default/typo").map((e) => e.path);
    assert.deepEqual(warnings.sort(), ["spec.ports[0].protcol", "spec.resolutoin"]);
  });
  it("warns (and accepts) unknown-endpoint setups", () => {
    const s = build([obj("ServiceEntry", "ok", { ...base, endpoints: [] })]);
    assert.ok(s.accepted.has("ServiceEntry default/ok"));
    assert.ok(s.errors.some((e) => e.severity === "warning" && e.path === "spec.endpoints"));
  });
});

describe("model validation: WorkloadEntry", () => {
  it("requires an address", () => rejects("WorkloadEntry", { labels: { app: "a" } }, "spec.address", /required/));
  it("rejects a negative weight", () => rejects("WorkloadEntry", { address: "10.0.0.9", weight: -1 }, "spec.weight", /integer/));
  it("rejects a bad port", () => rejects("WorkloadEntry", { address: "10.0.0.9", ports: { http: "eighty" } }, "spec.ports.http", /integer/));
  it("rejects a non-string label", () => rejects("WorkloadEntry", { address: "10.0.0.9", labels: { app: ["x"] } }, "spec.labels.app", /string/));
  it("rejects a locality with too many parts", () => rejects("WorkloadEntry", { address: "10.0.0.9", locality: "a/b/c/d" }, "spec.locality", /region/));
});

describe("model validation: DestinationRule", () => {
  const host = "good.default.svc.cluster.local";
  it("requires host", () => rejects("DestinationRule", { subsets: [] }, "spec.host", /required/));
  it("rejects a connectionPool limit that is not a count", () =>
    rejects("DestinationRule", { host, trafficPolicy: { connectionPool: { tcp: { maxConnections: -1 } } } }, "spec.trafficPolicy.connectionPool.tcp.maxConnections", /integer from 0/));
  it("rejects an outlierDetection percentage above 100", () =>
    rejects("DestinationRule", { host, trafficPolicy: { outlierDetection: { maxEjectionPercent: 150 } } }, "spec.trafficPolicy.outlierDetection.maxEjectionPercent", /integer from 0 to 100/));
  it("rejects a connectionPool connect timeout that is not a duration", () =>
    rejects("DestinationRule", { host, trafficPolicy: { connectionPool: { tcp: { connectTimeout: "soon" } } } }, "spec.trafficPolicy.connectionPool.tcp.connectTimeout", /not a duration/));
  it("rejects an unknown simple LB", () => rejects("DestinationRule", { host, trafficPolicy: { loadBalancer: { simple: "FASTEST" } } }, "spec.trafficPolicy.loadBalancer.simple", /one of/));
  it("rejects consistentHash without a key", () =>
    rejects("DestinationRule", { host, trafficPolicy: { loadBalancer: { consistentHash: {} } } }, "spec.trafficPolicy.loadBalancer.consistentHash", /exactly one/));
  it("rejects a bad cookie ttl", () =>
    rejects(
      "DestinationRule",
      { host, trafficPolicy: { loadBalancer: { consistentHash: { httpCookie: { name: "c", ttl: "soon" } } } } },
      "spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.ttl",
      /duration/,
    ));
  it("rejects a duplicate subset", () => rejects("DestinationRule", { host, subsets: [{ name: "v1" }, { name: "v1" }] }, "spec.subsets[1].name", /twice/));
  it("rejects a port-level setting without a port", () =>
    rejects("DestinationRule", { host, trafficPolicy: { portLevelSettings: [{ loadBalancer: { simple: "RANDOM" } }] } }, "spec.trafficPolicy.portLevelSettings[0].port.number", /required/));
  it("rejects an unknown tls mode", () => rejects("DestinationRule", { host, trafficPolicy: { tls: { mode: "SOMETIMES" } } }, "spec.trafficPolicy.tls.mode", /one of/));
  it("keeps tls parsed for the mTLS issue", () => {
    const s = build([obj("DestinationRule", "tls", { host, trafficPolicy: { tls: { mode: "ISTIO_MUTUAL", sni: "x" } } })]);
    assert.deepEqual(s.destinationRules[0]?.spec.trafficPolicy?.tls, { mode: "ISTIO_MUTUAL", subjectAltNames: [], sni: "x" });
  });
});

describe("model validation: MeshConfig", () => {
  it("reads Istio's fields with defaults", () => {
    const s = build([], undefined, { trustDomain: "example.org", trustDomainAliases: ["old.org"], extensionProviders: [{ name: "authz", envoyExtAuthzGrpc: {} }] });
    assert.equal(s.mesh.trustDomain, "example.org");
    assert.equal(s.mesh.rootNamespace, "istio-system");
    assert.deepEqual(s.mesh.trustDomainAliases, ["old.org"]);
    assert.equal(s.mesh.extensionProviders.length, 1);
  });
  it("rejects a bad field and keeps the last good mesh config", () => {
    const first = build([], undefined, { trustDomain: "example.org" });
    const next = build([], first, { trustDomain: "Bad Domain!", rootNamespace: "mesh-root" });
    assert.equal(next.mesh.trustDomain, "example.org");
    assert.ok(next.errors.some((e) => e.object === "MeshConfig" && e.path === "trustDomain" && e.file === "/cfg/mesh.yaml"));
  });
});

describe("model: last good objects", () => {
  it("an object that turns bad keeps its previous version; a new bad object is dropped", () => {
    const v1 = obj("ServiceEntry", "svc", { hosts: ["svc.example.com"], ports: [{ number: 80, name: "http" }], resolution: "STATIC", endpoints: [{ address: "10.0.0.5" }] });
    const first = build([v1]);
    const broken = obj("ServiceEntry", "svc", { hosts: ["svc.example.com"], ports: [{ number: -1, name: "http" }] });
    const fresh = obj("ServiceEntry", "fresh", { hosts: 7 });
    const second = build([broken, fresh], first);
    assert.equal(second.services.length, 1);
    assert.equal(second.services[0]?.endpoints[0]?.address, "10.0.0.5");
    assert.ok(errorsOf(second, "ServiceEntry default/svc").some((e) => /last good/.test(e.message)));
    assert.ok(!second.accepted.has("ServiceEntry default/fresh"));
    assert.equal(second.generation, first.generation + 1);
  });

  it("a duplicate object is reported and the first kept", () => {
    const dup = { ...goodService, origin: { file: "/cfg/other.yaml" } };
    const s = build([goodService, dup]);
    assert.ok(s.errors.some((e) => e.file === "/cfg/other.yaml" && /duplicate/.test(e.message)));
    assert.equal(s.accepted.get("ServiceEntry default/good")?.object.origin.file, file);
  });

  it("kinds without a handler go to the others bag by kind", () => {
    const pa = obj("RequestAuthentication", "default", { jwtRules: [{ issuer: "x" }] }, "istio-system", "security.istio.io/v1");
    const s = build([goodService, pa]);
    assert.deepEqual(s.others.get("RequestAuthentication")?.map((a) => a.spec), [{ jwtRules: [{ issuer: "x" }] }]);
    assert.notEqual(s.othersDigest, build([goodService]).othersDigest);
  });
});

describe("model: services and endpoints", () => {
  it("resolves WorkloadEntries by selector with named ports, identities and weights", () => {
    const se = obj("ServiceEntry", "r", {
      hosts: ["r.default.svc.cluster.local"],
      ports: [{ number: 9080, name: "http", protocol: "HTTP", targetPort: 9000 }],
      resolution: "STATIC",
      workloadSelector: { labels: { app: "r" } },
    });
    const we1 = obj("WorkloadEntry", "r1", { address: "10.0.0.1", labels: { app: "r" }, ports: { http: 9081 }, serviceAccount: "r-sa", weight: 3 });
    const we2 = obj("WorkloadEntry", "r2", { address: "10.0.0.2", labels: { app: "r" } });
    const other = obj("WorkloadEntry", "x", { address: "10.0.0.3", labels: { app: "r" } }, "elsewhere");
    const s = build([se, we1, we2, other], undefined, { trustDomain: "td.example" });
    const svc = s.services[0]!;
    assert.deepEqual(
      svc.endpoints.map((e) => [e.address, e.targetPorts[9080], e.weight, e.identity.serviceAccount, e.workload]),
      [
        ["10.0.0.1", 9081, 3, "r-sa", "WorkloadEntry default/r1"],
        ["10.0.0.2", 9000, 1, "default", "WorkloadEntry default/r2"],
      ],
    );
    assert.deepEqual(svc.identities.map((i) => `${i.trustDomain}/${i.serviceAccount}`), ["td.example/r-sa", "td.example/default"]);
  });
});
