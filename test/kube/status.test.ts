// A rejected object gets the reason on its status (condition Accepted=False, the field path in the
// message), written by the Lease holder; the last good version keeps serving; the condition is
// cleared when the object is fixed. Against a real apiserver with Istio's CRDs, through
// meshward's Kubernetes source.
import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CoreV1Api, CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import type { ControlPlane } from "../../src/mesh/control-plane.js";
import { startTestControlPlane } from "../support/control-plane.js";
import { eventually } from "../support/eventually.js";
import { kubeApiserverOrSkip, uniqueName, type KubeApiserver } from "../support/kube-apiserver.js";
import { applyIstioCrds } from "../support/kube-mesh.js";
import { KubeClient } from "../../src/kube/client.js";
import type { Condition } from "../../src/kube/status.js";

describe("kube: status of rejected objects", function () {
  this.timeout(120_000);
  let kas: KubeApiserver;
  let kc: KubeConfig;
  let custom: CustomObjectsApi;
  let dir: string;
  let ns: string;
  let cp: ControlPlane;
  const ap = { group: "security.istio.io", version: "v1", plural: "authorizationpolicies" } as const;

  before(async function () {
    kas = kubeApiserverOrSkip(this);
    kc = new KubeConfig();
    kc.loadFromFile(kas.kubeconfig);
    custom = kc.makeApiClient(CustomObjectsApi);
    await applyIstioCrds(new KubeClient(kc));
    const core = kc.makeApiClient(CoreV1Api);
    const cpNamespace = uniqueName("meshward");
    ns = uniqueName("shop");
    for (const name of [cpNamespace, ns]) await core.createNamespace({ body: { metadata: { name } } });
    dir = mkdtempSync(join(tmpdir(), "meshward-status-"));
    writeFileSync(join(dir, "mesh.yaml"), "trustDomain: cluster.local\nrootNamespace: istio-system\n");
    cp = await startTestControlPlane(dir, {
      dataDir: join(dir, "data"),
      kubernetes: { kubeconfig: kas.kubeconfig },
      kube: { kubeConfig: kc, namespace: cpNamespace, replicaId: "r1", leaseDurationMs: 3000, renewDeadlineMs: 1500, retryPeriodMs: 500 },
    });
    await eventually("r1 to hold the Lease", () => (cp.kube!.elector.isLeader ? true : undefined));
  });
  after(async () => {
    await cp?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const served = (): string | undefined => {
    const a = (cp.provider.snapshot.others.get("AuthorizationPolicy") ?? []).find((x) => x.object.metadata.name === "allow-cart" && x.object.metadata.namespace === ns);
    return a === undefined ? undefined : JSON.stringify(a.object.spec);
  };
  const condition = async (): Promise<Condition | undefined> => {
    const o = (await custom.getNamespacedCustomObject({ ...ap, namespace: ns, name: "allow-cart" })) as { status?: { conditions?: Condition[] } };
    return o.status?.conditions?.find((c) => c.type === "Accepted");
  };
  const policy = (principal: string, annotations: Record<string, string> = {}) => ({
    apiVersion: "security.istio.io/v1",
    kind: "AuthorizationPolicy",
    metadata: { name: "allow-cart", namespace: ns, annotations },
    spec: { action: "ALLOW", rules: [{ from: [{ source: { principals: [principal] } }] }] },
  });
  const replace = async (body: ReturnType<typeof policy>): Promise<void> => {
    const current = (await custom.getNamespacedCustomObject({ ...ap, namespace: ns, name: "allow-cart" })) as { metadata: { resourceVersion: string } };
    await custom.replaceNamespacedCustomObject({ ...ap, namespace: ns, name: "allow-cart", body: { ...body, metadata: { ...body.metadata, resourceVersion: current.metadata.resourceVersion } } });
  };

  it("puts the reason with its field path on a rejected object's status, keeps serving the last good version, and clears it when fixed", async () => {
    await custom.createNamespacedCustomObject({ ...ap, namespace: ns, body: policy("cluster.local/ns/shop/sa/web") });
    await eventually("the good policy to be served", () => (served()?.includes("sa/web") ? true : undefined));
    assert.equal(await condition(), undefined, "an accepted object gets no condition");

    await replace(policy("cluster.local/ns/shop/sa/admin", { "istio.io/dry-run": "maybe" }));
    const rejected = await eventually("the rejection on the status", async () => {
      const c = await condition();
      return c?.status === "False" ? c : undefined;
    });
    assert.equal(rejected.reason, "Invalid");
    assert.equal(rejected.message, 'metadata.annotations["istio.io/dry-run"]: must be "true" or "false", found "maybe"; object rejected; keeping its last good version');
    assert.equal(rejected.observedGeneration, 2);
    assert.match(served() ?? "", /sa\/web/, "the last good version keeps serving");
    assert.doesNotMatch(served() ?? "", /sa\/admin/);

    await replace(policy("cluster.local/ns/shop/sa/admin"));
    await eventually("the fixed policy to be served", () => (served()?.includes("sa/admin") ? true : undefined));
    await eventually("the condition to be cleared", async () => ((await condition()) === undefined ? true : undefined));
  });

  it("on taking the Lease clears the condition a previous holder left on an object fixed since, keeping others' conditions", async () => {
    const name = "fixed-while-away";
    await custom.createNamespacedCustomObject({ ...ap, namespace: ns, body: { ...policy("cluster.local/ns/shop/sa/web"), metadata: { name, namespace: ns } } });
    await eventually("the policy to be served", () => ((cp.provider.snapshot.others.get("AuthorizationPolicy") ?? []).some((x) => x.object.metadata.name === name) ? true : undefined));
    // What a previous holder wrote before the object was fixed, next to another controller's condition.
    const o = (await custom.getNamespacedCustomObject({ ...ap, namespace: ns, name })) as Record<string, unknown>;
    const stale = [
      { type: "Accepted", status: "False", reason: "Invalid", message: "spec.rules[0]: stale", lastTransitionTime: "2026-01-01T00:00:00Z" },
      { type: "Reconciled", status: "True", reason: "Other", message: "someone else's", lastTransitionTime: "2026-01-01T00:00:00Z" },
    ];
    await custom.replaceNamespacedCustomObjectStatus({ ...ap, namespace: ns, name, body: { ...o, status: { conditions: stale } } });
    // This replica loses and regains the Lease, as a new holder would take it.
    cp.kube!.status.setActive(false);
    cp.kube!.status.setActive(true);
    await eventually("the stale condition to be cleared", async () => {
      const got = (await custom.getNamespacedCustomObject({ ...ap, namespace: ns, name })) as { status?: { conditions?: Condition[] } };
      const types = (got.status?.conditions ?? []).map((c) => c.type);
      return types.includes("Accepted") ? undefined : types;
    }).then((types) => assert.deepEqual(types, ["Reconciled"]));
  });
});
