// Unit tests of the CA's guard for other clusters' quarantines (src/multicluster/remote-issuance.ts):
// which callers a pod- or identity-scoped decision of cluster-b refuses in cluster-a, and when SDS
// secrets are withdrawn and re-asked. The end-to-end test on two apiservers is quarantine-everywhere.test.ts.
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { workloadEnforcementObject } from "../../src/kube/enforcement-store.js";
import type { AcceptedObject } from "../../src/model/snapshot.js";
import { parseProxyNode, type Proxy } from "../../src/model/proxy.js";
import { RemoteIssuanceGuard } from "../../src/multicluster/remote-issuance.js";
import type { Enforcement } from "../../src/risk/quarantine.js";
import type { CallerContext, WorkloadIdentity } from "../../src/security/identity.js";

const ECHO: WorkloadIdentity = { trustDomain: "cluster.local", namespace: "demo", serviceAccount: "echo" };
const OTHER: WorkloadIdentity = { ...ECHO, serviceAccount: "other" };

function decision(id: string, scope: "pod" | "identity", extra: Partial<Enforcement> = {}): Enforcement {
  return {
    id, action: "quarantine", scope, reason: "escape detected", signalId: "s-1", verdictId: "v-1", policy: "escape", createdAtMs: 1,
    identity: ECHO, pod: { uid: "uid-b", namespace: "demo", name: "echo-b", serviceAccount: "echo", labels: {}, ip: "10.0.0.2" },
    ...extra,
  };
}

/** The snapshot's WorkloadEnforcements as read from `cluster`'s apiserver. */
function snapshotOf(...entries: readonly (readonly [string, Enforcement])[]): { others: Map<string, AcceptedObject[]> } {
  const objects = entries.map(([cluster, e]): AcceptedObject => {
    const spec = workloadEnforcementObject(e).spec;
    return {
      object: {
        apiVersion: "meshward.io/v1alpha1", kind: "WorkloadEnforcement", spec,
        metadata: { name: e.id, namespace: e.pod.namespace, labels: {}, annotations: {} },
        origin: { file: `k8s://${cluster}/workloadenforcements`, source: "kubernetes", cluster },
      },
      spec,
    };
  });
  return { others: new Map([["WorkloadEnforcement", objects]]) };
}

const caller = (peer: string, cluster?: string): CallerContext => ({ peer: `${peer}:4000`, metadata: new grpc.Metadata(), ...(cluster !== undefined ? { cluster } : {}) });

describe("remote issuance guard: another cluster's quarantine binds this cluster's CA", () => {
  it("refuses the quarantined pod of the deciding cluster with the local CA's wording, naming that cluster", async () => {
    const refusals: string[] = [];
    const guard = new RemoteIssuanceGuard({ localCluster: "cluster-a", recordRefusal: (e, reason) => refusals.push(`${e.pod.cluster}|${reason}`) });
    guard.update(snapshotOf(["cluster-b", decision("q-1", "pod")]));
    const d = await guard.policy(ECHO, caller("10.0.0.2", "cluster-b"));
    assert.equal(d.allowed, false);
    assert.match(!d.allowed ? d.reason : "", /^certificates are withheld: quarantine q-1 \(escape detected\) decided in cluster cluster-b$/);
    assert.equal(refusals.length, 1);
    assert.match(refusals[0]!, /^cluster-b\|.*of cluster cluster-b: quarantine decided in cluster cluster-b; refused by the CA of cluster cluster-a$/);
    // Refused again: the audit row is not repeated.
    await guard.policy(ECHO, caller("10.0.0.2", "cluster-b"));
    assert.equal(refusals.length, 1);
  });

  it("issues to another pod of the same identity, and to a pod at that address proven in another cluster", async () => {
    const guard = new RemoteIssuanceGuard({ localCluster: "cluster-a" });
    guard.update(snapshotOf(["cluster-b", decision("q-1", "pod")]));
    assert.deepEqual(await guard.policy(ECHO, caller("10.0.0.3", "cluster-b")), { allowed: true });
    assert.deepEqual(await guard.policy(ECHO, caller("10.0.0.2", "cluster-a")), { allowed: true });
    // Nobody vouched for the caller's cluster: matched by address alone (fail closed).
    assert.equal((await guard.policy(ECHO, caller("10.0.0.2"))).allowed, false);
  });

  it("matches the pod a node agent asks for, and the pod an xDS stream was admitted as", async () => {
    const guard = new RemoteIssuanceGuard({ localCluster: "cluster-a" });
    guard.update(snapshotOf(["cluster-b", decision("q-1", "pod")]));
    const agent = caller("10.9.9.9", "cluster-b");
    assert.equal((await guard.policy(ECHO, agent, [{ namespace: "demo", name: "echo-b", serviceAccount: "echo", node: "node-b" }])).allowed, false);
    assert.deepEqual(await guard.policy(ECHO, agent, [{ namespace: "demo", name: "echo-c", serviceAccount: "echo", node: "node-b" }]), { allowed: true });
    const stream: CallerContext = { ...caller("127.0.0.1", "cluster-b"), pod: { namespace: "demo", name: "echo-b", ips: ["10.0.0.2"] } };
    assert.equal((await guard.policy(ECHO, stream)).allowed, false);
  });

  it("refuses an identity quarantined in another cluster to its pods in every cluster, this one's included", async () => {
    const guard = new RemoteIssuanceGuard({ localCluster: "cluster-a" });
    guard.update(snapshotOf(["cluster-b", decision("q-2", "identity")]));
    assert.equal((await guard.policy(ECHO, caller("10.0.0.1", "cluster-a"))).allowed, false);
    assert.equal((await guard.policy(ECHO, caller("10.0.0.7", "cluster-b"))).allowed, false);
    assert.deepEqual(await guard.policy(OTHER, caller("10.0.0.1", "cluster-a")), { allowed: true });
  });

  it("lists another cluster's identity quarantines, not its pod quarantines, for this cluster's node agents", () => {
    const guard = new RemoteIssuanceGuard({ localCluster: "cluster-a" });
    guard.update(snapshotOf(["cluster-b", decision("q-1", "pod")], ["cluster-b", decision("q-2", "identity")]));
    assert.deepEqual(guard.identityWide().map((e) => e.id), ["q-2"]);
  });

  it("ignores this cluster's own objects, isolate-egress and expired decisions", async () => {
    let now = 1_000;
    const guard = new RemoteIssuanceGuard({ localCluster: "cluster-a", now: () => now });
    guard.update(snapshotOf(["cluster-a", decision("q-1", "pod")], ["cluster-b", decision("e-1", "pod", { action: "isolate-egress" })], ["cluster-b", decision("q-3", "identity", { expiresAtMs: 2_000 })]));
    assert.equal((await guard.policy(ECHO, caller("10.0.0.2", "cluster-b"))).allowed, false, "q-3 is in force until 2000");
    now = 2_000;
    assert.deepEqual(await guard.policy(ECHO, caller("10.0.0.2", "cluster-b")), { allowed: true });
  });

  it("withdraws the SDS secrets a new decision blocks and re-asks the refused when it ends", () => {
    const guard = new RemoteIssuanceGuard({ localCluster: "cluster-a" });
    const calls: string[] = [];
    const proxy = (name: string, ip: string): Proxy => parseProxyNode({ id: `sidecar~${ip}~${name}.demo~demo.svc.cluster.local`, metadata: { NAMESPACE: "demo" } });
    const clusters = new Map<string, string>([["echo-b", "cluster-b"], ["echo-a", "cluster-a"]]);
    guard.attachSecrets(
      {
        revoke: (matches) => calls.push(`revoke ${["echo-a", "echo-b"].filter((n) => matches(ECHO, proxy(n, n === "echo-b" ? "10.0.0.2" : "10.0.0.1"))).join(",")}`),
        reconsider: () => calls.push("reconsider"),
      },
      (p) => ({ ...caller("127.0.0.1", clusters.get(p.podName)) }),
    );
    guard.update(snapshotOf());
    guard.update(snapshotOf(["cluster-b", decision("q-1", "pod")]));
    guard.update(snapshotOf(["cluster-b", decision("q-1", "pod")]));
    guard.update(snapshotOf());
    assert.deepEqual(calls, ["revoke echo-b", "reconsider"]);
  });
});
