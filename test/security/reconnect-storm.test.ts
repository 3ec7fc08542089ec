// Issue 15 item 6: each reconnect of a proxy under identity quarantine triggered an undebounced
// rebuild of the whole model and a push to every peer. Through the real serve: reconnects that
// leave the enforced address set as it was rebuild nothing and push nothing; a pod of the identity
// with a new address still joins the quarantine, in one debounced rebuild.
import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ControlPlane } from "../../src/mesh/control-plane.js";
import { TypeUrl } from "../../src/xds/types.js";
import { AdsClient, type SotwClientStream, type TestNode } from "../support/ads-client.js";
import { startTestControlPlane } from "../support/control-plane.js";
import { eventually } from "../support/eventually.js";
import { ESCAPE_QUARANTINE_POLICY, podA, signal } from "../risk/fixtures.js";

const IDENTITY_POLICY = ESCAPE_QUARANTINE_POLICY.replace("action: QUARANTINE", "action: QUARANTINE, scope: IDENTITY");

const cartNode = (ip: string, pod: string): TestNode => ({
  id: `sidecar~${ip}~${pod}.${podA.namespace}~${podA.namespace}.svc.cluster.local`,
  metadata: { NAMESPACE: podA.namespace, SERVICE_ACCOUNT: podA.serviceAccount },
});

describe("security: reconnects under identity quarantine", function () {
  this.timeout(60_000);
  let dir: string;
  let cp: ControlPlane;
  let ads: AdsClient;
  let peer: SotwClientStream;
  let peerResponses = 0;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "meshward-reconnect-"));
    writeFileSync(join(dir, "mesh.yaml"), "trustDomain: cluster.local\nrootNamespace: istio-system\n");
    writeFileSync(join(dir, "policy.yaml"), IDENTITY_POLICY);
    cp = await startTestControlPlane(dir);
    ads = new AdsClient(cp.xdsAddress);
    peer = ads.sotw({ id: "sidecar~10.2.0.5~web-0.web~web.svc.cluster.local", metadata: { NAMESPACE: "web", SERVICE_ACCOUNT: "web" } });
    peer.subscribe(TypeUrl.Listener, []);
    void (async () => {
      for (;;) {
        const r = await peer.next(3_600_000).catch(() => undefined);
        if (r === undefined) return;
        peerResponses++;
        peer.ack(r);
      }
    })();
    cp.risk.risk.handleSignal(signal({ pod: podA }));
    await eventually("the peer answered", () => (peerResponses >= 1 ? true : undefined));
    await new Promise((r) => setTimeout(r, 500));
  });
  after(async () => {
    peer?.cancel();
    ads?.close();
    await cp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const reloads = async (): Promise<number> => {
    const text = await (await fetch(`http://${cp.monitoringAddress}/metrics`)).text();
    return Number(/^meshward_config_reloads_total (\d+)/m.exec(text)?.[1]);
  };

  it("rebuilds and pushes nothing when reconnects leave the enforced addresses as they were", async () => {
    // The quarantined pod's proxy joins once (its address is already enforced) and settles.
    const first = ads.sotw(cartNode(podA.ip, podA.name));
    first.subscribe(TypeUrl.Listener, []);
    await first.next();
    await new Promise((r) => setTimeout(r, 300));
    const reloadsBefore = await reloads();
    const pushesBefore = peerResponses;
    for (let i = 0; i < 20; i++) {
      const s = ads.sotw(cartNode(podA.ip, podA.name));
      s.subscribe(TypeUrl.Listener, []);
      await s.next();
      s.cancel();
      await s.status;
    }
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await reloads()) - reloadsBefore, 0, "no rebuild");
    assert.equal(peerResponses - pushesBefore, 0, "no push to the peer");
    first.cancel();
  });

  it("still takes a new address of the identity into the quarantine, in one debounced rebuild", async () => {
    const reloadsBefore = await reloads();
    const streams: SotwClientStream[] = [];
    for (const [i, ip] of ["10.1.0.91", "10.1.0.92", "10.1.0.93"].entries()) {
      const s = ads.sotw(cartNode(ip, `cart-new-${i}`));
      s.subscribe(TypeUrl.Listener, []);
      streams.push(s);
    }
    const denied = (): string =>
      JSON.stringify((cp.provider.snapshot.others.get("AuthorizationPolicy") ?? []).filter((a) => a.object.metadata.name.endsWith("-peers")).map((a) => a.spec));
    await eventually("the new pods' IPs in the peers DENY", () => (["10.1.0.91", "10.1.0.92", "10.1.0.93"].every((ip) => denied().includes(ip)) ? true : undefined));
    await new Promise((r) => setTimeout(r, 300));
    const rebuilt = (await reloads()) - reloadsBefore;
    assert.ok(rebuilt >= 1 && rebuilt <= 2, `three pods joining at once rebuild once or twice, not ${rebuilt} times`);
    for (const s of streams) s.cancel();
  });
});
