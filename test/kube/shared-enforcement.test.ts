// A quarantine decided by one replica is enforced by every replica: written to the apiserver as a
// WorkloadEnforcement, seen by the other replica's watch, applied to the proxies connected to it and
// to its CA, still in force after the deciding replica is gone (and in a replica started later),
// and ended everywhere when the object is deleted.
import { strict as assert } from "node:assert";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Metadata } from "@grpc/grpc-js";
import { CoreV1Api, CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import { IssuanceError } from "../../src/ca/authority.js";
import { createCsr } from "../../src/ca/csr-builder.js";
import type { ControlPlane } from "../../src/mesh/control-plane.js";
import { proxyEnforcement } from "../../src/model/workload-enforcement.js";
import type { SignalPod } from "../../src/risk/signal.js";
import { TypeUrl } from "../../src/xds/types.js";
import { AdsClient } from "../support/ads-client.js";
import { runMeshward } from "../support/meshward-cli.js";
import { startTestControlPlane } from "../support/control-plane.js";
import { eventually } from "../support/eventually.js";
import { kubeApiserverOrSkip, uniqueName, type KubeApiserver } from "../support/kube-apiserver.js";
import { privateKubeApiserverOrSkip, restartApiserverInBackground } from "../support/kube-outage.js";
import { ESCAPE_QUARANTINE_POLICY, podA, podB, signal } from "../risk/fixtures.js";

describe("kube: a quarantine decided on one replica is enforced by every replica", function () {
  this.timeout(90_000);
  let kas: KubeApiserver;
  let kc: KubeConfig;
  let dir: string;
  let cpNamespace: string;
  let quarantined: SignalPod;
  let healthy: SignalPod;
  const replicas = new Map<string, ControlPlane>();

  before(async function () {
    kas = kubeApiserverOrSkip(this);
    kc = new KubeConfig();
    kc.loadFromFile(kas.kubeconfig);
    const core = kc.makeApiClient(CoreV1Api);
    cpNamespace = uniqueName("meshward");
    const shop = uniqueName("shop");
    for (const name of [cpNamespace, shop]) await core.createNamespace({ body: { metadata: { name } } });
    quarantined = { ...podA, namespace: shop };
    healthy = { ...podB, namespace: shop };
    dir = mkdtempSync(join(tmpdir(), "meshward-shared-enf-"));
    writeFileSync(join(dir, "mesh.yaml"), "trustDomain: cluster.local\nrootNamespace: istio-system\n");
    writeFileSync(join(dir, "policy.yaml"), ESCAPE_QUARANTINE_POLICY);
  });

  after(async () => {
    for (const cp of replicas.values()) await cp.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const start = async (id: string): Promise<ControlPlane> => {
    const cp = await startTestControlPlane(dir, {
      dataDir: join(dir, id),
      kube: { kubeConfig: kc, namespace: cpNamespace, replicaId: id, leaseDurationMs: 3000, renewDeadlineMs: 1500, retryPeriodMs: 500 },
    });
    replicas.set(id, cp);
    return cp;
  };

  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const issue = (cp: ControlPlane, pod: SignalPod) =>
    cp.ca.issue({
      identity: { trustDomain: "cluster.local", namespace: pod.namespace, serviceAccount: pod.serviceAccount },
      csrPem: createCsr(privateKey, publicKey),
      caller: { peer: `${pod.ip}:40000`, metadata: new Metadata() },
    });
  const refused = async (cp: ControlPlane, pod: SignalPod): Promise<true | undefined> => {
    try {
      await issue(cp, pod);
      return undefined;
    } catch (e) {
      return e instanceof IssuanceError && /quarantine/.test(e.message) ? true : undefined;
    }
  };
  const enforcedOn = (cp: ControlPlane): boolean => proxyEnforcement(cp.provider.snapshot, { ips: [quarantined.ip] }) === "quarantine";

  it("the deciding replica writes a WorkloadEnforcement, and the other replica enforces it for its proxies and its CA", async () => {
    const a = await start("replica-a");
    const b = await start("replica-b");
    assert.ok((await issue(b, quarantined)).certChain.length > 0, "replica-b issues before the quarantine");
    assert.equal(enforcedOn(b), false);

    // The quarantined pod's own proxy is connected to replica-b only.
    const ads = new AdsClient(b.xdsAddress);
    const stream = ads.sotw({
      id: `sidecar~${quarantined.ip}~${quarantined.name}.${quarantined.namespace}~${quarantined.namespace}.svc.cluster.local`,
      metadata: { NAMESPACE: quarantined.namespace, SERVICE_ACCOUNT: quarantined.serviceAccount },
    });
    try {
      stream.subscribe(TypeUrl.Listener, []);
      const first = await stream.next();
      stream.ack(first);

      const sig = signal({ pod: quarantined });
      a.risk.risk.handleSignal(sig);
      const id = a.risk.risk.enforcement.active()[0]!.id;
      const object = await eventually("the WorkloadEnforcement in the apiserver", async () => {
        try {
          return (await kc.makeApiClient(CustomObjectsApi).getNamespacedCustomObject({ group: "meshward.io", version: "v1alpha1", namespace: quarantined.namespace, plural: "workloadenforcements", name: id })) as { spec: { action: string; addresses: string[] } };
        } catch {
          return undefined;
        }
      });
      assert.equal(object.spec.action, "quarantine");
      assert.deepEqual(object.spec.addresses, [quarantined.ip]);

      await eventually("replica-b to enforce it in its model", () => (enforcedOn(b) ? true : undefined));
      await eventually("replica-b's CA to refuse the pod", () => refused(b, quarantined));
      assert.ok((await issue(b, healthy)).certChain.length > 0, "the healthy replica pod still gets certificates from replica-b");
      const pushed = await stream.next();
      assert.equal(pushed.typeUrl, TypeUrl.Listener);
      assert.notEqual(pushed.versionInfo, first.versionInfo, "the proxy connected to replica-b got new listeners");
      stream.ack(pushed);
    } finally {
      stream.close();
      ads.close();
    }
  });

  it("stays in force after the deciding replica is stopped, also in a replica started after it", async () => {
    await replicas.get("replica-a")!.stop();
    replicas.delete("replica-a");
    const b = replicas.get("replica-b")!;
    const c = await start("replica-c");
    // From its first moment: a replica lists the quarantines before it serves anything.
    assert.ok(enforcedOn(c), "replica-c enforces it as soon as it has started");
    assert.equal(await refused(c, quarantined), true, "replica-c's CA refuses the pod from the start");
    assert.ok(enforcedOn(b));
    assert.equal(await refused(b, quarantined), true);
  });

  it("ends everywhere when `meshward quarantine release --kubeconfig` deletes the WorkloadEnforcement", async () => {
    const b = replicas.get("replica-b")!;
    const c = replicas.get("replica-c")!;
    const id = b.risk.risk.enforcement.active()[0]!.id;
    const listed = await runMeshward("quarantine", "list", "--kubeconfig", kas.kubeconfig, "--json");
    assert.equal(listed.code, 0, listed.stderr);
    assert.ok((JSON.parse(listed.stdout) as { id: string }[]).some((e) => e.id === id), "listed from the apiserver");
    const released = await runMeshward("quarantine", "release", `${quarantined.namespace}/${quarantined.name}`, "--kubeconfig", kas.kubeconfig);
    assert.equal(released.code, 0, released.stderr);
    assert.match(released.stdout, new RegExp(`released ${id}`));
    await assert.rejects(
      kc.makeApiClient(CustomObjectsApi).getNamespacedCustomObject({ group: "meshward.io", version: "v1alpha1", namespace: quarantined.namespace, plural: "workloadenforcements", name: id }),
      /404|not found/i,
    );
    for (const cp of [b, c]) {
      await eventually("the quarantine to end", () => (!enforcedOn(cp) && cp.risk.risk.enforcement.active().length === 0 ? true : undefined));
      assert.ok((await issue(cp, quarantined)).certChain.length > 0, "certificates again");
    }
  });
});

describe("kube: a quarantine decided while the apiserver is away", function () {
  this.timeout(360_000);
  let kas: KubeApiserver | undefined;
  let cp: ControlPlane | undefined;
  let dir: string;

  before(function () {
    kas = privateKubeApiserverOrSkip(this);
  });
  after(async () => {
    await cp?.stop();
    kas?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("is enforced at once by the deciding replica and reaches the apiserver when it is back", async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(kas!.kubeconfig);
    const core = kc.makeApiClient(CoreV1Api);
    for (const name of ["meshward", "shop"]) await core.createNamespace({ body: { metadata: { name } } });
    dir = mkdtempSync(join(tmpdir(), "meshward-enf-away-"));
    writeFileSync(join(dir, "mesh.yaml"), "trustDomain: cluster.local\nrootNamespace: istio-system\n");
    writeFileSync(join(dir, "policy.yaml"), ESCAPE_QUARANTINE_POLICY);
    const logs: string[] = [];
    cp = await startTestControlPlane(dir, {
      dataDir: join(dir, "data"),
      log: (l) => logs.push(l),
      kube: { kubeConfig: kc, namespace: "meshward", replicaId: "r1", leaseDurationMs: 3000, renewDeadlineMs: 1500, retryPeriodMs: 500 },
    });
    const pod = { ...podA, namespace: "shop" };
    // The apiserver goes away (restarted on the same port, etcd and its data kept) while the signal arrives.
    const restart = restartApiserverInBackground(kas!);
    await eventually("the apiserver to be down", async () => {
      try {
        await core.readNamespace({ name: "shop" });
        return undefined;
      } catch {
        return true;
      }
    });
    cp.risk.risk.handleSignal(signal({ pod }));
    const id = cp.risk.risk.enforcement.active()[0]!.id;
    assert.equal(proxyEnforcement(cp.provider.snapshot, { ips: [pod.ip] }), "quarantine", "enforced at once, apiserver or not");
    await restart;
    await eventually("the WorkloadEnforcement to land", async () => {
      try {
        return await kc.makeApiClient(CustomObjectsApi).getNamespacedCustomObject({ group: "meshward.io", version: "v1alpha1", namespace: "shop", plural: "workloadenforcements", name: id });
      } catch {
        return undefined;
      }
    }, 60_000);
    assert.ok(logs.some((l) => l.includes(`writing WorkloadEnforcement shop/${id} failed, retrying`)), "the failed write was retried, not dropped");
    assert.equal(proxyEnforcement(cp.provider.snapshot, { ips: [pod.ip] }), "quarantine", "still enforced once the watch is back");
  });
});
