// The push chain against the real xDS server and raw clients: which proxies an enforcement must
// reach is learnt from the pushes that follow its translation, including those of a round that was
// already in progress (in its time slices, or waiting for its first phase's ACKs) when the
// translation landed; the round that starts after it seals the set.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AuditStore } from "../../src/risk/audit.js";
import { PushChainRecorder } from "../../src/risk/push-chain.js";
import { TypeUrl } from "../../src/xds/types.js";
import { AdsClient, sidecarNode, type SotwClientStream } from "../support/ads-client.js";
import { MemoryProvider } from "../support/memory-provider.js";
import { resourceBytes, startXds, type Harness } from "../support/xds-harness.js";
import { eventually } from "../support/eventually.js";
import { signal } from "./fixtures.js";

/** ACKs every response on the stream until the returned function is called. */
function answerEverything(s: SotwClientStream): () => void {
  let stopped = false;
  void (async () => {
    while (!stopped) {
      try {
        s.ack(await s.next(200));
      } catch {
        // Nothing within 200 ms, or the stream ended (which rejects at once): wait before looking again.
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  })();
  return () => void (stopped = true);
}

describe("PushChainRecorder", () => {
  let dir: string;
  let store: AuditStore;
  let h: Harness;
  let ads: AdsClient;
  let provider: MemoryProvider;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "meshward-push-chain-"));
    store = AuditStore.open(dir);
    provider = new MemoryProvider();
    provider.put(TypeUrl.ClusterLoadAssignment, "e1", resourceBytes(TypeUrl.ClusterLoadAssignment, "e1"), false);
    provider.put(TypeUrl.Listener, "l1", resourceBytes(TypeUrl.Listener, "l1"), false);
    h = await startXds(provider, { debounceMs: 600_000 });
    ads = new AdsClient(h.address);
  });

  afterEach(async () => {
    ads.close();
    await h.stop();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function synced(pod: string): Promise<SotwClientStream> {
    const s = ads.sotw(sidecarNode(pod));
    s.subscribe(TypeUrl.ClusterLoadAssignment, ["e1"]);
    s.ack(await s.next());
    s.subscribe(TypeUrl.Listener, []);
    s.ack(await s.next());
    return s;
  }

  it("takes the pushes of a round already in progress when the translation lands, and completes when they are ACKed", async function () {
    this.timeout(20_000);
    const recorder = new PushChainRecorder(store, h.xds);
    const a = await synced("a");
    const b = await synced("b");
    // A phased round that waits for b's answer: the enforcement lands while it waits.
    provider.put(TypeUrl.ClusterLoadAssignment, "e1", resourceBytes(TypeUrl.ClusterLoadAssignment, "e1", "earlier"), false);
    provider.notify({ all: true });
    h.xds.pushNow({ first: () => [TypeUrl.ClusterLoadAssignment] });
    a.ack(await a.next());
    const bEds = await b.next();
    const s = signal({ id: "mid-round", receivedAtMs: Date.now() });
    store.recordSignal(s);
    provider.put(TypeUrl.Listener, "l1", resourceBytes(TypeUrl.Listener, "l1", "enforced"), false);
    provider.notify({ all: true });
    recorder.translated([s.id], Date.now());
    h.xds.pushNow();
    // The round in progress sends both proxies the enforced listener once b answers.
    b.ack(bEds);
    for (const c of [a, b]) {
      const r = await c.next();
      assert.equal(r.typeUrl, TypeUrl.Listener);
      c.ack(r);
    }
    // As a proxy does, answer whatever else arrives (the sealing round may push again on a loaded
    // machine with stream workers): the chain waits for every push it counted.
    const stops = [a, b].map(answerEverything);
    const chain = await eventually("the chain to complete", () => {
      const c = store.query.chain(s.id);
      return c?.lastAckUs !== undefined ? c : undefined;
    });
    for (const stop of stops) stop();
    assert.equal(chain.proxies, 2, "both proxies received the enforcement in the round that was in progress");
    assert.equal(chain.acked, 2);
    assert.ok(chain.latencyUs !== undefined && chain.latencyUs > 0);
    recorder.close();
    a.close();
    b.close();
  });

  it("does not count a push made before the translation, even when it is reported after it (stream workers)", async () => {
    const recorder = new PushChainRecorder(store, h.xds);
    const s = signal({ id: "late-report", receivedAtMs: Date.now() });
    store.recordSignal(s);
    recorder.translated([s.id], Date.now());
    const push = (ageMs: number, nonce: string): void =>
      void h.xds.emit("push", {
        kind: "push", proxyId: "sidecar~10.0.0.9~p.default~default.svc.cluster.local", streamId: 1, typeUrl: TypeUrl.Listener,
        version: "v", nonce, names: ["l1"], removed: [], bytes: 10, timeMs: performance.now() - ageMs, wallMs: Date.now() - ageMs,
      });
    push(5_000, "before");
    push(0, "after");
    store.flush();
    assert.deepEqual(store.query.deliveries(s.id).map((d) => d.nonce), ["after"]);
    recorder.close();
  });
});
