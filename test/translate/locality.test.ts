// Locality load balancing, rule by rule as istiod's ApplyLocalityLoadBalancer: the proxy's
// locality (registry first, its xDS node last), priorities by subzone/zone/region with outlier
// detection only, `failover` from→to regions, `failoverPriority` stacked with `failover`,
// `distribute` weights, `enabled: false` in the DestinationRule or MeshConfig, and validation
// naming the field path. Every assignment passes Envoy's rules and grpc-js-xds's checks.
import { strict as assert } from "node:assert";
import { buildSnapshot } from "../../src/mesh/model.js";
import { parseProxyNode, type Proxy } from "../../src/model/proxy.js";
import type { ConfigObject } from "../../src/model/config.js";
import type { MeshSnapshot } from "../../src/model/snapshot.js";
import { proxyLocality } from "../../src/model/placement.js";
import { lbPriority, localityMatch, parseLocality } from "../../src/model/locality.js";
import { distributeWeights } from "../../src/translate/failover.js";
import { outboundKey } from "../../src/translate/index.js";
import type { ClusterLoadAssignment } from "../../src/gen/envoy/config/endpoint/v3/endpoint_pb.js";
import { assignmentFor, istioFile as file, priorities } from "../support/eds-priorities.js";

const HOST = "reviews.default.svc.cluster.local";
const reviews = (endpoints: { address: string; locality?: string; labels?: Record<string, string>; weight?: number }[]) =>
  file("ServiceEntry", "reviews", {
    hosts: [HOST],
    ports: [{ number: 9080, name: "grpc", protocol: "GRPC" }],
    location: "MESH_INTERNAL",
    resolution: "STATIC",
    endpoints: endpoints.map((e) => ({ serviceAccount: "reviews", labels: {}, ...e })),
  });
const outlier = { consecutive5xxErrors: 3, interval: "1s", baseEjectionTime: "30s" };
const rule = (trafficPolicy: Record<string, unknown>) => file("DestinationRule", "reviews", { host: HOST, trafficPolicy });
const node = (locality?: { region?: string; zone?: string; subZone?: string }, labels: Record<string, string> = {}, ip = "10.9.0.1") =>
  parseProxyNode({ id: `sidecar~${ip}~client-1.default~default.svc.cluster.local`, metadata: { NAMESPACE: "default", LABELS: labels, GENERATOR: "grpc" }, ...(locality ? { locality: { region: "", zone: "", subZone: "", ...locality } } : {}) });

const spread = [
  { address: "10.0.0.1", locality: "r1/z1/s1" },
  { address: "10.0.0.2", locality: "r1/z1/s2" },
  { address: "10.0.0.3", locality: "r1/z2" },
  { address: "10.0.0.4", locality: "r2/z1" },
  { address: "10.0.0.5", locality: "r3/z1" },
];

const snap = (objects: ConfigObject[], mesh?: unknown): MeshSnapshot => {
  const s = buildSnapshot({ objects, errors: [], ...(mesh !== undefined ? { mesh: { doc: mesh, file: "mesh.yaml" } } : {}) });
  assert.deepEqual(s.errors.filter((e) => e.severity !== "warning").map((e) => e.message), []);
  return s;
};

const assignment = (s: MeshSnapshot, p: Proxy): ClusterLoadAssignment => assignmentFor(s, p, `outbound|9080||${HOST}`);
/** `locality=weight` per locality, sorted. */
const weights = (cla: ClusterLoadAssignment): string[] => cla.endpoints.map((l) => `${l.locality?.region}/${l.locality?.zone}/${l.locality?.subZone}=${l.loadBalancingWeight}`).sort();

describe("locality load balancing (istiod's ApplyLocalityLoadBalancer)", () => {
  it("ranks localities as istiod's LbPriority and matches rule localities as LocalityMatch", () => {
    const p = parseLocality("r1/z1/s1");
    assert.deepEqual(["r1/z1/s1", "r1/z1/s2", "r1/z2", "r2/z1/s1", ""].map((l) => lbPriority(p, parseLocality(l))), [0, 1, 2, 3, 3]);
    assert.equal(localityMatch(p, "r1"), true);
    assert.equal(localityMatch(p, "r1/*"), true);
    assert.equal(localityMatch(p, "*"), true);
    assert.equal(localityMatch(p, "r1/z2"), false);
    assert.equal(localityMatch(p, "r1/z1/s2"), false);
  });

  it("with outlier detection and the mesh default, gives same subzone 0, same zone 1, same region 2, other regions 3", () => {
    const s = snap([reviews(spread), rule({ outlierDetection: outlier })]);
    assert.deepEqual(priorities(assignment(s, node({ region: "r1", zone: "z1", subZone: "s1" }))), ["0:10.0.0.1", "1:10.0.0.2", "2:10.0.0.3", "3:10.0.0.4", "3:10.0.0.5"]);
    // Priorities run without gaps: a proxy in r2/z1 sees 0 (its zone), then 1 (every other region).
    assert.deepEqual(priorities(assignment(s, node({ region: "r2", zone: "z1" }))), ["0:10.0.0.4", "1:10.0.0.1", "1:10.0.0.2", "1:10.0.0.3", "1:10.0.0.5"]);
  });

  it("asks for no priorities without outlier detection, as istiod (no failover could be noticed)", () => {
    const s = snap([reviews(spread), rule({ connectionPool: { tcp: { maxConnections: 10 } } })]);
    assert.deepEqual(priorities(assignment(s, node({ region: "r1", zone: "z1", subZone: "s1" }))).map((x) => x.split(":")[0]), ["0", "0", "0", "0", "0"]);
  });

  it("puts the other regions behind the failover target region of the proxy's region", () => {
    const s = snap([reviews(spread), rule({ outlierDetection: outlier, loadBalancer: { localityLbSetting: { failover: [{ from: "r1", to: "r3" }] } } })]);
    assert.deepEqual(priorities(assignment(s, node({ region: "r1", zone: "z1", subZone: "s1" }))), ["0:10.0.0.1", "1:10.0.0.2", "2:10.0.0.3", "3:10.0.0.5", "4:10.0.0.4"]);
  });

  it("stacks failover priority labels before localities when both failoverPriority and failover are set", () => {
    const endpoints = spread.map((e, i) => ({ ...e, labels: { tier: i % 2 === 0 ? "gold" : "silver" } }));
    const s = snap([reviews(endpoints), rule({ outlierDetection: outlier, loadBalancer: { localityLbSetting: { failoverPriority: ["tier"], failover: [{ from: "r1", to: "r2" }] } } })]);
    // gold: .1 (0), .3 (2), .5 (r3 is not r1's failover target: 4) -> 0, 1, 2; silver: .2 (1), .4 (r2: 3) -> 3, 4
    assert.deepEqual(priorities(assignment(s, node({ region: "r1", zone: "z1", subZone: "s1" }, { tier: "gold" }))), ["0:10.0.0.1", "1:10.0.0.3", "2:10.0.0.5", "3:10.0.0.2", "4:10.0.0.4"]);
    // failoverPriority alone ignores localities (istiod applies only the labels).
    const alone = snap([reviews(endpoints), rule({ outlierDetection: outlier, loadBalancer: { localityLbSetting: { failoverPriority: ["tier"] } } })]);
    assert.deepEqual(priorities(assignment(alone, node({ region: "r1", zone: "z1", subZone: "s1" }, { tier: "silver" }))), ["0:10.0.0.2", "0:10.0.0.4", "1:10.0.0.1", "1:10.0.0.3", "1:10.0.0.5"]);
  });

  it("reweights localities by the distribute rule matching the proxy and leaves the unnamed ones out, without outlier detection", () => {
    const endpoints = [...spread, { address: "10.0.0.6", locality: "r1/z2", weight: 3 }];
    const s = snap([reviews(endpoints), rule({ loadBalancer: { localityLbSetting: { distribute: [{ from: "r9/*", to: { r3: 100 } }, { from: "r1/z1/*", to: { "r1/z1/*": 60, "r1/z2": 40 } }] } } })]);
    // r1/z1/s1 and r1/z1/s2 (weight 1 each) share 60: 30 each; r1/z2 (weight 1+3) gets 40; r2 and r3 get nothing.
    assert.deepEqual(weights(assignment(s, node({ region: "r1", zone: "z1", subZone: "s2" }))), ["r1/z1/s1=30", "r1/z1/s2=30", "r1/z2/=40"]);
    // A proxy no rule matches keeps the plain weights.
    assert.deepEqual(weights(assignment(s, node({ region: "r5" }))).length, 5);
    assert.deepEqual(
      distributeWeights([{ locality: parseLocality("a/b"), weight: 1 }, { locality: parseLocality("a/c"), weight: 2 }, { locality: parseLocality("x"), weight: 5 }], { from: "*", to: [["a", 50], ["x", 50]] }),
      [17, 34, 50],
      "a's 50 split 1:2 and rounded up as istiod's math.Ceil",
    );
  });

  it("turns locality LB off with enabled: false in the DestinationRule, or in MeshConfig when the rule has no setting", () => {
    const at = node({ region: "r1", zone: "z1", subZone: "s1" });
    const off = snap([reviews(spread), rule({ outlierDetection: outlier, loadBalancer: { localityLbSetting: { enabled: false } } })]);
    assert.deepEqual(new Set(priorities(assignment(off, at)).map((x) => x.split(":")[0])), new Set(["0"]));
    const meshOff = snap([reviews(spread), rule({ outlierDetection: outlier })], { localityLbSetting: { enabled: false } });
    assert.deepEqual(new Set(priorities(assignment(meshOff, at)).map((x) => x.split(":")[0])), new Set(["0"]));
    // The rule's own setting replaces the mesh's: on again for this destination.
    const ruleOn = snap([reviews(spread), rule({ outlierDetection: outlier, loadBalancer: { localityLbSetting: { enabled: true } } })], { localityLbSetting: { enabled: false } });
    assert.equal(priorities(assignment(ruleOn, at))[0], "0:10.0.0.1");
    assert.equal(new Set(priorities(assignment(ruleOn, at)).map((x) => x.split(":")[0])).size, 4);
    // MeshConfig's failover applies to rules without a setting.
    const meshFailover = snap([reviews(spread), rule({ outlierDetection: outlier })], { localityLbSetting: { failover: [{ from: "r1", to: "r3" }] } });
    assert.deepEqual(priorities(assignment(meshFailover, at)).slice(-2), ["3:10.0.0.5", "4:10.0.0.4"]);
  });

  it("takes the proxy's locality from its Pod's Node, then the Pod's istio-locality label, before what its xDS node claims", () => {
    const k8s = (kind: string, name: string, body: Record<string, unknown>, namespace?: string): ConfigObject => ({
      apiVersion: "v1",
      kind,
      metadata: { name, namespace: namespace ?? "", labels: (body["labels"] as Record<string, string>) ?? {}, annotations: {}, uid: `uid-${name}` },
      spec: body["spec"],
      ...(body["status"] ? { status: body["status"] } : {}),
      origin: { source: "kubernetes", cluster: "Kubernetes", file: `k8s://Kubernetes/${kind}/${name}`, resource: `v1/${kind} ${name}` },
    });
    const kubeNode = k8s("Node", "node-a", { labels: { "topology.kubernetes.io/region": "r1", "topology.kubernetes.io/zone": "z2" }, spec: {} });
    const pod = (name: string, ip: string, labels: Record<string, string>) =>
      k8s("Pod", name, { labels, spec: { serviceAccountName: "default", nodeName: "node-a", containers: [{ name: "c" }] }, status: { podIP: ip, podIPs: [{ ip }] } }, "default");
    const s = snap([kubeNode, pod("client-1", "10.9.0.1", {}), pod("client-2", "10.9.0.2", { "istio-locality": "r2.z1.s1" }), reviews(spread), rule({ outlierDetection: outlier })]);
    const claims = { region: "r3", zone: "z1" };
    const onNode = node(claims);
    assert.deepEqual(proxyLocality(s, onNode), { region: "r1", zone: "z2", subZone: "" });
    assert.deepEqual(priorities(assignment(s, onNode)).slice(0, 2), ["0:10.0.0.3", "1:10.0.0.1"]);
    const labelled = parseProxyNode({ id: "sidecar~10.9.0.2~client-2.default~default.svc.cluster.local", metadata: { NAMESPACE: "default" }, locality: { ...claims, subZone: "" } });
    assert.deepEqual(proxyLocality(s, labelled), { region: "r2", zone: "z1", subZone: "s1" });
    // A proxy the registry does not know: its topology labels, else its node's locality.
    assert.deepEqual(proxyLocality(s, node(claims, {}, "10.9.0.77")), { region: "r3", zone: "z1", subZone: "" });
    assert.deepEqual(proxyLocality(s, node(claims, { "topology.kubernetes.io/region": "r9" }, "10.9.0.77")), { region: "r9", zone: "", subZone: "" });
  });

  it("takes a VM proxy's locality from its WorkloadEntry, not its xDS node", () => {
    const vm = file("WorkloadEntry", "vm-1", { address: "10.9.0.50", labels: { app: "vm" }, locality: "r2/z1" });
    const s = snap([vm, reviews(spread), rule({ outlierDetection: outlier })]);
    assert.deepEqual(proxyLocality(s, node({ region: "r1" }, {}, "10.9.0.50")), { region: "r2", zone: "z1", subZone: "" });
  });

  it("gives proxies in different localities different outbound keys, and the same key in the same locality", () => {
    const s = snap([reviews(spread), rule({ outlierDetection: outlier })]);
    const a1 = outboundKey(node({ region: "r1", zone: "z1" }, {}, "10.9.0.1"), s);
    const a2 = outboundKey(node({ region: "r1", zone: "z1" }, {}, "10.9.0.2"), s);
    const b = outboundKey(node({ region: "r1", zone: "z2" }, {}, "10.9.0.3"), s);
    assert.equal(a1, a2);
    assert.notEqual(a1, b);
  });

  it("keeps proxies in different localities on one outbound key when no setting can rank by locality", () => {
    // No outlier detection and no distribute: the EDS cannot differ, so the zones share one translation.
    const s = snap([reviews(spread), rule({})]);
    assert.equal(outboundKey(node({ region: "r1", zone: "z1" }, {}, "10.9.0.1"), s), outboundKey(node({ region: "r1", zone: "z2" }, {}, "10.9.0.3"), s));
  });

  it("rejects bad settings naming the field path, in a DestinationRule and in MeshConfig", () => {
    const bad = buildSnapshot({
      objects: [
        reviews(spread),
        rule({ outlierDetection: outlier, loadBalancer: { localityLbSetting: { distribute: [{ from: "r1/*/z", to: { r1: 60, r2: 30 } }], failover: [{ from: "r1", to: "r1" }] } } }),
      ],
      errors: [],
    });
    const messages = bad.errors.map((e) => `${e.path} ${e.message}`).join("\n");
    assert.match(messages, /trafficPolicy\.loadBalancer\.localityLbSetting\.distribute\[0\]\.to.*total locality weight 90 != 100/);
    assert.match(messages, /distribute\[0\]\.from.*wildcard/);
    assert.match(messages, /failover\[0\].*can not be equal/);
    assert.match(messages, /can not simultaneously specify 'distribute' and 'failover'/);
    const meshBad = buildSnapshot({ objects: [], errors: [], mesh: { doc: { localityLbSetting: { failover: [{ from: "r1/z1", to: "r2" }] } }, file: "mesh.yaml" } });
    assert.match(meshBad.errors.map((e) => `${e.path} ${e.message}`).join("\n"), /localityLbSetting\.failover\[0\].*regions only/);
  });
});
