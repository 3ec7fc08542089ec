// Issue 15 item 1: a proxy announces its pod's IPs itself (node id, INSTANCE_IPS), and enforcement
// keys on them. The attacks, through the real serve: announcing `0.0.0.0/0` and getting quarantined
// by identity turned the mesh-wide DENY into a deny-everyone; announcing `not-an-ip` voided every
// enforcement object of the quarantine while `quarantine list` still showed it active.
import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import type { ControlPlane } from "../../src/mesh/control-plane.js";
import { buildSnapshot } from "../../src/mesh/model.js";
import { ENFORCEMENT_ORIGIN, enforcedAddresses, enforcementOverlay } from "../../src/risk/enforcement-overlay.js";
import { routingOverlay } from "../../src/risk/routing-overlay.js";
import { workloadAddressProblem } from "../../src/security/workload-address.js";
import { TypeUrl } from "../../src/xds/types.js";
import { AdsClient, type TestNode } from "../support/ads-client.js";
import { startTestControlPlane } from "../support/control-plane.js";
import { eventually } from "../support/eventually.js";
import { configObjects, ESCAPE_QUARANTINE_POLICY, podA, signal } from "../risk/fixtures.js";
import { RiskWiring } from "../../src/risk/wiring.js";
import { Metrics } from "../../src/telemetry/metrics.js";
import type { Enforcement } from "../../src/risk/quarantine.js";

const IDENTITY_POLICY = ESCAPE_QUARANTINE_POLICY.replace("action: QUARANTINE", "action: QUARANTINE, scope: IDENTITY");

function node(ip: string, pod: string, instanceIps?: string): TestNode {
  return {
    id: `sidecar~${ip}~${pod}.${podA.namespace}~${podA.namespace}.svc.cluster.local`,
    metadata: { NAMESPACE: podA.namespace, SERVICE_ACCOUNT: podA.serviceAccount, ...(instanceIps !== undefined ? { INSTANCE_IPS: instanceIps } : {}) },
  };
}

/** The stream's status if the server ends it within `ms`, else undefined (it was admitted). */
async function refusal(ads: AdsClient, n: TestNode, ms = 3000): Promise<grpc.StatusObject | undefined> {
  const s = ads.sotw(n);
  s.subscribe(TypeUrl.Listener, []);
  const timeout = new Promise<undefined>((resolve) => setTimeout(resolve, ms));
  const result = await Promise.race([s.status, timeout]);
  s.cancel();
  return result;
}

describe("security: self-reported pod addresses", function () {
  this.timeout(30_000);
  let dir: string;
  let cp: ControlPlane;
  let ads: AdsClient;
  const logs: string[] = [];
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "meshward-addresses-"));
    writeFileSync(join(dir, "mesh.yaml"), "trustDomain: cluster.local\nrootNamespace: istio-system\n");
    writeFileSync(join(dir, "policy.yaml"), IDENTITY_POLICY);
    cp = await startTestControlPlane(dir, { log: (l) => logs.push(l) });
    ads = new AdsClient(cp.xdsAddress);
  });
  after(async () => {
    ads?.close();
    await cp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const enforcementObjects = () =>
    [...(cp.provider.snapshot.others.get("AuthorizationPolicy") ?? []), ...(cp.provider.snapshot.others.get("WorkloadEnforcement") ?? [])]
      .filter((a) => a.object.metadata.annotations["meshward.io/enforcement"] !== undefined);

  it("refuses a proxy whose node id announces a CIDR, naming the address, and the identity's DENY matches only pod IPs", async () => {
    const st = await refusal(ads, node("0.0.0.0/0", "wildcard"));
    assert.equal(st?.code, grpc.status.INVALID_ARGUMENT, "a node id IP of 0.0.0.0/0 is refused");
    assert.match(st?.details ?? "", /0\.0\.0\.0\/0.*CIDR/);
    const good = ads.sotw(node("10.1.0.77", "replica"));
    good.subscribe(TypeUrl.Listener, []);
    await good.next();
    cp.risk.risk.handleSignal(signal({ pod: podA }));
    const ofPodA = () => enforcementObjects().filter((o) => o.object.metadata.annotations["meshward.io/signal"] !== undefined && JSON.stringify(o.spec).includes("10.1.0.11"));
    const objects = await eventually("the quarantine's three objects", () => (ofPodA().length === 3 ? ofPodA() : undefined));
    const text = JSON.stringify(objects.map((o) => o.spec));
    assert.ok(!text.includes("0.0.0.0"), `no wildcard in ${text}`);
    assert.deepEqual([...new Set(text.match(/10\.1\.0\.\d+/g))].sort(), ["10.1.0.11", "10.1.0.77"]);
    good.cancel();
  });

  it("alerts (log, metric, audit row) on an enforcement address that is no pod IP, and keeps the rest of the enforcement", async () => {
    const pod = { ...podA, uid: "uid-unspecified", name: "unspecified", serviceAccount: "batch", ip: "0.0.0.0" };
    cp.risk.risk.handleSignal(signal({ pod }));
    const id = cp.risk.risk.enforcement.active().find((e) => e.pod.uid === pod.uid)?.id;
    assert.ok(id !== undefined, "the quarantine is active");
    const metrics = await eventually("the alert metric", async () => {
      const text = await (await fetch(`http://${cp.monitoringAddress}/metrics`)).text();
      return /meshward_enforcement_alerts_total\{event="address-rejected"\} 1\b/.test(text) ? text : undefined;
    });
    assert.ok(metrics.length > 0);
    assert.ok(logs.some((l) => l.includes("ALERT") && l.includes(id) && l.includes("0.0.0.0")), logs.join("\n"));
    const rows = cp.risk.risk.audit.db.prepare("SELECT event, reason FROM actions WHERE enforcement_id = ?").all(id) as { event: string; reason: string }[];
    assert.ok(rows.some((r) => r.event === "address-rejected" && r.reason.includes("0.0.0.0")), JSON.stringify(rows));
    const peers = enforcementObjects().find((o) => o.object.metadata.annotations["meshward.io/enforcement"] === id && o.object.metadata.name.endsWith("-peers"));
    assert.match(JSON.stringify(peers?.spec), /cluster\.local\/ns\/shop\/sa\/batch/, "the identity's principal is still denied");
    assert.ok(!JSON.stringify(peers?.spec).includes("0.0.0.0"));
  });

  it("refuses INSTANCE_IPS that are not single pod IPs (not-an-ip, unspecified, multicast, broadcast)", async () => {
    for (const bad of ["not-an-ip", "::", "0.0.0.0", "224.0.0.1", "255.255.255.255", "10.0.0.0/8"]) {
      const st = await refusal(ads, node("10.1.0.78", "instance-ips", `10.1.0.78,${bad}`));
      assert.equal(st?.code, grpc.status.INVALID_ARGUMENT, `INSTANCE_IPS with ${bad} is refused`);
      assert.ok(st?.details.includes("INSTANCE_IPS") && st.details.includes(bad), st?.details);
    }
  });
});

describe("security: where pod addresses come from", () => {
  it("takes an identity's addresses from the configured pod directory (a Pod source), not from proxies; a rejected overlay object alerts", () => {
    const dir = mkdtempSync(join(tmpdir(), "meshward-pod-directory-"));
    const logs: string[] = [];
    const wiring = new RiskWiring({
      dataDir: dir,
      metrics: new Metrics(),
      log: (l) => logs.push(l),
      rebuild: () => false,
      podDirectory: {
        locate: () => undefined,
        podsOfIdentity: (id) => (id.serviceAccount === podA.serviceAccount ? [{ ip: "10.9.0.1" }, { ip: "10.9.0.2" }] : []),
      },
    });
    try {
      const set = { objects: configObjects(IDENTITY_POLICY), errors: [] };
      wiring.accepted(buildSnapshot(wiring.configSet(set)));
      wiring.risk.handleSignal(signal({ pod: podA }));
      const text = JSON.stringify(wiring.configSet(set).objects.filter((o) => o.kind === "AuthorizationPolicy").map((o) => o.spec));
      assert.deepEqual([...new Set(text.match(/10\.\d+\.0\.\d+/g))].sort(), ["10.1.0.11", "10.9.0.1", "10.9.0.2"]);
      // Were the model ever to reject one of these objects, that is an alert too, not silence.
      const id = wiring.risk.enforcement.active()[0]!.id;
      const snapshot = buildSnapshot(wiring.configSet(set));
      const rejected = { file: `${ENFORCEMENT_ORIGIN}/${id}`, object: "AuthorizationPolicy shop/x", path: "spec.rules[0]", message: "invalid", severity: "error" as const };
      wiring.accepted({ ...snapshot, errors: [...snapshot.errors, rejected] });
      const rows = wiring.risk.audit.db.prepare("SELECT event, reason FROM actions WHERE enforcement_id = ?").all(id) as { event: string; reason: string }[];
      assert.ok(rows.some((r) => r.event === "overlay-rejected" && r.reason.includes("spec.rules[0]")), JSON.stringify(rows));
      assert.ok(logs.some((l) => l.includes("ALERT") && l.includes("spec.rules[0]")), logs.join("\n"));
    } finally {
      wiring.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("security: one bad address never voids an enforcement", () => {
  const quarantine: Enforcement = {
    id: "q-0123456789",
    action: "quarantine",
    scope: "identity",
    pod: { ...podA, ip: "not-an-ip" },
    identity: { trustDomain: "cluster.local", namespace: podA.namespace, serviceAccount: podA.serviceAccount },
    reason: "test",
    signalId: "s1",
    verdictId: "v1",
    policy: "istio-system/escapes",
    createdAtMs: 0,
  };
  const podsOfIdentity = () => [{ ip: "10.1.0.12" }, { ip: "0.0.0.0/0" }, { ip: "ff02::1" }, { ip: "10.1.0.13" }];

  it("keeps the good addresses in all three objects, which the model accepts, and reports each bad one", () => {
    const addresses = enforcedAddresses([quarantine], { podsOfIdentity });
    assert.deepEqual(addresses.byId.get(quarantine.id), ["10.1.0.12", "10.1.0.13"]);
    assert.deepEqual(addresses.rejected.map((r) => r.address).sort(), ["0.0.0.0/0", "ff02::1", "not-an-ip"]);
    const objects = [...enforcementOverlay([quarantine], { addresses }), ...routingOverlay([quarantine], { addresses })];
    assert.equal(objects.length, 3, "peers, self and routing");
    const snapshot = buildSnapshot({ objects, errors: [] });
    assert.deepEqual(snapshot.errors.map((e) => `${e.object}: ${e.path}: ${e.message}`), [], "every object is valid");
    assert.ok(!JSON.stringify(objects.map((o) => o.spec)).match(/0\.0\.0\.0|ff02|not-an-ip/));
  });

  it("names why an address is not a pod's", () => {
    assert.equal(workloadAddressProblem("10.1.0.1"), undefined);
    assert.equal(workloadAddressProblem("fd00::1"), undefined);
    assert.match(workloadAddressProblem("10.0.0.0/8") ?? "", /CIDR/);
    assert.match(workloadAddressProblem("::ffff:0.0.0.0") ?? "", /unspecified/);
    assert.match(workloadAddressProblem("fe80::1%eth0") ?? "", /zone/);
  });
});
