// Sidecar ingress listeners and port-bound egress listeners, one rule per test: the inbound side
// comes from the ingress listeners (chains, clusters, defaultEndpoint as istiod resolves it, mTLS
// and authorization as on service chains), cache and sharing keys separate what differs, and an
// egress listener with a port owns that port. test/golden/in/sidecar-ingress.yaml is the case
// diffed against istiod's own translation.
import { strict as assert } from "node:assert";
import { fromBinary } from "@bufbuild/protobuf";
import type { ConfigObject } from "../../src/model/config.js";
import { buildSnapshot } from "../../src/mesh/model.js";
import { MeshResourceProvider } from "../../src/mesh/provider.js";
import { snapshotChange } from "../../src/model/changes.js";
import { visibleServices } from "../../src/model/lookup.js";
import { parseProxyNode, type Proxy } from "../../src/model/proxy.js";
import type { MeshSnapshot } from "../../src/model/snapshot.js";
import { ingressEndpoint } from "../../src/ir/clusters.js";
import { translate } from "../../src/translate/index.js";
import { dumpResources } from "../../src/translate/dump.js";
import { TypeUrl } from "../../src/xds/types.js";
import { ClusterSchema } from "../../src/gen/envoy/config/cluster/v3/cluster_pb.js";

const file = "/cfg/sidecar-ingress.yaml";

function obj(kind: string, name: string, namespace: string, spec: unknown, apiVersion = "networking.istio.io/v1"): ConfigObject {
  return { apiVersion, kind, metadata: { name, namespace, labels: {}, annotations: {} }, spec, origin: { file } };
}

/** reviews serves 9080 (HTTP) and 9443 (TCP) on 10.9.0.1. */
const reviews = obj("ServiceEntry", "reviews", "default", {
  hosts: ["reviews.default.svc.cluster.local"],
  location: "MESH_INTERNAL",
  ports: [
    { number: 9080, name: "http", protocol: "HTTP" },
    { number: 9443, name: "tcp-admin", protocol: "TCP" },
  ],
  resolution: "STATIC",
  endpoints: [{ address: "10.9.0.1", labels: { app: "reviews" } }],
});

function sidecar(name: string, app: string, ingress: unknown[], egress?: unknown[]): ConfigObject {
  return obj("Sidecar", name, "default", { workloadSelector: { labels: { app } }, ingress, ...(egress ? { egress } : {}) });
}

function build(objects: ConfigObject[], previous?: MeshSnapshot): MeshSnapshot {
  return buildSnapshot({ objects: [reviews, ...objects], errors: [] }, previous);
}

function proxy(app: string, ip = "10.9.0.1"): Proxy {
  return parseProxyNode({ id: `sidecar~${ip}~${app}-0.default~default.svc.cluster.local`, metadata: { NAMESPACE: "default", LABELS: { app } } });
}

interface Chain {
  name?: string;
  filterChainMatch?: { destinationPort?: number; transportProtocol?: string };
  metadata?: { filterMetadata?: { istio?: { config?: string } } };
  filters?: { name?: string }[];
}

function inboundChains(s: MeshSnapshot, p: Proxy): Chain[] {
  const listeners = (dumpResources(s, p)["listeners"] ?? []) as { name?: string; filterChains?: Chain[] }[];
  return listeners.find((l) => l.name === "virtualInbound")?.filterChains ?? [];
}

function inboundClusters(s: MeshSnapshot, p: Proxy): Record<string, unknown>[] {
  return ((dumpResources(s, p)["clusters"] ?? []) as Record<string, unknown>[]).filter((c) => String(c["name"]).startsWith("inbound|"));
}

const http9080 = { port: { number: 9080, protocol: "HTTP", name: "http" }, defaultEndpoint: "127.0.0.1:8080" };

describe("Sidecar ingress listeners", () => {
  it("rejects an ingress listener in captureMode NONE, naming its field, and keeps the Sidecar out", () => {
    const s = build([sidecar("bad", "reviews", [{ ...http9080, captureMode: "NONE" }])]);
    const hit = s.errors.find((e) => e.object === "Sidecar default/bad" && e.path === "spec.ingress[0].captureMode");
    assert.ok(hit, JSON.stringify(s.errors));
    assert.equal(hit.file, file);
    assert.match(hit.message, /captureMode NONE/);
  });

  it("with ingress listeners the inbound chains and clusters come from them, not from the served services", () => {
    const p = proxy("reviews");
    const without = build([]);
    assert.ok(inboundChains(without, p).some((c) => c.name === "0.0.0.0_9443"), "without a Sidecar the service's 9443 has a chain");
    const s = build([sidecar("reviews", "reviews", [http9080, { port: { number: 9555, protocol: "TCP", name: "tcp" } }])]);
    const named = new Set(inboundChains(s, p).map((c) => c.name));
    assert.ok(named.has("0.0.0.0_9080") && named.has("0.0.0.0_9555"));
    assert.ok(!named.has("0.0.0.0_9443"), "a service port the ingress does not list gets no chain of its own (the passthrough chains take it)");
    const clusters = inboundClusters(s, p);
    assert.deepEqual(clusters.map((c) => c["name"]).sort(), ["inbound|9080||", "inbound|9555||"]);
    const c9080 = clusters.find((c) => c["name"] === "inbound|9080||");
    assert.equal(c9080?.["type"], "STATIC");
    assert.match(JSON.stringify(c9080?.["loadAssignment"]), /"address":"127.0.0.1","portValue":8080/);
    assert.equal(c9080?.["upstreamBindConfig"], undefined, "loopback endpoints are not bound to 127.0.0.6");
    const c9555 = clusters.find((c) => c["name"] === "inbound|9555||");
    assert.equal(c9555?.["type"], "ORIGINAL_DST", "no defaultEndpoint: the original destination");
  });

  it("resolves a defaultEndpoint as istiod: 0.0.0.0 the first IPv4, [::] the first IPv6, loopback when none, unix a pipe", () => {
    const both = { ips: ["fd00::9", "10.9.0.1"] };
    assert.deepEqual(ingressEndpoint("127.0.0.1:8080", both), { kind: "socket", address: "127.0.0.1", port: 8080 });
    assert.deepEqual(ingressEndpoint("0.0.0.0:8080", both), { kind: "socket", address: "10.9.0.1", port: 8080 });
    assert.deepEqual(ingressEndpoint("[::]:8080", both), { kind: "socket", address: "fd00::9", port: 8080 });
    assert.deepEqual(ingressEndpoint("[::1]:8080", both), { kind: "socket", address: "::1", port: 8080 });
    assert.deepEqual(ingressEndpoint("0.0.0.0:8080", { ips: ["fd00::9"] }), { kind: "socket", address: "127.0.0.1", port: 8080 });
    assert.deepEqual(ingressEndpoint("[::]:8080", { ips: ["10.9.0.1"] }), { kind: "socket", address: "::1", port: 8080 });
    assert.deepEqual(ingressEndpoint("unix:///var/run/app.sock", both), { kind: "pipe", path: "/var/run/app.sock" });
  });

  it("an ingress bind address names the chain and its stat prefix, and the chain names its Sidecar", () => {
    const s = build([sidecar("reviews", "reviews", [{ ...http9080, bind: "10.9.0.1" }])]);
    const chains = inboundChains(s, proxy("reviews")).filter((c) => c.filterChainMatch?.destinationPort === 9080);
    assert.ok(chains.length > 0);
    for (const c of chains) {
      assert.equal(c.name, "10.9.0.1_9080");
      assert.equal(c.metadata?.filterMetadata?.istio?.config, "/apis/networking.istio.io/v1/namespaces/default/sidecar/reviews");
      assert.match(JSON.stringify(c), /"statPrefix":"inbound_10.9.0.1_9080"/);
    }
  });

  it("port-level mTLS and AuthorizationPolicy apply to an ingress port as to a service port", () => {
    const pa = obj("PeerAuthentication", "reviews", "default", { selector: { matchLabels: { app: "reviews" } }, mtls: { mode: "PERMISSIVE" }, portLevelMtls: { "9666": { mode: "STRICT" } } }, "security.istio.io/v1");
    const authz = obj("AuthorizationPolicy", "deny-all", "default", { selector: { matchLabels: { app: "reviews" } }, action: "DENY", rules: [{}] }, "security.istio.io/v1");
    const s = build([pa, authz, sidecar("reviews", "reviews", [{ port: { number: 9666, protocol: "HTTP", name: "http-x" } }])]);
    const chains = inboundChains(s, proxy("reviews")).filter((c) => c.filterChainMatch?.destinationPort === 9666);
    assert.deepEqual(chains.map((c) => c.filterChainMatch?.transportProtocol), ["tls"], "STRICT on the ingress port: TLS only");
    assert.match(JSON.stringify(chains), /envoy\.filters\.http\.rbac/);
    assert.match(JSON.stringify(chains), /ns\[default\]-policy\[deny-all\]/);
  });

  it("a quarantined workload's ingress chains deny every call, as its service chains would", () => {
    const quarantine = obj("WorkloadEnforcement", "q", "default", { action: "quarantine", addresses: ["10.9.0.1"] }, "meshward.io/v1alpha1");
    const withSidecar = [sidecar("reviews", "reviews", [{ port: { number: 9555, protocol: "TCP", name: "tcp" } }])];
    const port9555 = (s: MeshSnapshot): string => JSON.stringify(inboundChains(s, proxy("reviews")).filter((c) => c.filterChainMatch?.destinationPort === 9555));
    assert.doesNotMatch(port9555(build(withSidecar)), /envoy\.filters\.network\.rbac/, "no policy: no RBAC");
    const chains = port9555(build([quarantine, ...withSidecar]));
    assert.match(chains, /envoy\.filters\.network\.rbac/);
    assert.match(chains, /"action":"DENY"/);
  });

  it("two groups whose Sidecar ingress differs never share chains, even on the same port and protocol", () => {
    // Same policies, same port and protocol: without the Sidecar in the chain-sharing key the
    // second proxy would get the first one's chains (and its Sidecar in their metadata).
    const s = build([sidecar("alpha", "alpha", [http9080]), sidecar("beta", "beta", [{ ...http9080, defaultEndpoint: "127.0.0.1:8081" }])]);
    for (const app of ["alpha", "beta"]) {
      const chains = inboundChains(s, proxy(app, app === "alpha" ? "10.9.0.2" : "10.9.0.3")).filter((c) => c.filterChainMatch?.destinationPort === 9080);
      assert.ok(chains.length > 0);
      for (const c of chains) assert.equal(c.metadata?.filterMetadata?.istio?.config, `/apis/networking.istio.io/v1/namespaces/default/sidecar/${app}`);
    }
  });

  it("a Sidecar ingress change touches only its proxies and re-keys their inbound listener and clusters", () => {
    const before = build([sidecar("reviews", "reviews", [http9080])]);
    const after = build([sidecar("reviews", "reviews", [{ ...http9080, defaultEndpoint: "127.0.0.1:8081" }])], before);
    const change = snapshotChange(before, after);
    assert.ok(change !== undefined && !change.all);
    assert.equal(change.affects(proxy("reviews")), true);
    assert.equal(change.affects(proxy("ratings", "10.9.0.5")), false);
    const key = (s: MeshSnapshot, type: TypeUrl, name: string): string | undefined => translate(s, proxy("reviews")).get(type)?.find((r) => r.name === name)?.key;
    assert.notEqual(key(before, TypeUrl.Cluster, "inbound|9080||"), key(after, TypeUrl.Cluster, "inbound|9080||"));
    const moved = build([sidecar("reviews", "reviews", [{ ...http9080, port: { number: 9081, protocol: "HTTP", name: "http" } }])], before);
    assert.notEqual(key(before, TypeUrl.Listener, "virtualInbound"), key(moved, TypeUrl.Listener, "virtualInbound"));
  });

  it("through the push path, replicas whose ingress sends to the instance IP each get their own address", () => {
    const provider = new MeshResourceProvider();
    provider.update(build([sidecar("web", "web", [{ port: { number: 9080, protocol: "HTTP", name: "http" }, defaultEndpoint: "0.0.0.0:8080" }])]));
    const endpointOf = (p: Proxy): string => {
      const bytes = provider.resources(p, TypeUrl.Cluster).get("inbound|9080||")?.bytes;
      assert.ok(bytes !== undefined, "the ingress port has its inbound cluster");
      const address = fromBinary(ClusterSchema, bytes).loadAssignment?.endpoints[0]?.lbEndpoints[0]?.hostIdentifier;
      return address?.case === "endpoint" && address.value.address?.address.case === "socketAddress" ? address.value.address.address.value.address : "";
    };
    // Same namespace, labels and (no) service targets: only the instance IP tells them apart.
    assert.equal(endpointOf(proxy("web", "10.9.0.7")), "10.9.0.7");
    assert.equal(endpointOf(proxy("web", "10.9.0.8")), "10.9.0.8");
  });
});

describe("Sidecar port-bound egress listeners", () => {
  /** A service on 8080 (HTTP) and 9000 (TCP). */
  const twoPorts = (name: string, namespace: string, vip: string, endpoint: string): ConfigObject =>
    obj("ServiceEntry", name, namespace, {
      hosts: [`${name}.${namespace}.svc.cluster.local`],
      addresses: [vip],
      ports: [
        { number: 8080, name: "http", protocol: "HTTP" },
        { number: 9000, name: "tcp", protocol: "TCP" },
      ],
      resolution: "STATIC",
      endpoints: [{ address: endpoint }],
    });
  const local = twoPorts("local", "default", "240.240.0.1", "10.0.0.1");
  const kept = twoPorts("kept", "other", "240.240.0.2", "10.0.1.1");
  const egress = [{ port: { number: 8080, protocol: "HTTP", name: "http" }, hosts: ["other/kept.other.svc.cluster.local"] }, { hosts: ["./*"] }];
  const s = build([local, kept, obj("Sidecar", "client", "default", { workloadSelector: { labels: { app: "client" } }, egress })]);
  const client = proxy("client", "10.9.0.9");

  it("accepts a port-bound egress listener without a warning", () => {
    assert.deepEqual(s.errors.filter((e) => e.object === "Sidecar default/client"), []);
  });

  it("imports the listener's services with that port only; the catch-all imports every port", () => {
    const ports = Object.fromEntries(visibleServices(s, client).map((x) => [x.hostname, x.ports.map((p) => p.number)]));
    assert.deepEqual(ports["kept.other.svc.cluster.local"], [8080]);
    assert.deepEqual(ports["local.default.svc.cluster.local"], [8080, 9000]);
  });

  it("the bound port's route carries only the listener's hosts; the catch-all keeps its services' clusters", () => {
    const d = dumpResources(s, client);
    const route = ((d["routes"] ?? []) as { name?: string; virtualHosts?: { name?: string }[] }[]).find((r) => r.name === "8080");
    const hosts = (route?.virtualHosts ?? []).map((v) => v.name);
    assert.ok(hosts.includes("kept.other.svc.cluster.local:8080"), JSON.stringify(hosts));
    assert.ok(!hosts.includes("local.default.svc.cluster.local:8080"), "local is not imported by the 8080 listener");
    const clusters = ((d["clusters"] ?? []) as { name?: string }[]).map((c) => c.name);
    assert.ok(clusters.includes("outbound|8080||local.default.svc.cluster.local"), "istiod keeps the catch-all's cluster");
    assert.ok(!clusters.includes("outbound|9000||kept.other.svc.cluster.local"), "kept only on the bound port");
  });
});
