// Issue 15 item 5: node agents were over-trusted. A signal without a located pod skipped the node
// check, the service account was the agent's word (so a node hosting one pod of a namespace could
// quarantine by identity any service account there), and nothing limited how much a node could
// write. Through the real serve's signal API, as a node agent authenticated for node-1.
import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import type { ControlPlane } from "../../src/mesh/control-plane.js";
import { SIGNALS_AUDIENCE } from "../../src/signals/node-identity.js";
import { TokenKey } from "../../src/security/token-key.js";
import { AuditStore } from "../../src/risk/audit.js";
import { TypeUrl } from "../../src/xds/types.js";
import { AdsClient, type SotwClientStream } from "../support/ads-client.js";
import { startTestControlPlane } from "../support/control-plane.js";
import { AgentStream, escapeSignal } from "../support/agent-stream.js";
import { ESCAPE_QUARANTINE_POLICY, signal } from "../risk/fixtures.js";

const IDENTITY_POLICY = ESCAPE_QUARANTINE_POLICY.replace("action: QUARANTINE", "action: QUARANTINE, scope: IDENTITY");
const agentSignal = (id: string, pod: Parameters<typeof escapeSignal>[2], args?: string[]) => escapeSignal(id, "node-1", pod, args);
describe("security: node agents report only what the control plane can place", function () {
  this.timeout(30_000);
  let dir: string;
  let cp: ControlPlane;
  let client: grpc.Client;
  let token: string;
  let ads: AdsClient;
  let proxy: SotwClientStream;
  const cartA = { uid: "uid-cart-a", namespace: "shop", name: "cart-a", serviceAccount: "cart" };
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "meshward-agent-trust-"));
    writeFileSync(join(dir, "mesh.yaml"), "trustDomain: cluster.local\nrootNamespace: istio-system\n");
    writeFileSync(join(dir, "policy.yaml"), IDENTITY_POLICY);
    cp = await startTestControlPlane(dir, { signalLimits: { signalsPerSecond: 1, burst: 8, maxSignalBytes: 4096 } });
    const tokens = await TokenKey.loadOrCreate(join(dir, ".data"));
    token = tokens.mint({ namespace: "meshward-system", serviceAccount: "node-node-1", audiences: [SIGNALS_AUDIENCE] });
    client = new grpc.Client(cp.xdsAddress, grpc.credentials.createInsecure());
    // The pod cart-a (service account cart) runs on node-1; its proxy says so.
    ads = new AdsClient(cp.xdsAddress);
    proxy = ads.sotw({ id: "sidecar~10.1.0.41~cart-a.shop~shop.svc.cluster.local", metadata: { NAMESPACE: "shop", SERVICE_ACCOUNT: "cart", NODE_NAME: "node-1" } });
    proxy.subscribe(TypeUrl.Listener, []);
    await proxy.next();
  });
  after(async () => {
    proxy?.cancel();
    ads?.close();
    client?.close();
    await cp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("rejects a signal about a pod the control plane cannot place on the agent's node, uid or not", async () => {
    const agent = new AgentStream(client, token);
    try {
      agent.send([
        agentSignal("nouid-1", { uid: "", namespace: "shop", name: "payments-0", serviceAccount: "payments" }),
        agentSignal("unknown-1", { uid: "uid-unknown", namespace: "shop", name: "ghost", serviceAccount: "ghost" }),
      ]);
      const r = await agent.next();
      assert.ok(r !== undefined, "answered");
      assert.deepEqual(r.acceptedIds, []);
      assert.deepEqual(r.rejected.map((x) => x.id).sort(), ["nouid-1", "unknown-1"]);
      assert.ok(r.rejected.every((x) => /not known to run on node "node-1"/.test(x.reason)), JSON.stringify(r.rejected));
      assert.equal(cp.risk.risk.audit.query.signals({}).filter((s) => s.id === "nouid-1").length, 0, "nothing recorded about it");
    } finally {
      agent.close();
    }
  });

  it("takes the service account from the control plane, so an identity quarantine hits the pod's real identity", async () => {
    const agent = new AgentStream(client, token);
    try {
      agent.send([agentSignal("lying-sa-1", { ...cartA, serviceAccount: "payments" })]);
      const r = await agent.next();
      assert.ok(r !== undefined, "answered");
      assert.deepEqual(r.acceptedIds, ["lying-sa-1"], JSON.stringify(r.rejected));
      const identities = cp.risk.risk.enforcement.active().map((e) => `${e.identity.namespace}/${e.identity.serviceAccount}`);
      assert.deepEqual(identities, ["shop/cart"], "not shop/payments, which the agent named");
    } finally {
      agent.close();
    }
  });

  it("limits each node's signal rate and size: past the burst the stream ends RESOURCE_EXHAUSTED and nothing more is stored", async () => {
    const agent = new AgentStream(client, token);
    const big = agentSignal("big-1", cartA, ["x".repeat(8192)]);
    agent.send([big]);
    const r = await agent.next();
    assert.match(r?.rejected.find((x) => x.id === "big-1")?.reason ?? "", /4096 bytes/);
    const before = cp.risk.risk.audit.query.signals({}).length;
    agent.send(Array.from({ length: 40 }, (_, i) => agentSignal(`flood-${i}`, cartA)));
    const st = await Promise.race([agent.status, new Promise<undefined>((resolve) => setTimeout(resolve, 5000))]);
    assert.equal(st?.code, grpc.status.RESOURCE_EXHAUSTED, "the flood ends the stream");
    assert.match(st.details, /node-1/);
    assert.ok(cp.risk.risk.audit.query.signals({}).length - before <= 8, "no more than the burst was stored");
  });
});

describe("security: the audit store's retention is bounded by age and by rows", () => {
  it("keeps at most maxRows signals, the newest", () => {
    const dir = mkdtempSync(join(tmpdir(), "meshward-retention-"));
    const audit = AuditStore.open(dir, { maxRows: 5 });
    try {
      for (let i = 0; i < 12; i++) audit.recordSignal(signal({ id: `r-${i}`, receivedAtMs: 1_800_000_000_000 + i }));
      const deleted = audit.prune(1_800_000_000_100);
      assert.equal(deleted["signals"], 7);
      assert.deepEqual(audit.query.signals({}).map((s) => s.id).sort(), ["r-10", "r-11", "r-7", "r-8", "r-9"]);
    } finally {
      audit.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
