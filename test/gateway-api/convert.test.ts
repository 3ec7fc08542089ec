// Golden tests of the Gateway API conversion (src/gateway-api/): `in/<case>.yaml` (Gateway API
// objects and the Services they name) -> `out/<case>.yaml`: the Istio Gateways and VirtualServices
// istiod would make of them, the status of every Gateway API object, and the reading errors.
// Regenerate with UPDATE_GOLDEN=1 and review the diff like code. Also a few properties the golden
// cannot show at a glance, asserted directly.
import { strict as assert } from "node:assert";
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { FileSource } from "../../src/sources/file.js";
import { convertGatewayApi, generatedGatewayName, hostnameIntersection } from "../../src/gateway-api/convert.js";
import { formatConfigError, type ConfigObject } from "../../src/model/config.js";
import { buildSnapshot } from "../../src/mesh/model.js";
import { parseProxyNode } from "../../src/model/proxy.js";
import { dumpResources } from "../../src/translate/dump.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const dir = join(root, "test/gateway-api");
const update = process.env["UPDATE_GOLDEN"] === "1";

function load(file: string): ConfigObject[] {
  const tmp = mkdtempSync(join(tmpdir(), "meshward-gwapi-"));
  try {
    copyFileSync(join(dir, "in", file), join(tmp, file));
    const set = new FileSource({ dir: tmp, log: () => {} }).load();
    assert.deepEqual(set.errors, []);
    return set.objects.map((o) => ({ ...o, origin: { ...o.origin, file } }));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

describe("Gateway API -> Istio objects (golden)", () => {
  for (const file of readdirSync(join(dir, "in")).filter((f) => f.endsWith(".yaml")).sort()) {
    it(`${basename(file, ".yaml")} converts as the golden says`, () => {
      const c = convertGatewayApi({ objects: load(file), domain: "cluster.local" });
      const text = [
        stringify({ errors: c.errors.map(formatConfigError) }, { lineWidth: 0 }),
        ...c.objects.map((o) => stringify({ apiVersion: o.apiVersion, kind: o.kind, metadata: { name: o.metadata.name, namespace: o.metadata.namespace, annotations: o.metadata.annotations }, spec: o.spec }, { lineWidth: 0, aliasDuplicateObjects: false })),
        ...c.statuses.map((s) => stringify({ status: `${s.kind} ${s.namespace}/${s.name}`, ...(s.conditions ? { conditions: s.conditions } : {}), ...(s.listeners ? { listeners: s.listeners } : {}), ...(s.parents ? { parents: s.parents } : {}) }, { lineWidth: 0 })),
      ].join("---\n");
      const out = join(dir, "out", file);
      if (update || !existsSync(out)) {
        writeFileSync(out, text);
        if (!update) assert.fail(`${out} did not exist; written, review it and re-run`);
      }
      assert.equal(text, readFileSync(out, "utf8"), `${out} differs; if intended, regenerate with UPDATE_GOLDEN=1 and review the diff`);
    });
  }
});

describe("Gateway API conversion: properties", () => {
  const objects = load("http.yaml");
  const c = convertGatewayApi({ objects, domain: "cluster.local" });
  const vs = (host: string): Record<string, unknown> | undefined =>
    c.objects.find((o) => o.kind === "VirtualService" && (o.spec as { hosts: string[] }).hosts[0] === host)?.spec as Record<string, unknown> | undefined;

  it("a backend in another namespace is routed to only with a ReferenceGrant", () => {
    const split = JSON.stringify(vs("first.domain.example"));
    assert.ok(split.includes("granted.service.svc.cluster.local"));
    assert.ok(!split.includes("not-granted.service.svc.cluster.local"));
    const http = c.statuses.find((s) => s.kind === "HTTPRoute" && s.name === "http");
    const resolved = http?.parents?.[0]?.conditions.find((x) => x.type === "ResolvedRefs");
    assert.deepEqual([resolved?.status, resolved?.reason], ["False", "RefNotPermitted"]);
    assert.match(resolved?.message ?? "", /backendRef not-granted\/service not accessible to a HTTPRoute in namespace "default"/);
  });
  it("a route a listener does not allow is not accepted and makes no VirtualService", () => {
    const s = c.statuses.find((x) => x.name === "wrong-namespace");
    assert.deepEqual(s?.parents?.[0]?.conditions[0], { type: "Accepted", status: "False", reason: "NotAllowedByListeners", message: "no listener of the parent allows this route's namespace or kind" });
    assert.ok(!c.objects.some((o) => String(o.metadata.annotations["internal.istio.io/parents"]).includes("wrong-namespace")));
  });
  it("a Gateway of another controller's class gets no Istio objects and no status", () => {
    assert.ok(!c.objects.some((o) => o.metadata.name.startsWith("not-ours")));
    assert.ok(!c.statuses.some((s) => s.name === "not-ours" || s.name === "other-class"));
  });
  it("a generated Gateway name stays a DNS-1123 label however long the names", () => {
    const long = generatedGatewayName("a-very-long-gateway-name-for-the-public-edge", "https-listener-for-everything");
    assert.ok(long.length <= 63 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(long), long);
    assert.notEqual(long, generatedGatewayName("a-very-long-gateway-name-for-the-public-edge", "https-listener-for-everything-else"));
  });
  it("the gateway pods behind the Gateway's Service get its routes; other routers get none of them", () => {
    const snapshot = buildSnapshot({ objects, errors: [] });
    const node = (labels: Record<string, string>) => parseProxyNode({ id: "router~10.1.0.9~ingress-1.istio-system~istio-system.svc.cluster.local", metadata: { NAMESPACE: "istio-system", LABELS: labels } });
    const routes = (labels: Record<string, string>) => (dumpResources(snapshot, node(labels))["routes"] ?? []) as { name: string; virtualHosts?: { name: string; domains: string[]; routes: unknown[] }[] }[];
    const http = routes({ istio: "ingressgateway" }).find((r) => r.name === "http.80");
    assert.ok(http !== undefined, "the router gets RDS http.80");
    const first = http.virtualHosts?.find((v) => v.domains.includes("first.domain.example"));
    assert.ok(first !== undefined, JSON.stringify(http.virtualHosts?.map((v) => v.domains)));
    const text = JSON.stringify(first.routes);
    assert.match(text, /outbound\|80\|\|httpbin\.default\.svc\.cluster\.local/);
    assert.match(text, /outbound\|80\|\|granted\.service\.svc\.cluster\.local/);
    assert.doesNotMatch(text, /not-granted/);
    assert.ok(routes({ istio: "ingressgateway" }).some((r) => r.name === "https.443.secure.gateway-istio-autogenerated-k8s-gateway-secure.istio-system"));
    assert.ok(!routes({ istio: "other-gateway" }).some((r) => r.name === "http.80"), "a router the Service does not select gets no route from it");
  });
  it("hostnames intersect as the Gateway API says", () => {
    assert.equal(hostnameIntersection("*.a.com", "x.a.com"), "x.a.com");
    assert.equal(hostnameIntersection("x.a.com", "*.a.com"), "x.a.com");
    assert.equal(hostnameIntersection("*.a.com", "a.com"), undefined);
    assert.equal(hostnameIntersection("*.a.com", "*.b.a.com"), "*.b.a.com");
    assert.equal(hostnameIntersection(undefined, "x.b.com"), "x.b.com");
    assert.equal(hostnameIntersection("x.a.com", "y.a.com"), undefined);
  });
  it("the model reads the converted objects instead of the Gateway API ones", () => {
    const snapshot = buildSnapshot({ objects, errors: [] });
    assert.ok(![...snapshot.accepted.keys()].some((k) => k.startsWith("HTTPRoute ") || k.startsWith("Gateway istio-system/gateway ")));
    assert.deepEqual(snapshot.errors.filter((e) => e.severity === "error"), []);
    assert.ok(snapshot.accepted.has("Gateway istio-system/gateway-istio-autogenerated-k8s-gateway-default"));
    assert.ok(snapshot.accepted.has("VirtualService default/istio-system~gateway~istio-autogenerated-k8s-gateway~default~first.domain.example"));
  });
});
