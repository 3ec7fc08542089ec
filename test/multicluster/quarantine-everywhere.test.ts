// Quarantine everywhere (multi-primary): an escape detected by cluster-b's node agent reaches
// cluster-b's control plane over the signal API; it quarantines the pod (its CA refuses it) and
// writes the decision to cluster-b's apiserver as a WorkloadEnforcement, which cluster-a's control
// plane reads through its remote Secret: cluster-a's workloads stop reaching the pod. The audit
// trail names the cluster at each stage.
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { KubeConfig } from "@kubernetes/client-node";
import { IssuanceError } from "../../src/ca/authority.js";
import { createCsr } from "../../src/ca/csr-builder.js";
import type { ControlPlane } from "../../src/mesh/control-plane.js";
import { TokenKey } from "../../src/security/token-key.js";
import { SIGNALS_AUDIENCE } from "../../src/signals/node-identity.js";
import { startTestControlPlane } from "../support/control-plane.js";
import { eventually } from "../support/proxyless.js";
import { AgentStream, escapeSignal } from "../support/agent-stream.js";
import { ESCAPE_QUARANTINE_POLICY } from "../risk/fixtures.js";
import { answers, linkClusters, startEchoClusters, stopEchoClusters, type EchoClusters } from "../support/multicluster.js";

const HOST = "echo.demo.svc.cluster.local";

describe("quarantine everywhere: a signal from cluster-b's agent stops calls from cluster-a", function () {
  this.timeout(240_000);
  let t: EchoClusters | undefined;
  let cpA: ControlPlane | undefined;
  let cpB: ControlPlane | undefined;
  let signals: grpc.Client | undefined;

  before(async function () {
    t = await startEchoClusters(this, [41, 42]);
    const { a, b, workloads, addresses, ips, ports, dir } = t;
    writeFileSync(join(dir, "policy.yaml"), ESCAPE_QUARANTINE_POLICY);
    await linkClusters(a, b);
    await linkClusters(b, a);
    const kcB = new KubeConfig();
    kcB.loadFromFile(b.kas.kubeconfig);
    const log = process.env["MESHWARD_TEST_LOG"] === "1" ? { log: (l: string) => console.log(l) } : {};
    // cluster-b's control plane runs as a replica there: its quarantines are WorkloadEnforcements in its apiserver.
    cpB = await startTestControlPlane(dir, {
      dataDir: join(dir, "b"),
      kubernetes: { kubeconfig: b.kas.kubeconfig, clusterId: b.id },
      kube: { kubeConfig: kcB, namespace: "istio-system", clusterId: b.id, replicaId: "b-0", leaseDurationMs: 3000, renewDeadlineMs: 1500, retryPeriodMs: 500 },
      ...log,
    });
    cpA = await startTestControlPlane(dir, { dataDir: join(dir, "a"), kubernetes: { kubeconfig: a.kas.kubeconfig, clusterId: a.id }, ...log });
    for (const [cp, pod, cluster] of [[cpA, "echo-a", a], [cpB, "echo-b", b]] as const) {
      await workloads.startServer(pod, `${ips.get(pod)!}:${ports.get(pod)!}`, cp.xdsAddress, { ip: ips.get(pod)!, pod, namespace: "demo", serviceAccount: "echo", labels: { app: "echo" }, clusterId: cluster.id, node: `node-${pod.slice(-1)}` });
    }
    await workloads.startClient("client-a", `${HOST}:7070`, cpA.xdsAddress, { ip: addresses.add(103), pod: "client-a", namespace: "demo", clusterId: a.id });
    signals = new grpc.Client(cpB.xdsAddress, grpc.credentials.createInsecure());
  });

  after(async () => {
    signals?.close();
    t?.workloads.stop();
    await cpA?.stop();
    await cpB?.stop();
    stopEchoClusters(t);
  });

  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const refusedByB = async (): Promise<true | undefined> => {
    try {
      await cpB!.ca.issue({
        identity: { trustDomain: "cluster.local", namespace: "demo", serviceAccount: "echo" },
        csrPem: createCsr(privateKey, publicKey),
        caller: { peer: `${t!.ips.get("echo-b")}:40000`, metadata: new grpc.Metadata() },
      });
      return undefined;
    } catch (e) {
      return e instanceof IssuanceError && /quarantine/.test(e.message) ? true : undefined;
    }
  };

  it("reaches both clusters before the signal", async function () {
    this.timeout(90_000);
    await eventually("client-a reaching both clusters", async () => {
      const seen = await answers(t!.workloads, "client-a");
      return seen.has("echo-a") && seen.has("echo-b") ? true : undefined;
    }, 60_000);
  });

  it("quarantines the pod in cluster-b and drops it from cluster-a's endpoints, its CA refusing it", async function () {
    this.timeout(90_000);
    const token = (await TokenKey.loadOrCreate(join(t!.dir, "b"))).mint({ namespace: "meshward-system", serviceAccount: "node-node-b", audiences: [SIGNALS_AUDIENCE] });
    const agent = new AgentStream(signals!, token);
    try {
      agent.send([escapeSignal("escape-b-1", "node-b", { uid: t!.uids.get("echo-b")!, namespace: "demo", name: "echo-b", serviceAccount: "echo" })]);
      const r = await agent.next();
      assert.deepEqual(r?.acceptedIds, ["escape-b-1"], JSON.stringify(r?.rejected));
    } finally {
      agent.close();
    }
    await eventually("cluster-b's CA refusing echo-b", refusedByB, 30_000);
    const remote = await eventually("cluster-a reading cluster-b's WorkloadEnforcement", () =>
      (cpA!.provider.snapshot.others.get("WorkloadEnforcement") ?? []).find((x) => x.object.origin.cluster === "cluster-b"), 30_000);
    assert.deepEqual((remote.spec as { addresses: string[] }).addresses, [t!.ips.get("echo-b")]);
    const endpoints = cpA!.provider.snapshot.services.find((s) => s.hostname === HOST)!.endpoints.length;
    assert.equal(endpoints, 2, "the pod is still in the registry; it is EDS that leaves it out");
    await eventually("client-a answered by echo-a only", async () => {
      const seen = await answers(t!.workloads, "client-a", 6);
      return seen.size === 1 && seen.has("echo-a") ? true : undefined;
    }, 30_000);
  });

  it("names the cluster at each stage of the audit trail", async function () {
    this.timeout(30_000);
    const trail = cpB!.risk.risk.audit.query;
    const signal = trail.signals({}).find((s) => s.id === "escape-b-1");
    assert.equal(signal?.cluster, "cluster-b", JSON.stringify(signal));
    const actions = trail.actions({}).filter((x) => x.signalId === "escape-b-1");
    assert.ok(actions.length > 0 && actions.every((x) => x.cluster === "cluster-b"), JSON.stringify(actions));
    // cluster-a's control plane records what it enforced for a decision made in cluster-b.
    const observed = await eventually("cluster-a's audit row for the remote quarantine", () => cpA!.risk.risk.audit.query.actions({}).find((x) => x.event === "observed" && x.cluster === "cluster-b"), 30_000);
    assert.equal(observed.podName, "echo-b");
  });
});
