// pushNow: an enforcement change is pushed at once instead of after the debounce, and the round
// it starts is announced ("flushing") before its first push; with first types (what cuts a pod
// off), those reach and are ACKed by every proxy before the rest of the round is sent.
import assert from "node:assert/strict";
import { TypeUrl } from "../../src/xds/types.js";
import type { DiscoveryResponse } from "../../src/gen/envoy/service/discovery/v3/discovery_pb.js";
import { AdsClient, sidecarNode, type SotwClientStream, type TestNode } from "../support/ads-client.js";
import type { Proxy } from "../../src/model/proxy.js";
import { typeShortName } from "../../src/xds/resource.js";
import { FIRST_PHASE_WAIT_MS } from "../../src/xds/push-round.js";
import { MemoryProvider } from "../support/memory-provider.js";
import { resourceBytes, startXds, type Harness } from "../support/xds-harness.js";

describe("xds server: pushNow", () => {
  let h: Harness;
  let ads: AdsClient;
  const provider = new MemoryProvider();

  before(async () => {
    provider.put(TypeUrl.Listener, "l1", resourceBytes(TypeUrl.Listener, "l1"), false);
    // A debounce far longer than the test's timeout: only pushNow can get the change out in time.
    h = await startXds(provider, { debounceMs: 600_000 });
    ads = new AdsClient(h.address);
  });

  after(async () => {
    ads.close();
    await h.stop();
  });

  it("pushes a pending change without waiting for the debounce, announcing the round first", async () => {
    const s = ads.sotw(sidecarNode());
    s.subscribe(TypeUrl.Listener, []);
    s.ack(await s.next());
    const order: string[] = [];
    h.xds.on("flushing", () => order.push("flushing"));
    h.xds.on("push", () => order.push("push"));
    // With stream workers the proxy can hold the response before the worker's push report (and so
    // the end of the round) reaches the main process: wait for the round's end, then check the order.
    const flushed = new Promise<void>((resolve) => h.xds.on("flushed", () => resolve()));
    h.xds.on("flushed", () => order.push("flushed"));
    provider.put(TypeUrl.Listener, "l1", resourceBytes(TypeUrl.Listener, "l1", "quarantine"));
    h.xds.pushNow();
    const r = await s.next(5_000);
    assert.equal(r.typeUrl, TypeUrl.Listener);
    await Promise.race([flushed, new Promise((_, reject) => setTimeout(() => reject(new Error(`no "flushed" within 5 s; saw ${order.join(", ")}`)), 5_000).unref())]);
    assert.deepEqual(order, ["flushing", "push", "flushed"]);
    assert.equal(h.xds.proxies()[0]?.id, sidecarNode().id);
    s.close();
  });
});

describe("xds server: pushNow with first types", () => {
  let h: Harness;
  let ads: AdsClient;
  let provider: MemoryProvider;
  const enforcedNode = sidecarNode("enforced", "default", "10.0.0.9");
  const peerNode = sidecarNode("peer", "default", "10.0.0.2");
  // As the risk stage asks for a quarantine: EDS first everywhere, and the enforced proxy's LDS.
  const first = (p: Proxy): TypeUrl[] => (p.id === enforcedNode.id ? [TypeUrl.ClusterLoadAssignment, TypeUrl.Listener] : [TypeUrl.ClusterLoadAssignment]);

  beforeEach(async () => {
    provider = new MemoryProvider();
    provider.put(TypeUrl.ClusterLoadAssignment, "e1", resourceBytes(TypeUrl.ClusterLoadAssignment, "e1"), false);
    provider.put(TypeUrl.Listener, "l1", resourceBytes(TypeUrl.Listener, "l1"), false);
    h = await startXds(provider, { debounceMs: 600_000 });
    ads = new AdsClient(h.address);
  });

  afterEach(async () => {
    ads.close();
    await h.stop();
  });

  async function synced(node: TestNode): Promise<SotwClientStream> {
    const s = ads.sotw(node);
    s.subscribe(TypeUrl.ClusterLoadAssignment, ["e1"]);
    s.ack(await s.next());
    s.subscribe(TypeUrl.Listener, []);
    s.ack(await s.next());
    return s;
  }

  function change(): void {
    provider.put(TypeUrl.ClusterLoadAssignment, "e1", resourceBytes(TypeUrl.ClusterLoadAssignment, "e1", "cut"), false);
    provider.put(TypeUrl.Listener, "l1", resourceBytes(TypeUrl.Listener, "l1", "deny"), false);
    provider.notify({ all: true });
  }

  it("sends the first types to every proxy and the rest only after all of them are ACKed", async () => {
    const peer = await synced(peerNode);
    const enforced = await synced(enforcedNode);
    const log: string[] = [];
    h.xds.on("push", (e) => log.push(`push ${e.first === true ? "first" : "rest"} ${e.proxyId === enforcedNode.id ? "enforced" : "peer"} ${typeShortName(e.typeUrl)}`));
    h.xds.on("ack", (e) => log.push(`ack ${e.proxyId === enforcedNode.id ? "enforced" : "peer"} ${typeShortName(e.typeUrl)}`));
    const flushed = new Promise<void>((resolve) => h.xds.once("flushed", resolve));
    change();
    h.xds.pushNow({ first });
    const peerEds = await peer.next(5_000);
    assert.equal(peerEds.typeUrl, TypeUrl.ClusterLoadAssignment);
    const enforcedEds = await enforced.next(5_000);
    assert.equal(enforcedEds.typeUrl, TypeUrl.ClusterLoadAssignment);
    const enforcedLds = await enforced.next(5_000);
    assert.equal(enforcedLds.typeUrl, TypeUrl.Listener, "the enforced proxy's deny-all is a cutting resource");
    // The peer's LDS waits for every cutting ACK: with the enforced proxy's still owed, none comes.
    await assert.rejects(peer.next(300), /no response within/);
    peer.ack(peerEds);
    await assert.rejects(peer.next(300), /no response within/, "the enforced proxy has not ACKed yet");
    enforced.ack(enforcedEds);
    enforced.ack(enforcedLds);
    const peerLds = await peer.next(5_000);
    assert.equal(peerLds.typeUrl, TypeUrl.Listener);
    peer.ack(peerLds);
    await flushed;
    const firstPushes = log.filter((l) => l.startsWith("push first"));
    assert.deepEqual(firstPushes.sort(), ["push first enforced eds", "push first enforced lds", "push first peer eds"]);
    const lastCuttingAck = Math.max(log.indexOf("ack peer eds"), log.indexOf("ack enforced eds"), log.indexOf("ack enforced lds"));
    assert.ok(lastCuttingAck >= 0 && log.indexOf("push rest peer lds") > lastCuttingAck, log.join("; "));
    peer.close();
    enforced.close();
  });

  it("sends every proxy its first types before any proxy's rest, with more proxies than one slice holds", async function () {
    this.timeout(30_000);
    // 100 peers on one connection (one stream worker when there are workers): more than one CPU
    // slice's worth of streams, so a round computed in slices must still send every cut first.
    const peers: SotwClientStream[] = [];
    for (let i = 0; i < 100; i++) peers.push(await synced(sidecarNode(`peer-${i}`, "default", `10.0.1.${i + 1}`)));
    const log: string[] = [];
    // Only this round's pushes: with stream workers a worker's report of a peer's initial sync can
    // reach this process after the peer itself got the response (two channels, no order between them).
    const t0 = performance.now();
    h.xds.on("push", (e) => void (e.timeMs >= t0 && log.push(`${e.first === true ? "first" : "rest"} ${typeShortName(e.typeUrl)}`)));
    change();
    h.xds.pushNow({ first });
    // Nobody answers until every peer holds its cutting EDS.
    const eds: DiscoveryResponse[] = [];
    for (const p of peers) {
      const r = await p.next(10_000);
      assert.equal(r.typeUrl, TypeUrl.ClusterLoadAssignment);
      eds.push(r);
    }
    assert.ok(!log.includes("rest lds"), "a listener went out before every proxy had its cutting EDS");
    peers.forEach((p, i) => p.ack(eds[i]!));
    for (const p of peers) assert.equal((await p.next(10_000)).typeUrl, TypeUrl.Listener);
    assert.equal(log.filter((l) => l === "first eds").length, 100);
    for (const p of peers) p.close();
  });

  it("sends the rest after a bounded wait when a proxy never answers its first-phase response", async function () {
    this.timeout(10_000);
    const peer = await synced(peerNode);
    const silent = await synced(enforcedNode);
    const phase = new Promise<{ all: boolean; open: number }>((resolve) => h.xds.once("firstPhase", resolve));
    change();
    h.xds.pushNow({ first });
    const eds = await peer.next(5_000);
    peer.ack(eds);
    // The silent proxy answers nothing; the peer still gets its listener once the wait runs out.
    const lds = await peer.next(FIRST_PHASE_WAIT_MS + 3_000);
    assert.equal(lds.typeUrl, TypeUrl.Listener);
    assert.deepEqual(await phase, { all: false, open: 2 });
    peer.close();
    silent.close();
  });
});
