// Kubernetes Gateway API on a real apiserver (with the Gateway API's own CRDs from the Go module
// proxy): meshward's Kubernetes source watches Gateways and routes, the model serves the Istio
// objects istiod would make of them, and the Lease holder writes back the status istiod writes:
// Accepted / Programmed / ResolvedRefs on the Gateway and its listeners (with attachedRoutes), and
// per-parent conditions on routes; a cross-namespace backend waits for a ReferenceGrant.
import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CoreV1Api, CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import type { ControlPlane } from "../../src/mesh/control-plane.js";
import { startTestControlPlane } from "../support/control-plane.js";
import { eventually } from "../support/eventually.js";
import { kubeApiserverOrSkip, uniqueName, type KubeApiserver } from "../support/kube-apiserver.js";
import { applyGatewayApiCrds, applyIstioCrds } from "../support/kube-mesh.js";
import { KubeApiError, KubeClient } from "../../src/kube/client.js";
import type { Condition } from "../../src/kube/status.js";

const group = "gateway.networking.k8s.io";
const version = "v1";

interface GatewayStatus {
  conditions?: Condition[];
  listeners?: { name: string; attachedRoutes: number; conditions: Condition[] }[];
  parents?: { controllerName: string; parentRef: Record<string, unknown>; conditions: Condition[] }[];
}

describe("kube: Gateway API status written back by the Lease holder", function () {
  this.timeout(180_000);
  let kas: KubeApiserver;
  let custom: CustomObjectsApi;
  let dir = "";
  let ns = "";
  let backends = "";
  let cp: ControlPlane | undefined;

  const get = async (plural: string, name: string, namespace = ns): Promise<GatewayStatus | undefined> =>
    ((await custom.getNamespacedCustomObject({ group, version, plural, namespace, name })) as { status?: GatewayStatus }).status;
  const condition = (conditions: readonly Condition[] | undefined, type: string): Condition | undefined => conditions?.find((c) => c.type === type);
  const virtualService = (host: string): string | undefined => {
    const vs = (cp!.provider.snapshot.others.get("VirtualService") ?? []).find((a) => (a.object.spec as { hosts?: string[] }).hosts?.includes(host));
    return vs === undefined ? undefined : JSON.stringify(vs.object.spec);
  };

  before(async function () {
    kas = kubeApiserverOrSkip(this);
    const kc = new KubeConfig();
    kc.loadFromFile(kas.kubeconfig);
    custom = kc.makeApiClient(CustomObjectsApi);
    const client = new KubeClient(kc);
    await applyIstioCrds(client);
    await applyGatewayApiCrds(client);
    const core = kc.makeApiClient(CoreV1Api);
    const cpNamespace = uniqueName("meshward");
    ns = uniqueName("edge");
    backends = uniqueName("backends");
    for (const name of [cpNamespace, ns, backends]) await core.createNamespace({ body: { metadata: { name } } });
    // The Service in front of the gateway pods (istiod's `<gateway>-<class>`) and two backends.
    await core.createNamespacedService({ namespace: ns, body: { metadata: { name: "gw-istio" }, spec: { ports: [{ name: "http", port: 80 }] } } });
    await core.createNamespacedService({ namespace: ns, body: { metadata: { name: "web" }, spec: { ports: [{ name: "http", port: 8080 }] } } });
    await core.createNamespacedService({ namespace: backends, body: { metadata: { name: "api" }, spec: { ports: [{ name: "http", port: 9090 }] } } });
    try {
      await custom.createClusterCustomObject({ group, version, plural: "gatewayclasses", body: { apiVersion: `${group}/${version}`, kind: "GatewayClass", metadata: { name: "istio" }, spec: { controllerName: "istio.io/gateway-controller" } } });
    } catch (e) {
      if (!(e instanceof Error && /409|AlreadyExists/.test(e.message)) && !(e instanceof KubeApiError && e.status === 409)) throw e;
    }
    dir = mkdtempSync(join(tmpdir(), "meshward-gwapi-status-"));
    writeFileSync(join(dir, "mesh.yaml"), "trustDomain: cluster.local\nrootNamespace: istio-system\n");
    cp = await startTestControlPlane(dir, {
      dataDir: join(dir, "data"),
      kubernetes: { kubeconfig: kas.kubeconfig },
      kube: { kubeConfig: kc, namespace: cpNamespace, replicaId: "r1", leaseDurationMs: 3000, renewDeadlineMs: 1500, retryPeriodMs: 500 },
    });
    await eventually("r1 to hold the Lease", () => (cp!.kube!.elector.isLeader ? true : undefined));
  });

  after(async () => {
    await cp?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("a Gateway and its routes are served as Istio objects and get istiod's conditions", async () => {
    await custom.createNamespacedCustomObject({
      group, version, plural: "gateways", namespace: ns,
      body: { apiVersion: `${group}/${version}`, kind: "Gateway", metadata: { name: "gw" }, spec: { gatewayClassName: "istio", listeners: [{ name: "http", port: 80, protocol: "HTTP", hostname: "*.example.com" }] } },
    });
    await custom.createNamespacedCustomObject({
      group, version, plural: "httproutes", namespace: ns,
      body: { apiVersion: `${group}/${version}`, kind: "HTTPRoute", metadata: { name: "web" }, spec: { parentRefs: [{ name: "gw" }], hostnames: ["shop.example.com"], rules: [{ backendRefs: [{ name: "web", port: 8080 }] }] } },
    });
    await eventually("the VirtualService for shop.example.com", () => virtualService("shop.example.com"));
    assert.match(virtualService("shop.example.com")!, new RegExp(`web\\.${ns}\\.svc\\.cluster\\.local`));
    assert.ok(cp!.provider.snapshot.accepted.has(`Gateway ${ns}/gw-istio-autogenerated-k8s-gateway-http`));

    const gateway = await eventually("the Gateway's status", async () => {
      const s = await get("gateways", "gw");
      return condition(s?.conditions, "Programmed") !== undefined && s?.listeners?.[0]?.attachedRoutes === 1 ? s : undefined;
    });
    assert.deepEqual(
      (gateway.conditions ?? []).map((c) => [c.type, c.status, c.reason]),
      [["Accepted", "True", "Accepted"], ["Programmed", "True", "Programmed"], ["ResolvedRefs", "True", "ResolvedRefs"]],
    );
    assert.equal(condition(gateway.conditions, "Accepted")?.observedGeneration, 1);
    assert.deepEqual(gateway.listeners?.[0]?.conditions.map((c) => [c.type, c.status]), [["Accepted", "True"], ["Conflicted", "False"], ["Programmed", "True"], ["ResolvedRefs", "True"]]);

    const route = await eventually("the HTTPRoute's status", async () => (await get("httproutes", "web"))?.parents?.[0]);
    assert.equal(route.controllerName, "istio.io/gateway-controller");
    assert.deepEqual(route.parentRef, { group, kind: "Gateway", name: "gw" });
    assert.deepEqual(route.conditions.map((c) => [c.type, c.status, c.reason, c.message]), [["Accepted", "True", "Accepted", "Route was valid"], ["ResolvedRefs", "True", "ResolvedRefs", "All references resolved"]]);
  });

  it("a backend in another namespace is refused (RefNotPermitted) until a ReferenceGrant allows it", async () => {
    await custom.createNamespacedCustomObject({
      group, version, plural: "httproutes", namespace: ns,
      body: { apiVersion: `${group}/${version}`, kind: "HTTPRoute", metadata: { name: "api" }, spec: { parentRefs: [{ name: "gw" }], hostnames: ["api.example.com"], rules: [{ backendRefs: [{ name: "api", namespace: backends, port: 9090 }] }] } },
    });
    const refused = await eventually("ResolvedRefs=False on the route", async () => {
      const c = condition((await get("httproutes", "api"))?.parents?.[0]?.conditions, "ResolvedRefs");
      return c?.status === "False" ? c : undefined;
    });
    assert.equal(refused.reason, "RefNotPermitted");
    assert.equal(refused.message, `backendRef api/${backends} not accessible to a HTTPRoute in namespace "${ns}" (missing a ReferenceGrant?)`);
    const before = virtualService("api.example.com");
    assert.ok(before !== undefined && !before.includes(`api.${backends}.svc`), "no route to the refused backend");
    assert.match(before, /"status":500/);
    const firstTransition = condition((await get("httproutes", "api"))?.parents?.[0]?.conditions, "Accepted")?.lastTransitionTime;

    await custom.createNamespacedCustomObject({
      group, version, plural: "referencegrants", namespace: backends,
      body: { apiVersion: `${group}/${version}`, kind: "ReferenceGrant", metadata: { name: "from-edge" }, spec: { from: [{ group, kind: "HTTPRoute", namespace: ns }], to: [{ group: "", kind: "Service" }] } },
    });
    await eventually("ResolvedRefs=True after the grant", async () => (condition((await get("httproutes", "api"))?.parents?.[0]?.conditions, "ResolvedRefs")?.status === "True" ? true : undefined));
    await eventually("the route to reach the granted backend", () => (virtualService("api.example.com")?.includes(`api.${backends}.svc.cluster.local`) ? true : undefined));
    // Accepted stayed True throughout: its transition time is kept.
    assert.equal(condition((await get("httproutes", "api"))?.parents?.[0]?.conditions, "Accepted")?.lastTransitionTime, firstTransition);
    const gateway = await get("gateways", "gw");
    assert.equal(gateway?.listeners?.[0]?.attachedRoutes, 2);
  });

  it("a route moved to another controller's Gateway loses meshward's parents entry", async () => {
    await custom.createNamespacedCustomObject({
      group, version, plural: "gateways", namespace: ns,
      body: { apiVersion: `${group}/${version}`, kind: "Gateway", metadata: { name: "elsewhere" }, spec: { gatewayClassName: "someone-else", listeners: [{ name: "http", port: 80, protocol: "HTTP" }] } },
    });
    const current = (await custom.getNamespacedCustomObject({ group, version, plural: "httproutes", namespace: ns, name: "web" })) as { metadata: { resourceVersion: string }; spec: Record<string, unknown> };
    await custom.replaceNamespacedCustomObject({
      group, version, plural: "httproutes", namespace: ns, name: "web",
      body: { apiVersion: `${group}/${version}`, kind: "HTTPRoute", metadata: { name: "web", resourceVersion: current.metadata.resourceVersion }, spec: { ...current.spec, parentRefs: [{ name: "elsewhere" }] } },
    });
    await eventually("meshward's parents entry to go", async () => ((await get("httproutes", "web"))?.parents ?? []).length === 0 || undefined);
    await eventually("the Gateway to count one route", async () => ((await get("gateways", "gw"))?.listeners?.[0]?.attachedRoutes === 1 ? true : undefined));
    assert.equal(virtualService("shop.example.com"), undefined, "no VirtualService for the moved route");
  });
});
