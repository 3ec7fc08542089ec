// Quarantine everywhere (multi-primary): an escape detected by cluster-b's node agent reaches
// cluster-b's control plane over the signal API; it quarantines the pod (its CA refuses it) and
// writes the decision to cluster-b's apiserver as a WorkloadEnforcement, which cluster-a's control
// plane reads through its remote Secret: cluster-a's workloads stop reaching the pod. The audit
// trail names the cluster at each stage. Cluster-a's CA refuses the pod as well (CSR API from the
// pod's own address with cluster-b's token, and SDS over ADS, whose pushed secret is withdrawn)
// until the WorkloadEnforcement is deleted in cluster-b; an identity quarantined in cluster-b is
// refused in cluster-a too, to cluster-a's own pods of that identity.
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { KubeConfig } from "@kubernetes/client-node";
import { IssuanceError } from "../../src/ca/authority.js";
import { CaClient } from "../../src/ca/ca-api.js";
import { ISTIOD_DNS_NAMES } from "../../src/ca/serving-credentials.js";
import { enforcementOf, workloadEnforcementObject } from "../../src/kube/enforcement-store.js";
import { TypeUrl } from "../../src/xds/types.js";
import { createCsr } from "../../src/ca/csr-builder.js";
import type { ControlPlane } from "../../src/mesh/control-plane.js";
import { TokenKey } from "../../src/security/token-key.js";
import { SIGNALS_AUDIENCE } from "../../src/signals/node-identity.js";
import { startTestControlPlane, tlsAdsClient } from "../support/control-plane.js";
import { bearer, type AdsClient, type DeltaClientStream } from "../support/ads-client.js";
import { relayFrom, type SourceRelay } from "../support/source-relay.js";
import { eventually } from "../support/proxyless.js";
import { AgentStream, escapeSignal } from "../support/agent-stream.js";
import { ESCAPE_QUARANTINE_POLICY } from "../risk/fixtures.js";
import { answers, linkClusters, startEchoClusters, stopEchoClusters, type EchoClusters, type TestCluster } from "../support/multicluster.js";

const HOST = "echo.demo.svc.cluster.local";
const ENFORCEMENTS = "/apis/meshward.io/v1alpha1/namespaces/demo/workloadenforcements";

/**
 * Reads delta SDS responses (ACKing them) until one adds (or, `removed`, removes) the `default`
 * secret: a delta stream is told of a withdrawal, a state-of-the-world one cannot be (SDS).
 */
async function untilDefault(s: DeltaClientStream, change: "added" | "removed", timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await s.next(Math.max(1, deadline - Date.now()));
    s.ack(r);
    if (r.typeUrl !== TypeUrl.Secret) continue;
    if (change === "added" ? r.resources.some((x) => x.name === "default") : r.removedResources.includes("default")) return;
  }
}

describe("quarantine everywhere: a signal from cluster-b's agent stops calls from cluster-a", function () {
  this.timeout(240_000);
  let t: EchoClusters | undefined;
  let cpA: ControlPlane | undefined;
  let cpB: ControlPlane | undefined;
  let signals: grpc.Client | undefined;
  let ads: AdsClient | undefined;
  let sds: DeltaClientStream | undefined;
  const relays = new Map<string, { relay: SourceRelay; ca: CaClient }>();

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
    cpA = await startTestControlPlane(dir, { dataDir: join(dir, "a"), tlsAddress: "127.0.0.1:0", kubernetes: { kubeconfig: a.kas.kubeconfig, clusterId: a.id }, ...log });
    for (const [cp, pod, cluster] of [[cpA, "echo-a", a], [cpB, "echo-b", b]] as const) {
      await workloads.startServer(pod, `${ips.get(pod)!}:${ports.get(pod)!}`, cp.xdsAddress, { ip: ips.get(pod)!, pod, namespace: "demo", serviceAccount: "echo", labels: { app: "echo" }, clusterId: cluster.id, node: `node-${pod.slice(-1)}` });
    }
    await workloads.startClient("client-a", `${HOST}:7070`, cpA.xdsAddress, { ip: addresses.add(103), pod: "client-a", namespace: "demo", clusterId: a.id });
    signals = new grpc.Client(cpB.xdsAddress, grpc.credentials.createInsecure());
  });

  after(async () => {
    for (const { relay, ca } of relays.values()) {
      ca.close();
      relay.close();
    }
    sds?.cancel();
    ads?.close();
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

  /** A bound token for demo/echo from `cluster`'s TokenRequest API (audience istio-ca). */
  const token = async (cluster: TestCluster): Promise<string> =>
    (await cluster.client.request<{ status: { token: string } }>("POST", "/api/v1/namespaces/demo/serviceaccounts/echo/token", { spec: { audiences: ["istio-ca"], expirationSeconds: 600 } })).status.token;

  /** A CSR to cluster-a's CA (TLS port) from `ip`, with a token of `cluster` naming it in `clusterid`. */
  const csrToA = async (ip: string, cluster: TestCluster): Promise<string[]> => {
    let r = relays.get(ip);
    if (r === undefined) {
      const relay = await relayFrom(ip, cpA!.tlsAddress!);
      r = { relay, ca: new CaClient(relay.address, grpc.credentials.createSsl(Buffer.from(cpA!.ca.bundle.pem())), { "grpc.ssl_target_name_override": ISTIOD_DNS_NAMES[0] }) };
      relays.set(ip, r);
    }
    return r.ca.createCertificate({ csrPem: createCsr(privateKey, publicKey), token: await token(cluster), clusterId: cluster.id });
  };

  /** Why cluster-a's CA refused, or undefined while it issues. */
  const refusalByA = async (ip: string, cluster: TestCluster): Promise<grpc.ServiceError | undefined> => {
    try {
      await csrToA(ip, cluster);
      return undefined;
    } catch (e) {
      return e as grpc.ServiceError;
    }
  };

  it("reaches both clusters before the signal", async function () {
    this.timeout(90_000);
    await eventually("client-a reaching both clusters", async () => {
      const seen = await answers(t!.workloads, "client-a");
      return seen.has("echo-a") && seen.has("echo-b") ? true : undefined;
    }, 60_000);
  });

  it("lets cluster-a's CA issue to echo-b on cluster-b's token before the signal, over the CSR API and SDS", async function () {
    this.timeout(60_000);
    const chain = await csrToA(t!.ips.get("echo-b")!, t!.b);
    assert.ok(chain.length >= 2, "a leaf and the root");
    ads = tlsAdsClient(cpA!);
    const ip = t!.ips.get("echo-b")!;
    // As Istio's agent: the token of its own cluster, which `clusterid` names.
    const md = bearer(await token(t!.b));
    md.set("clusterid", "cluster-b");
    sds = ads.delta({ id: `sidecar~${ip}~echo-b.demo~demo.svc.cluster.local`, metadata: { NAMESPACE: "demo", SERVICE_ACCOUNT: "echo", CLUSTER_ID: "cluster-b" } }, undefined, md);
    sds.send({ typeUrl: TypeUrl.Secret, resourceNamesSubscribe: ["default", "ROOTCA"] });
    await untilDefault(sds, "added");
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

  it("refuses echo-b in cluster-a's CA with the error cluster-b's CA gives, and withdraws the SDS secret it pushed", async function () {
    this.timeout(60_000);
    const ip = t!.ips.get("echo-b")!;
    const refused = await eventually("cluster-a's CA refusing echo-b", () => refusalByA(ip, t!.b), 30_000);
    assert.equal(refused.code, grpc.status.PERMISSION_DENIED, refused.details);
    let local = "";
    try {
      await cpB!.ca.issue({ identity: { trustDomain: "cluster.local", namespace: "demo", serviceAccount: "echo" }, csrPem: createCsr(privateKey, publicKey), caller: { peer: `${ip}:40000`, metadata: new grpc.Metadata() } });
    } catch (e) {
      local = (e as Error).message;
    }
    assert.match(local, /refused: certificates are withheld: quarantine /);
    assert.equal(refused.details, `${local} decided in cluster cluster-b`);
    await untilDefault(sds!, "removed");
  });

  it("keeps issuing in cluster-a to pods not quarantined: another pod of cluster-b, and cluster-a's own pod of that identity", async function () {
    this.timeout(60_000);
    assert.ok((await csrToA(t!.addresses.add(104), t!.b)).length >= 2);
    assert.ok((await csrToA(t!.ips.get("echo-a")!, t!.a)).length >= 2);
  });

  it("records cluster-a's refusal in its audit trail, naming the deciding cluster and its own", async function () {
    this.timeout(30_000);
    const refused = await eventually("cluster-a's refused row", () => cpA!.risk.risk.audit.query.actions({}).find((x) => x.event === "refused"), 30_000);
    assert.equal(refused.cluster, "cluster-b");
    assert.equal(refused.podName, "echo-b");
    assert.match(refused.reason, /decided in cluster cluster-b; refused by the CA of cluster cluster-a$/);
  });

  it("issues to echo-b again in cluster-a, over both paths, once the WorkloadEnforcement is deleted in cluster-b", async function () {
    this.timeout(90_000);
    const remote = (cpA!.provider.snapshot.others.get("WorkloadEnforcement") ?? []).filter((x) => x.object.origin.cluster === "cluster-b");
    assert.equal(remote.length, 1, JSON.stringify(remote.map((x) => x.object.metadata.name)));
    await t!.b.client.request("DELETE", `${ENFORCEMENTS}/${remote[0]!.object.metadata.name}`);
    const ip = t!.ips.get("echo-b")!;
    await eventually("cluster-a's CA issuing to echo-b again", async () => ((await refusalByA(ip, t!.b)) === undefined ? true : undefined), 30_000);
    await untilDefault(sds!, "added");
  });

  it("refuses an identity quarantined in cluster-b to cluster-a's own pods of that identity, until it is released", async function () {
    this.timeout(90_000);
    const podB = { uid: t!.uids.get("echo-b")!, namespace: "demo", name: "echo-b", serviceAccount: "echo", labels: {}, ip: t!.ips.get("echo-b")!, cluster: "cluster-b" };
    const decision = enforcementOf({ metadata: { name: "q-identity-echo", namespace: "demo" }, spec: { action: "quarantine", addresses: [podB.ip], enforcement: {
      id: "q-identity-echo", action: "quarantine", scope: "identity", pod: podB, identity: { trustDomain: "cluster.local", namespace: "demo", serviceAccount: "echo" },
      reason: "identity compromised", signalId: "s-identity", verdictId: "v-identity", policy: "test", createdAtMs: Date.now(),
    } } });
    assert.ok(typeof decision !== "string", String(decision));
    // As cluster-b's risk stage writes it (kube/enforcement-store.ts).
    await t!.b.client.request("POST", ENFORCEMENTS, workloadEnforcementObject(decision));
    const ipA = t!.ips.get("echo-a")!;
    const refused = await eventually("cluster-a's CA refusing echo-a", () => refusalByA(ipA, t!.a), 30_000);
    assert.equal(refused.code, grpc.status.PERMISSION_DENIED, refused.details);
    assert.match(refused.details, /certificates are withheld: quarantine q-identity-echo \(identity compromised\) decided in cluster cluster-b$/);
    await t!.b.client.request("DELETE", `${ENFORCEMENTS}/q-identity-echo`);
    await eventually("cluster-a's CA issuing to echo-a again", async () => ((await refusalByA(ipA, t!.a)) === undefined ? true : undefined), 30_000);
  });
});
