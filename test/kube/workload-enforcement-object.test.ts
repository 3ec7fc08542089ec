// The WorkloadEnforcement objects replicas share: what one writes another reads back unchanged,
// the model accepts them (the Kubernetes source feeds them to it), and the generated CRD admits
// exactly the actions the model's parser does.
import { strict as assert } from "node:assert";
import { crdOf, WORKLOAD_ENFORCEMENT_DEFINITION } from "../../src/kube/crds.js";
import { enforcementOf, workloadEnforcementObject } from "../../src/kube/enforcement-store.js";
import { FieldProblems } from "../../src/model/fields.js";
import { parseWorkloadEnforcement } from "../../src/model/workload-enforcement.js";
import type { Enforcement } from "../../src/risk/quarantine.js";
import { podA } from "../risk/fixtures.js";

const quarantine: Enforcement = {
  id: "q-0123456789",
  action: "quarantine",
  scope: "pod",
  pod: podA,
  identity: { trustDomain: "cluster.local", namespace: podA.namespace, serviceAccount: podA.serviceAccount },
  reason: "escape.setns-host-mnt (high)",
  signalId: "sig-1",
  verdictId: "v-1",
  policy: "istio-system/escapes",
  createdAtMs: 1_800_000_000_000,
  expiresAtMs: 1_800_003_600_000,
};

describe("kube: WorkloadEnforcement objects", () => {
  it("round-trips a decision through the object another replica reads", () => {
    const o = workloadEnforcementObject(quarantine);
    assert.equal(o.metadata?.name, quarantine.id);
    assert.equal(o.metadata?.namespace, podA.namespace);
    assert.deepEqual(o.spec?.addresses, [podA.ip]);
    assert.deepEqual(enforcementOf(JSON.parse(JSON.stringify(o))), quarantine);
  });

  it("names the object and the field when an object does not carry a decision", () => {
    const o = workloadEnforcementObject(quarantine);
    const bad = { ...o, spec: { ...o.spec, enforcement: { ...quarantine, createdAtMs: "yesterday" } } };
    assert.equal(enforcementOf(bad), `WorkloadEnforcement ${podA.namespace}/${quarantine.id}: spec.enforcement.createdAtMs: must be a number`);
    const renamed = { ...o, metadata: { ...o.metadata, name: "other" } };
    assert.match(String(enforcementOf(renamed)), /spec\.enforcement\.id: "q-0123456789" is not the object's name/);
    assert.match(String(enforcementOf({ ...o, spec: { action: "quarantine", addresses: [podA.ip] } })), /spec\.enforcement: missing/);
  });

  it("is accepted by the model, a revoke (no addresses) included", () => {
    for (const e of [quarantine, { ...quarantine, id: "r-1", action: "revoke" as const, pod: { ...podA, ip: "" } }]) {
      const p = new FieldProblems();
      const spec = parseWorkloadEnforcement(workloadEnforcementObject(e).spec, p);
      assert.deepEqual(p.list, []);
      assert.equal(spec?.action, e.action);
    }
    const p = new FieldProblems();
    parseWorkloadEnforcement({ action: "quarantine", addresses: [] }, p);
    assert.deepEqual(p.list.map((x) => x.path), ["spec.addresses"], "a routing action still needs an address");
  });

  it("generates a CRD whose schema admits the actions the model parses", () => {
    const crd = crdOf(WORKLOAD_ENFORCEMENT_DEFINITION);
    assert.equal(crd.metadata?.name, "workloadenforcements.meshward.io");
    const version = crd.spec.versions[0]!;
    assert.equal(version.name, "v1alpha1");
    assert.deepEqual(version.subresources?.status, {});
    const actions = version.schema?.openAPIV3Schema?.properties?.["spec"]?.properties?.["action"]?._enum;
    assert.deepEqual(actions, ["quarantine", "isolate-egress", "revoke"]);
    for (const action of actions as string[]) {
      const p = new FieldProblems();
      parseWorkloadEnforcement({ action, addresses: ["10.0.0.1"] }, p);
      assert.deepEqual(p.list, [], action);
    }
  });
});
