// The install's RBAC for gateway credentials: no Secret is read beyond the CA's own unless the
// gatewayNamespaces value names namespaces; then exactly those namespaces get a Role (get, list,
// watch on secrets) bound to the control plane, and serve is told to watch them.
import { strict as assert } from "node:assert";
import { installManifest, installValues, type KubeObject } from "../../src/install/manifest.js";

interface Rule {
  readonly apiGroups: string[];
  readonly resources: string[];
  readonly verbs: string[];
  readonly resourceNames?: string[];
}

const readsAllSecrets = (o: KubeObject): boolean =>
  (o.kind === "Role" || o.kind === "ClusterRole") && ((o["rules"] as Rule[]) ?? []).some((r) => r.resources.includes("secrets") && r.resourceNames === undefined && r.verbs.some((v) => v === "list" || v === "watch"));

function serveArgs(objects: KubeObject[]): string[] {
  const d = objects.find((o) => o.kind === "Deployment" && o.metadata.name === "meshward") as { spec: { template: { spec: { containers: { args: string[] }[] } } } } | undefined;
  assert.ok(d);
  return d.spec.template.spec.containers[0]!.args;
}

describe("install: RBAC for gateway credentials", () => {
  it("by default no Role lets the control plane list or watch Secrets, and serve watches none", () => {
    const objects = installManifest(installValues([]));
    assert.deepEqual(objects.filter(readsAllSecrets), []);
    assert.ok(!serveArgs(objects).some((a) => a.startsWith("--gateway-secret-namespaces")));
  });

  it("gatewayNamespaces gives a Role reading Secrets in each named namespace only, bound to the control plane, and tells serve", () => {
    const objects = installManifest(installValues(["gatewayNamespaces=istio-system,istio-ingress"]));
    const roles = objects.filter(readsAllSecrets);
    assert.deepEqual(roles.map((r) => `${r.kind} ${r.metadata.namespace}/${r.metadata.name}`).sort(), ["Role istio-ingress/meshward-gateway-credentials", "Role istio-system/meshward-gateway-credentials"]);
    for (const r of roles) assert.deepEqual(r["rules"], [{ apiGroups: [""], resources: ["secrets"], verbs: ["get", "list", "watch"] }]);
    const bindings = objects.filter((o) => o.kind === "RoleBinding" && o.metadata.name === "meshward-gateway-credentials");
    assert.deepEqual(bindings.map((b) => b.metadata.namespace).sort(), ["istio-ingress", "istio-system"]);
    for (const b of bindings) assert.deepEqual(b["subjects"], [{ kind: "ServiceAccount", name: "meshward", namespace: "istio-system" }]);
    assert.ok(serveArgs(objects).includes("--gateway-secret-namespaces=istio-system,istio-ingress"));
  });

  it("a bad namespace name is refused naming it", () => {
    assert.throws(() => installValues(["gatewayNamespaces=ok,Not_OK"]), /gatewayNamespaces: "Not_OK" is not a valid namespace name/);
  });
});
