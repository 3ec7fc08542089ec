// On Kubernetes the risk stage learns pods from the apiserver: a signal's pod gets its IP, node and
// service account from the Pod object (not from what the agent or proxy says), the pod spec's
// security posture is its static risk, and a deleted Pod is forgotten.
import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { CoreV1Api, KubeConfig, type V1Pod } from "@kubernetes/client-node";
import { Severity, SignalSchema } from "../../src/gen/meshward/agent/v1/signals_pb.js";
import type { ControlPlane } from "../../src/mesh/control-plane.js";
import { runtimeSignalOf } from "../../src/risk/agent-signals.js";
import { startTestControlPlane } from "../support/control-plane.js";
import { eventually } from "../support/eventually.js";
import { kubeApiserverOrSkip, uniqueName, type KubeApiserver } from "../support/kube-apiserver.js";

describe("kube: Pods from the apiserver feed the risk stage", function () {
  this.timeout(60_000);
  let kas: KubeApiserver;
  let core: CoreV1Api;
  let dir: string;
  let cp: ControlPlane;
  let ns: string;

  before(async function () {
    kas = kubeApiserverOrSkip(this);
    const kc = new KubeConfig();
    kc.loadFromFile(kas.kubeconfig);
    core = kc.makeApiClient(CoreV1Api);
    const cpNamespace = uniqueName("meshward");
    ns = uniqueName("shop");
    for (const name of [cpNamespace, ns]) await core.createNamespace({ body: { metadata: { name } } });
    dir = mkdtempSync(join(tmpdir(), "meshward-pods-risk-"));
    writeFileSync(join(dir, "mesh.yaml"), "trustDomain: cluster.local\nrootNamespace: istio-system\n");
    cp = await startTestControlPlane(dir, { dataDir: join(dir, "data"), kube: { kubeConfig: kc, namespace: cpNamespace, replicaId: "r1" } });
  });
  after(async () => {
    await cp?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("takes IP, node and service account from the Pod, scores its spec, and forgets it when deleted", async () => {
    const pod = await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: "cart-1", labels: { app: "cart" } },
        spec: {
          serviceAccountName: "cart",
          nodeName: "node-1",
          hostPID: true,
          containers: [{ name: "app", image: "cart:1", securityContext: { runAsUser: 1000, allowPrivilegeEscalation: true, capabilities: { add: ["SYS_ADMIN"] } } }],
        },
      },
    });
    const uid = pod.metadata!.uid!;
    // No kubelet: play it, the IP comes through the status subresource.
    const current = await core.readNamespacedPodStatus({ name: "cart-1", namespace: ns });
    await core.replaceNamespacedPodStatus({ name: "cart-1", namespace: ns, body: { ...current, status: { ...current.status, podIP: "10.244.0.7", podIPs: [{ ip: "10.244.0.7" }] } } as V1Pod });

    const risk = await eventually("the pod's static risk", () => cp.risk.risk.engine.staticRiskOf(uid));
    assert.deepEqual([...risk.factors].sort(), ["allowPrivilegeEscalation", "cap:SYS_ADMIN", "hostPID"]);
    assert.equal(risk.score, 20 + 25 + 5);

    const where = await eventually("the pod's IP in the directory", () => {
      const l = cp.kube!.pods.locate({ uid, namespace: ns, name: "cart-1" });
      return l?.ip === "10.244.0.7" ? l : undefined;
    });
    assert.equal(where.node, "node-1");
    // The agent claims another service account and labels: the apiserver's facts win.
    const claimed = create(SignalSchema, {
      id: "s1",
      node: "node-1",
      pod: { uid, namespace: ns, name: "cart-1", serviceAccount: "admin", labels: { app: "admin" } },
      severity: Severity.HIGH,
      detection: { id: "escape.setns-host-mnt" },
    });
    const s = runtimeSignalOf(claimed, where, 1);
    assert.equal(s.pod.serviceAccount, "cart");
    assert.deepEqual(s.pod.labels, { app: "cart" });
    assert.equal(s.pod.ip, "10.244.0.7");
    assert.equal(cp.kube!.pods.locate({ uid: "some-other-uid", namespace: ns, name: "cart-1" }), undefined, "a stale uid is not this pod");

    await core.deleteNamespacedPod({ name: "cart-1", namespace: ns, gracePeriodSeconds: 0 });
    await eventually("the pod to be forgotten", () => (cp.risk.risk.engine.staticRiskOf(uid) === undefined && cp.kube!.pods.locate({ uid, namespace: ns, name: "cart-1" }) === undefined ? true : undefined));
  });
});
