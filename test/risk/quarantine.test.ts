import assert from "node:assert/strict";
import { ManualClock } from "../../src/risk/clock.js";
import type { Verdict } from "../../src/risk/engine.js";
import { parseProxyNode } from "../../src/model/proxy.js";
import { enforcementOverlay, enforcementProxyChange } from "../../src/risk/enforcement-overlay.js";
import { proxyPodDirectory } from "../../src/risk/proxy-pods.js";
import { EnforcementSet, MemoryEnforcementStore, enforcementId } from "../../src/risk/quarantine.js";
import type { EnforcementAction, EnforcementScope } from "../../src/risk/runtime-policy.js";
import { podA, podB } from "./fixtures.js";

const T0 = Date.UTC(2027, 0, 15, 12, 0, 0);
const identityA = { trustDomain: "cluster.local", namespace: "shop", serviceAccount: "cart" };

function verdict(action: EnforcementAction, opts: { scope?: EnforcementScope; durationMs?: number; pod?: typeof podA; signalId?: string } = {}): Verdict {
  const pod = opts.pod ?? podA;
  const signalId = opts.signalId ?? "sig-1";
  return {
    id: `${signalId}#0`,
    signalId,
    policy: "RuntimePolicy istio-system/escapes",
    rule: "escape",
    action,
    scope: opts.scope ?? "pod",
    ...(opts.durationMs !== undefined ? { durationMs: opts.durationMs } : {}),
    pod,
    identity: { ...identityA, serviceAccount: pod.serviceAccount },
    riskScore: 80,
    reason: "escape.setns-host-mnt in shop/cart",
    decidedAtMs: T0,
  };
}

function setup(): { set: EnforcementSet; store: MemoryEnforcementStore; clock: ManualClock } {
  const clock = new ManualClock(T0);
  const store = new MemoryEnforcementStore();
  return { set: new EnforcementSet(store, clock), store, clock };
}

describe("EnforcementSet", () => {
  it("records nothing for alert verdicts", () => {
    const { set, store } = setup();
    assert.equal(set.apply(verdict("alert")), undefined);
    assert.equal(set.active().length, 0);
    assert.equal(store.events.length, 0);
  });

  it("creates an entry with expiry, persists it, and extends it to the later expiry only", () => {
    const { set, store, clock } = setup();
    const c = set.apply(verdict("quarantine", { durationMs: 3_600_000 }));
    assert.equal(c?.event, "created");
    assert.equal(c?.enforcement.id, enforcementId("quarantine", "pod", podA));
    assert.match(c?.enforcement.id ?? "", /^q-[0-9a-f]{10}$/);
    assert.equal(c?.enforcement.expiresAtMs, T0 + 3_600_000);
    assert.equal(store.entries.size, 1);
    clock.advance(60_000);
    assert.equal(set.apply(verdict("quarantine", { durationMs: 60_000, signalId: "sig-2" }))?.event, "unchanged");
    const ext = set.apply(verdict("quarantine", { durationMs: 3_600_000, signalId: "sig-3" }));
    assert.equal(ext?.event, "extended");
    assert.equal(ext?.enforcement.expiresAtMs, T0 + 60_000 + 3_600_000);
    assert.equal(ext?.enforcement.signalId, "sig-1", "keeps the signal that started it");
    const forever = set.apply(verdict("quarantine", { signalId: "sig-4" }));
    assert.equal(forever?.event, "extended");
    assert.equal(forever?.enforcement.expiresAtMs, undefined);
    assert.deepEqual(store.events.map((e) => e.event), ["created", "extended", "extended"]);
    assert.equal(set.active().length, 1);
  });

  it("keeps different actions and scopes apart", () => {
    const { set } = setup();
    set.apply(verdict("quarantine"));
    set.apply(verdict("isolate-egress"));
    set.apply(verdict("quarantine", { scope: "identity" }));
    set.apply(verdict("quarantine", { pod: podB }));
    assert.equal(new Set(set.active().map((e) => e.id)).size, 4);
  });

  it("expires entries at their expiry and reports the next one", () => {
    const { set, store, clock } = setup();
    set.apply(verdict("quarantine", { durationMs: 60_000 }));
    set.apply(verdict("revoke", { durationMs: 120_000 }));
    set.apply(verdict("isolate-egress"));
    assert.equal(set.nextExpiryMs(), T0 + 60_000);
    clock.advance(59_999);
    assert.deepEqual(set.expire(), []);
    clock.advance(1);
    assert.deepEqual(set.expire().map((e) => e.action), ["quarantine"]);
    assert.equal(set.nextExpiryMs(), T0 + 120_000);
    clock.advance(60_000);
    assert.deepEqual(set.expire().map((e) => e.action), ["revoke"]);
    assert.equal(set.nextExpiryMs(), undefined);
    assert.deepEqual(set.active().map((e) => e.action), ["isolate-egress"]);
    assert.deepEqual(store.events.filter((e) => e.event === "expired").map((e) => e.by), ["expiry", "expiry"]);
  });

  it("releases by id, pod UID, pod IP, namespace/name and unique name", () => {
    for (const target of [enforcementId("quarantine", "pod", podA), podA.uid, podA.ip, `${podA.namespace}/${podA.name}`, podA.name]) {
      const { set, store } = setup();
      set.apply(verdict("quarantine"));
      set.apply(verdict("quarantine", { pod: podB }));
      assert.deepEqual(set.release(target, "alice").map((e) => e.pod.name), [podA.name], target);
      assert.deepEqual(set.active().map((e) => e.pod.name), [podB.name]);
      assert.deepEqual(store.events.at(-1), { event: "released", id: enforcementId("quarantine", "pod", podA), atMs: T0, by: "alice" });
    }
  });

  it("refuses an ambiguous bare pod name", () => {
    const { set } = setup();
    set.apply(verdict("quarantine"));
    set.apply(verdict("quarantine", { pod: { ...podA, uid: "other", namespace: "blue", ip: "10.9.9.9" } }));
    assert.throws(() => set.release(podA.name, "bob"), /names pods in blue, shop: use namespace\//);
    assert.equal(set.active().length, 2);
  });

  it("reloads entries from the store at start (restart keeps enforcement)", () => {
    const { set, store, clock } = setup();
    set.apply(verdict("quarantine"));
    const again = new EnforcementSet(store, clock);
    assert.deepEqual(again.active(), set.active());
  });

  it("refuses certificates to a quarantined or revoked pod but not to its healthy replicas", () => {
    const { set } = setup();
    set.apply(verdict("quarantine"));
    assert.equal(set.isIssuanceAllowed(identityA, podA.ip), false);
    assert.equal(set.isIssuanceAllowed(identityA, podB.ip), true);
    assert.equal(set.isIssuanceAllowed(identityA), true, "without a pod IP only identity-scoped actions apply");
    const { set: s2 } = setup();
    s2.apply(verdict("revoke", { pod: podB }));
    assert.equal(s2.isIssuanceAllowed(identityA, podB.ip), false);
    assert.equal(s2.isIssuanceAllowed(identityA, podA.ip), true);
  });

  it("refuses certificates to every pod of an identity-scoped quarantine, and ignores isolate-egress", () => {
    const { set } = setup();
    set.apply(verdict("isolate-egress"));
    assert.equal(set.isIssuanceAllowed(identityA, podA.ip), true);
    set.apply(verdict("quarantine", { scope: "identity" }));
    assert.equal(set.isIssuanceAllowed(identityA, podB.ip), false);
    assert.equal(set.isIssuanceAllowed(identityA), false);
    assert.equal(set.isIssuanceAllowed({ ...identityA, serviceAccount: "web" }, "10.1.0.99"), true);
  });
});

describe("enforcement overlay", () => {
  const meta = (id: string, signal = "sig-1") => ({
    labels: { "app.kubernetes.io/managed-by": "meshward" },
    annotations: {
      "meshward.io/generated": "true",
      "meshward.io/enforcement": id,
      "meshward.io/reason": "escape.setns-host-mnt in shop/cart",
      "meshward.io/signal": signal,
      "meshward.io/created": "2027-01-15T12:00:00.000Z",
    },
    creationTimestamp: "1970-01-01T00:00:00Z",
  });

  it("quarantines one pod: DENY from its IP on every peer, DENY to its IP on its own proxy", () => {
    const { set } = setup();
    const e = set.apply(verdict("quarantine"))?.enforcement;
    assert.ok(e);
    const hex = e.id.slice(2);
    assert.deepEqual(enforcementOverlay(set.active()), [
      {
        apiVersion: "security.istio.io/v1",
        kind: "AuthorizationPolicy",
        metadata: { name: `meshward-quarantine-${hex}-peers`, namespace: "istio-system", ...meta(e.id) },
        spec: { action: "DENY", rules: [{ from: [{ source: { ipBlocks: ["10.1.0.11"] } }] }] },
        origin: { file: `meshward:risk/enforcement/${e.id}` },
      },
      {
        apiVersion: "security.istio.io/v1",
        kind: "AuthorizationPolicy",
        metadata: { name: `meshward-quarantine-${hex}-self`, namespace: "shop", ...meta(e.id) },
        spec: {
          action: "DENY",
          rules: [{ when: [{ key: "destination.ip", values: ["10.1.0.11"] }] }],
        },
        origin: { file: `meshward:risk/enforcement/${e.id}` },
      },
    ]);
  });

  it("never names the service account for a pod-scoped quarantine, so replicas keep working", () => {
    const { set } = setup();
    set.apply(verdict("quarantine"));
    const text = JSON.stringify(enforcementOverlay(set.active()).map((p) => p.spec));
    assert.ok(!text.includes("sa/cart") && !text.includes(podB.ip), text);
  });

  it("quarantines a whole identity by principal and by every known pod IP", () => {
    const { set } = setup();
    const e = set.apply(verdict("quarantine", { scope: "identity", durationMs: 60_000 }))?.enforcement;
    assert.ok(e);
    const overlay = enforcementOverlay(set.active(), {
      rootNamespace: "mesh-root",
      podsOfIdentity: (id) => (id.serviceAccount === "cart" ? [{ ip: podB.ip }, { ip: podA.ip }] : []),
    });
    assert.deepEqual(overlay.map((p) => [p.metadata.namespace, p.metadata.name, p.spec]), [
      ["mesh-root", `meshward-quarantine-${e.id.slice(2)}-peers`, {
        action: "DENY",
        rules: [{ from: [{ source: { principals: ["cluster.local/ns/shop/sa/cart"] } }, { source: { ipBlocks: ["10.1.0.11", "10.1.0.12"] } }] }],
      }],
      ["shop", `meshward-quarantine-${e.id.slice(2)}-self`, {
        action: "DENY",
        rules: [{ when: [{ key: "destination.ip", values: ["10.1.0.11", "10.1.0.12"] }] }],
      }],
    ]);
    assert.equal(overlay[0]?.metadata.annotations["meshward.io/expires"], "2027-01-15T12:01:00.000Z");
  });

  it("isolates egress with the peer DENY only, and revoke adds no policy", () => {
    const { set } = setup();
    const e = set.apply(verdict("isolate-egress"))?.enforcement;
    set.apply(verdict("revoke", { pod: podB }));
    assert.ok(e);
    const overlay = enforcementOverlay(set.active());
    assert.deepEqual(overlay.map((p) => [p.metadata.namespace, p.metadata.name, p.spec]), [
      ["istio-system", `meshward-isolate-egress-${e.id.slice(2)}-peers`, { action: "DENY", rules: [{ from: [{ source: { ipBlocks: ["10.1.0.11"] } }] }] }],
    ]);
  });

  it("emits no invalid empty policy for a pod without an IP", () => {
    const { set } = setup();
    set.apply(verdict("quarantine", { pod: { ...podA, ip: "" } }));
    assert.deepEqual(enforcementOverlay(set.active()), []);
  });

  it("disappears on release", () => {
    const { set } = setup();
    set.apply(verdict("quarantine"));
    set.release(podA.uid, "test");
    assert.deepEqual(enforcementOverlay(set.active()), []);
  });

  it("finds an identity's pods among connected proxies", () => {
    const proxies = [
      parseProxyNode({ id: "sidecar~10.1.0.11~cart-a.shop~shop.svc.cluster.local", metadata: { SERVICE_ACCOUNT: "cart", INSTANCE_IPS: "10.1.0.11,fd00::11" } }),
      parseProxyNode({ id: "sidecar~10.1.0.12~cart-b.shop~shop.svc.cluster.local", metadata: { SERVICE_ACCOUNT: "cart" } }),
      parseProxyNode({ id: "sidecar~10.1.0.13~web.shop~shop.svc.cluster.local", metadata: { SERVICE_ACCOUNT: "web" } }),
      parseProxyNode({ id: "sidecar~10.2.0.14~cart.blue~blue.svc.cluster.local", metadata: { SERVICE_ACCOUNT: "cart" } }),
    ];
    const pods = proxyPodDirectory(() => proxies);
    assert.deepEqual(pods.podsOfIdentity(identityA).map((p) => p.ip), ["10.1.0.11", "fd00::11", "10.1.0.12"]);
  });

  it("says which proxies an enforcement change touches", () => {
    const { set } = setup();
    const q = set.apply(verdict("quarantine"))?.enforcement;
    const r = set.apply(verdict("revoke"))?.enforcement;
    assert.ok(q && r);
    assert.deepEqual(enforcementProxyChange([q, r]), { all: true });
    const onlyRevoke = enforcementProxyChange([r]);
    assert.equal(onlyRevoke.all, false);
    const proxy = parseProxyNode({ id: "sidecar~10.1.0.11~cart-a.shop~shop.svc.cluster.local" });
    assert.equal(!onlyRevoke.all && onlyRevoke.affects(proxy), false);
  });
});
