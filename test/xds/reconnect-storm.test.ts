// A reconnect storm against the real server with raw clients (issue 15 item 11): every proxy drops
// its connection and reconnects within a short window; each comes back holding exactly what it
// held before (nothing lost, nothing extra, no name twice in a response), and the server ends with
// one stream per proxy, also when they queue in the sync gate. The figures at 10,000 proxies are
// bench:xds-push --reconnect-storm's.
import assert from "node:assert/strict";
import { TypeUrl } from "../../src/xds/types.js";
import { AdsClient, responseNames, sidecarNode, type SotwClientStream } from "../support/ads-client.js";
import { eventually } from "../support/eventually.js";
import { harnessWorkers, resourceBytes, startXds, type Harness } from "../support/xds-harness.js";
import { MemoryProvider } from "../support/memory-provider.js";

const PROXIES = 40;

/** Subscribes as Envoy does (CDS wildcard, EDS by name, LDS wildcard), ACKs, and returns what it holds by type. */
async function sync(s: SotwClientStream): Promise<Map<string, string[]>> {
  const held = new Map<string, string[]>();
  const take = async (): Promise<void> => {
    const r = await s.next();
    const names = responseNames(r);
    assert.equal(new Set(names).size, names.length, `a ${r.typeUrl} response named a resource twice: ${names.join(",")}`);
    held.set(r.typeUrl, names.sort());
    s.ack(r);
  };
  s.subscribe(TypeUrl.Cluster, []);
  await take();
  s.subscribe(TypeUrl.ClusterLoadAssignment, held.get(TypeUrl.Cluster) ?? []);
  await take();
  s.subscribe(TypeUrl.Listener, []);
  await take();
  return held;
}

describe("xds server: reconnect storm", () => {
  let h: Harness;
  const provider = new MemoryProvider();
  const clients: AdsClient[] = [];
  let mostWaiting = 0;

  before(async () => {
    for (let i = 0; i < 30; i++) {
      provider.put(TypeUrl.Cluster, `c${i}`, resourceBytes(TypeUrl.Cluster, `c${i}`), false);
      provider.put(TypeUrl.ClusterLoadAssignment, `c${i}`, resourceBytes(TypeUrl.ClusterLoadAssignment, `c${i}`, "ep"), false);
    }
    for (let i = 0; i < 5; i++) provider.put(TypeUrl.Listener, `l${i}`, resourceBytes(TypeUrl.Listener, `l${i}`), false);
    // Fewer slots than proxies: the reconnections queue in the sync gate (sync-gate.ts), as they
    // do at 10,000 proxies with the default 64.
    h = await startXds(provider, { syncLimits: { maxConcurrentSyncs: 2, syncSlotMs: 10_000 }, syncsChanged: (_active, waiting) => void (mostWaiting = Math.max(mostWaiting, waiting)) });
  });

  after(async () => {
    for (const c of clients) c.close();
    await h.stop();
  });

  it("gives every proxy that drops and reconnects within the window exactly what it held, one stream each", async function () {
    this.timeout(60_000);
    const nodes = Array.from({ length: PROXIES }, (_, i) => sidecarNode(`pod-${i}`, "default", `10.0.1.${i + 1}`));
    const first = await Promise.all(
      nodes.map(async (node) => {
        const c = new AdsClient(h.address);
        clients.push(c);
        const s = c.sotw(node);
        return { c, s, held: await sync(s) };
      }),
    );
    assert.equal(h.xds.proxies().length, PROXIES);
    mostWaiting = 0;
    // The storm: each proxy closes its connection at a random moment within 300 ms and reconnects at once.
    const again = await Promise.all(
      first.map(
        ({ c, s, held }, i) =>
          new Promise<{ before: Map<string, string[]>; after: Map<string, string[]> }>((resolve, reject) => {
            setTimeout(() => {
              // Gone as a crashed proxy is: the stream is cancelled and the connection closed.
              s.cancel();
              c.close();
              const fresh = new AdsClient(h.address);
              clients.push(fresh);
              sync(fresh.sotw(nodes[i]!)).then((after) => resolve({ before: held, after }), reject);
            }, Math.random() * 300);
          }),
      ),
    );
    for (const { before, after } of again) assert.deepEqual(after, before);
    // One thread reports every change of the gate; stream workers report their counts every 100 ms
    // (a short wait can fall between two reports), so the pool's view is a sample: checked on one
    // thread only (sync-gate.test.ts checks the workers' gates deterministically).
    if (harnessWorkers() === 0) assert.ok(mostWaiting > 0, "some reconnections of the storm waited in the sync gate");
    await eventually("the dropped streams to be gone", () => (h.xds.proxies().length === PROXIES ? true : undefined));
    const ids = h.xds.proxies().map((p) => p.id);
    assert.equal(new Set(ids).size, PROXIES, "one stream per proxy");
    assert.deepEqual(new Set(ids), new Set(nodes.map((n) => n.id)));
  });
});
