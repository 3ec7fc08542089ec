// Which proxies a Gateway reaches and how a gateway reads its topology: a Gateway change touches
// the router proxies its old or new selector picks (no sidecar, no other router), a Gateway
// without a selector every router; numTrustedProxies comes from the pod's proxy config over the
// mesh's default.
import { strict as assert } from "node:assert";
import { buildSnapshot } from "../../src/mesh/model.js";
import type { ConfigObject } from "../../src/model/config.js";
import { snapshotChange } from "../../src/model/changes.js";
import { parseProxyNode } from "../../src/model/proxy.js";
import { gatewaysFor } from "../../src/gateway/merge.js";
import { gatewayTopology } from "../../src/translate/router/hcm.js";
import { parseMeshConfig, defaultMeshConfig } from "../../src/model/mesh-config.js";
import { FieldProblems } from "../../src/model/fields.js";
import { analyzeSnapshot } from "../../src/analysis/analyzers.js";
import { translate } from "../../src/translate/index.js";
import { TypeUrl } from "../../src/xds/types.js";

function gateway(name: string, selector: Record<string, string> | undefined, port = 80): ConfigObject {
  return {
    apiVersion: "networking.istio.io/v1",
    kind: "Gateway",
    metadata: { name, namespace: "istio-system", labels: {}, annotations: {} },
    spec: { ...(selector ? { selector } : {}), servers: [{ port: { number: port, name: "http", protocol: "HTTP" }, hosts: ["*"] }] },
    origin: { file: "/cfg/gw.yaml" },
  };
}

const node = (type: "router" | "sidecar", labels: Record<string, string>, pod = "p") =>
  parseProxyNode({ id: `${type}~10.0.0.1~${pod}.istio-system~istio-system.svc.cluster.local`, metadata: { NAMESPACE: "istio-system", LABELS: labels } });

const ingress = node("router", { istio: "ingressgateway" }, "ingress");
const egress = node("router", { istio: "egressgateway" }, "egress");
const sidecar = node("sidecar", { istio: "ingressgateway" }, "app");

describe("Gateway selection and change scope", () => {
  it("a Gateway with a selector applies to the routers holding its labels, from any namespace's Gateway (PILOT_SCOPE_GATEWAY_TO_NAMESPACE off)", () => {
    const s = buildSnapshot({ objects: [gateway("in", { istio: "ingressgateway" }), gateway("all", undefined, 81)], errors: [] });
    assert.deepEqual(gatewaysFor(s, ingress).map((g) => g.name), ["all", "in"]);
    assert.deepEqual(gatewaysFor(s, egress).map((g) => g.name), ["all"]);
    assert.deepEqual(gatewaysFor(s, sidecar), [], "sidecars run no Gateway");
    assert.deepEqual(gatewaysFor(s, { ...ingress, namespace: "other" }, true).map((g) => g.name), [], "scoped to its namespace, a router elsewhere gets none");
  });

  it("changing a Gateway touches the routers its old or new selector picks, and no sidecar", () => {
    const before = buildSnapshot({ objects: [gateway("gw", { istio: "ingressgateway" })], errors: [] });
    const after = buildSnapshot({ objects: [gateway("gw", { istio: "egressgateway" })], errors: [] }, before);
    const change = snapshotChange(before, after);
    assert.ok(change !== undefined && !change.all, "a scoped change");
    assert.equal(change.affects(ingress), true);
    assert.equal(change.affects(egress), true);
    assert.equal(change.affects(sidecar), false);
    assert.equal(change.affects(node("router", { istio: "eastwestgateway" }, "ew")), false);
  });

  it("numTrustedProxies: the pod's proxy config (PROXY_CONFIG) over MeshConfig defaultConfig, default 0", () => {
    assert.deepEqual(gatewayTopology(defaultMeshConfig, ingress), { numTrustedProxies: 0 });
    const p = new FieldProblems();
    const mesh = parseMeshConfig({ defaultConfig: { gatewayTopology: { numTrustedProxies: 2 } } }, p)!;
    assert.equal(gatewayTopology(mesh, ingress).numTrustedProxies, 2);
    const annotated = parseProxyNode({ id: ingress.id, metadata: { NAMESPACE: "istio-system", LABELS: { istio: "ingressgateway" }, PROXY_CONFIG: { gatewayTopology: { numTrustedProxies: 1, forwardClientCertDetails: "APPEND_FORWARD" } } } });
    assert.deepEqual(gatewayTopology(mesh, annotated), { numTrustedProxies: 1, forwardClientCertDetails: "APPEND_FORWARD" });
  });
});

describe("analyze: conflicting Gateways (IST0145)", () => {
  it("reports each server that workloads selected by several Gateways would leave out, with why", () => {
    const https = (name: string, ns: string, credential: string): ConfigObject => ({
      apiVersion: "networking.istio.io/v1",
      kind: "Gateway",
      metadata: { name, namespace: ns, labels: {}, annotations: {} },
      spec: { selector: { istio: "ingressgateway" }, servers: [{ port: { number: 443, name: "https", protocol: "HTTPS" }, hosts: ["shop.example.com"], tls: { mode: "SIMPLE", credentialName: credential } }] },
      origin: { file: `/cfg/${name}.yaml` },
    });
    const s = buildSnapshot({ objects: [https("a", "istio-system", "a-cert"), https("b", "team-b", "b-cert"), gateway("other", { istio: "egressgateway" })], errors: [] });
    const findings = analyzeSnapshot(s).filter((f) => f.type.code === "IST0145");
    assert.deepEqual(
      findings.map((f) => [f.object, f.origin, f.message]),
      [["Gateway team-b/b", "/cfg/b.yaml", "spec.servers[0] is left out on workloads labelled istio=ingressgateway: duplicate host names on port 443: shop.example.com"]],
    );
  });
});

describe("a router's labels come from its Pod when the registry knows it", () => {
  const pod = (name: string, ip: string, labels: Record<string, string>): ConfigObject => ({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: "istio-system", labels, annotations: {}, uid: `uid-${name}` },
    spec: { serviceAccountName: "istio-ingressgateway", containers: [] },
    status: { podIP: ip, podIPs: [{ ip }] },
    origin: { source: "kubernetes", cluster: "Kubernetes", file: `k8s://Kubernetes/v1/Pod istio-system/${name}`, resource: `v1/Pod istio-system/${name}` },
  });
  const s = buildSnapshot({ objects: [gateway("in", { istio: "ingressgateway" }), pod("web-1", "10.0.7.1", { app: "web" }), pod("ingress-7", "10.0.7.2", { istio: "ingressgateway" })], errors: [] });
  const router = (podName: string, ip: string, labels: Record<string, string>) =>
    parseProxyNode({ id: `router~${ip}~${podName}.istio-system~istio-system.svc.cluster.local`, metadata: { NAMESPACE: "istio-system", LABELS: labels } });
  const listeners = (p: ReturnType<typeof router>): string[] => (translate(s, p).get(TypeUrl.Listener) ?? []).map((r) => r.name);

  it("a pod claiming the ingress gateway's labels its Pod does not have gets no gateway listener", () => {
    assert.deepEqual(listeners(router("web-1", "10.0.7.1", { istio: "ingressgateway" })), []);
  });
  it("the gateway's own Pod is selected by its registry labels, whatever it claims", () => {
    assert.deepEqual(listeners(router("ingress-7", "10.0.7.2", {})), ["0.0.0.0_80"]);
  });
  it("a router the registry does not know (outside Kubernetes) is selected by the labels it sends", () => {
    assert.deepEqual(listeners(router("vm-gateway", "10.9.9.9", { istio: "ingressgateway" })), ["0.0.0.0_80"]);
  });
});
