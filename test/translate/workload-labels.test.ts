// A sidecar's labels come from its Pod when the registry knows it (istiod's SetWorkloadLabels), not
// from the LABELS its node metadata claims: a workload cannot step out from under a policy that
// selects it, nor put itself under one meant for another, by claiming labels. A proxy the registry
// does not know (a VM) is seen as it says. A Pod relabelled re-pushes its proxy though no service
// changed, and a policy change reaches a proxy by its Pod's labels.
import assert from "node:assert/strict";
import { toBinary } from "@bufbuild/protobuf";
import type { ConfigObject } from "../../src/model/config.js";
import type { MeshSnapshot } from "../../src/model/snapshot.js";
import { buildSnapshot } from "../../src/mesh/model.js";
import { snapshotChange } from "../../src/model/changes.js";
import { parseProxyNode, type Proxy } from "../../src/model/proxy.js";
import { workloadView } from "../../src/model/placement.js";
import { MeshResourceProvider } from "../../src/mesh/provider.js";
import { translate } from "../../src/translate/index.js";
import { TypeUrl } from "../../src/xds/types.js";

const pod = (name: string, ip: string, labels: Record<string, string>): ConfigObject => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace: "foo", labels, annotations: {}, uid: `uid-${name}` },
  spec: { serviceAccountName: name, containers: [] },
  status: { podIP: ip, podIPs: [{ ip }] },
  origin: { source: "kubernetes", cluster: "Kubernetes", file: `k8s://Kubernetes/v1/Pod foo/${name}`, resource: `v1/Pod foo/${name}` },
});

const denyWeb: ConfigObject = {
  apiVersion: "security.istio.io/v1",
  kind: "AuthorizationPolicy",
  metadata: { name: "deny-web", namespace: "foo", labels: {}, annotations: {} },
  spec: { selector: { matchLabels: { app: "web" } }, action: "DENY", rules: [{ to: [{ operation: { paths: ["/admin"] } }] }] },
  origin: { file: "/cfg/deny-web.yaml" },
};

const sidecar = (podName: string, ip: string, claimed: Record<string, string>): Proxy =>
  parseProxyNode({ id: `sidecar~${ip}~${podName}.foo~foo.svc.cluster.local`, metadata: { NAMESPACE: "foo", LABELS: claimed } });

const snapshot = (objects: ConfigObject[], previous?: MeshSnapshot): MeshSnapshot => buildSnapshot({ objects, errors: [] }, previous);

/** Whether the proxy's listeners carry the deny-web policy (its RBAC policy names the policy). */
function underDenyWeb(listeners: ReadonlyArray<{ build(): { schema: Parameters<typeof toBinary>[0]; message: Parameters<typeof toBinary>[1] } }>): boolean {
  return listeners.some((l) => {
    const { schema, message } = l.build();
    return Buffer.from(toBinary(schema, message)).includes("policy[deny-web]");
  });
}

describe("a sidecar's labels come from its Pod when the registry knows it", () => {
  const pods = [pod("web-1", "10.0.8.1", { app: "web" }), pod("api-1", "10.0.8.2", { app: "api" })];
  const s = snapshot([...pods, denyWeb]);
  const listenersOf = (p: Proxy) => translate(s, p).get(TypeUrl.Listener) ?? [];

  it("a policy selecting its Pod's labels applies, whatever labels it claims", () => {
    assert.equal(underDenyWeb(listenersOf(sidecar("web-1", "10.0.8.1", { app: "api" }))), true);
    assert.equal(underDenyWeb(listenersOf(sidecar("web-1", "10.0.8.1", {}))), true);
  });

  it("claiming another workload's labels does not put it under that workload's policy", () => {
    assert.equal(underDenyWeb(listenersOf(sidecar("api-1", "10.0.8.2", { app: "web" }))), false);
  });

  it("a proxy the registry does not know is seen as it says", () => {
    assert.equal(underDenyWeb(listenersOf(sidecar("vm-1", "10.9.9.9", { app: "web" }))), true);
    assert.equal(underDenyWeb(listenersOf(sidecar("vm-1", "10.9.9.9", { app: "api" }))), false);
  });

  it("the resource provider keys and translates a proxy by its Pod's labels", () => {
    const provider = new MeshResourceProvider();
    provider.update(s);
    const names = (p: Proxy) => [...provider.resources(p, TypeUrl.Listener).values()].map((r) => Buffer.from(r.bytes).includes("policy[deny-web]"));
    assert.equal(names(sidecar("web-1", "10.0.8.1", { app: "api" })).some(Boolean), true);
    assert.equal(names(sidecar("api-1", "10.0.8.2", { app: "web" })).some(Boolean), false);
  });

  it("keeps one view object while the Pod's labels stay the same", () => {
    const p = sidecar("web-1", "10.0.8.1", { app: "api" });
    const v1 = workloadView(s, p);
    assert.deepEqual(v1.labels, { app: "web" });
    const s2 = snapshot([...pods, denyWeb, pod("other", "10.0.8.3", {})], s);
    assert.equal(workloadView(s2, p), v1);
    assert.equal(workloadView(s2, v1), v1);
  });

  it("a Pod relabelled re-pushes its proxy though no service changed; other proxies are not touched", () => {
    const after = snapshot([pod("web-1", "10.0.8.1", { app: "api" }), pods[1]!, denyWeb], s);
    const change = snapshotChange(s, after);
    assert.ok(change !== undefined && !change.all, "a scoped change");
    assert.equal(change.affects(sidecar("web-1", "10.0.8.1", { app: "web" })), true);
    assert.equal(change.affects(sidecar("api-1", "10.0.8.2", { app: "api" })), false);
  });

  it("a policy change reaches the proxy its selector picks by Pod labels, not by claimed ones", () => {
    const before = snapshot(pods);
    const after = snapshot([...pods, denyWeb], before);
    const change = snapshotChange(before, after);
    assert.ok(change !== undefined && !change.all, "a scoped change");
    assert.equal(change.affects(sidecar("web-1", "10.0.8.1", { app: "api" })), true);
  });
});
