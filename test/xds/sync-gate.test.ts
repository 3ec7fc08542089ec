// The sync gate (issue 15 item 11): how many admitted streams the server brings up at once. Against
// the real server with raw clients: streams past maxConcurrentSyncs wait, oldest first, until a
// syncing stream has answered everything it was sent; a proxy that never answers gives its slot
// back after syncSlotMs; a stream that ends while waiting gives up its place and is released; and
// with stream workers each worker gates its own streams and the pool's gauge adds them up.
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { TypeUrl } from "../../src/xds/types.js";
import type { Proxy } from "../../src/model/proxy.js";
import type { SyncLimits } from "../../src/xds/sync-gate.js";
import { SyncGate } from "../../src/xds/sync-gate.js";
import { AdsClient, sidecarNode, type SotwClientStream } from "../support/ads-client.js";
import { eventually } from "../support/eventually.js";
import { standardProvider, startXds, type Harness } from "../support/xds-harness.js";

describe("xds server: sync gate", () => {
  let h: Harness | undefined;
  const clients: AdsClient[] = [];
  const released: string[] = [];

  async function start(syncLimits: SyncLimits, workers = 0): Promise<Harness> {
    h = await startXds(standardProvider(), { workers, syncLimits, released: (p: Proxy) => void released.push(p.id) });
    return h;
  }

  function gauge(state: "active" | "waiting"): Promise<number> {
    return h!.metrics.gauge("meshward_xds_initial_syncs", "", ["state"]).get({ state });
  }

  /** Opens a stream for pod-i asking for LDS, and waits until the gate has seen it (so the queue's order is the opening order). */
  async function open(i: number, seen: number): Promise<SotwClientStream> {
    const c = new AdsClient(h!.address);
    clients.push(c);
    const s = c.sotw(sidecarNode(`pod-${i}`, "default", `10.0.2.${i + 1}`));
    s.subscribe(TypeUrl.Listener, []);
    await eventually(`the gate to hold ${seen} streams`, async () => ((await gauge("active")) + (await gauge("waiting")) === seen ? true : undefined));
    return s;
  }

  const connected = (): string[] => h!.xds.proxies().map((p) => p.id.split("~")[2] ?? "").sort();

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    released.splice(0);
    await h?.stop();
    h = undefined;
  });

  it("brings up at most maxConcurrentSyncs streams at once; the oldest waiting starts when one has answered everything", async () => {
    await start({ maxConcurrentSyncs: 2, syncSlotMs: 60_000 });
    const streams: SotwClientStream[] = [];
    for (let i = 0; i < 5; i++) streams.push(await open(i, i + 1));
    const r0 = await streams[0]!.next();
    const r1 = await streams[1]!.next();
    assert.equal(await gauge("active"), 2);
    assert.equal(await gauge("waiting"), 3);
    // Waiting streams are admitted but not started: no status, no response.
    assert.deepEqual(connected(), ["pod-0.default", "pod-1.default"]);
    streams[0]!.ack(r0);
    await streams[2]!.next();
    assert.deepEqual(connected(), ["pod-0.default", "pod-1.default", "pod-2.default"]);
    assert.equal(await gauge("waiting"), 2);
    // pod-1 has not answered: still syncing; its ACK lets pod-3 (not pod-4) start.
    streams[1]!.ack(r1);
    await streams[3]!.next();
    assert.deepEqual(connected(), ["pod-0.default", "pod-1.default", "pod-2.default", "pod-3.default"]);
    assert.equal(await gauge("waiting"), 1);
  });

  it("does not count a stream as synced while it still owes an answer for a type it asked for later", async () => {
    await start({ maxConcurrentSyncs: 1, syncSlotMs: 60_000 });
    const s0 = await open(0, 1);
    const s1 = await open(1, 2);
    // pod-0 ACKs LDS and asks for RDS in the same write, as Envoy does: the slot stays with it.
    const lds = await s0.next();
    s0.ack(lds);
    s0.subscribe(TypeUrl.RouteConfiguration, ["r1"]);
    const rds = await s0.next();
    assert.equal(rds.typeUrl, TypeUrl.RouteConfiguration);
    assert.equal(await gauge("waiting"), 1, "pod-1 waits while pod-0's RDS is unanswered");
    assert.deepEqual(connected(), ["pod-0.default"]);
    s0.ack(rds);
    await s1.next();
    assert.deepEqual(connected(), ["pod-0.default", "pod-1.default"]);
  });

  it("gives a slot back after syncSlotMs when its proxy never answers", async () => {
    await start({ maxConcurrentSyncs: 1, syncSlotMs: 300 });
    const s0 = await open(0, 1);
    const s1 = await open(1, 2);
    await s0.next(); // never ACKed
    const r1 = await s1.next();
    assert.equal(r1.typeUrl, TypeUrl.Listener);
    assert.equal(await gauge("waiting"), 0);
  });

  it("lets a stream that ends while waiting give up its place, and releases its proxy", async () => {
    await start({ maxConcurrentSyncs: 1, syncSlotMs: 60_000 });
    const s0 = await open(0, 1);
    const s1 = await open(1, 2);
    const s2 = await open(2, 3);
    s1.cancel();
    await eventually("pod-1 to leave the queue", async () => ((await gauge("waiting")) === 1 ? true : undefined));
    await eventually("pod-1 to be released", () => (released.some((id) => id.includes("~pod-1.default~")) ? true : undefined));
    s0.ack(await s0.next());
    await s2.next();
    assert.deepEqual(connected(), ["pod-0.default", "pod-2.default"]);
  });

  it("ends streams still waiting when the server closes, as it ends started ones (UNAVAILABLE: reconnect elsewhere)", async () => {
    await start({ maxConcurrentSyncs: 1, syncSlotMs: 60_000 });
    const s0 = await open(0, 1);
    const s1 = await open(1, 2);
    await s0.next();
    h!.xds.close();
    const [st0, st1] = await Promise.all([s0.status, s1.status]);
    for (const st of [st0, st1]) {
      assert.equal(st.code, grpc.status.UNAVAILABLE);
      assert.equal(st.details, "xDS server closing");
    }
  });

  it("gates each stream worker's streams, and the pool's gauge adds the workers' up", async function () {
    this.timeout(30_000);
    await start({ maxConcurrentSyncs: 1, syncSlotMs: 60_000 }, 1);
    const s0 = await open(0, 1);
    const s1 = await open(1, 2);
    const r0 = await s0.next();
    assert.equal(await gauge("waiting"), 1);
    s0.ack(r0);
    await s1.next();
    await eventually("the pool's gauge to show no stream waiting", async () => ((await gauge("waiting")) === 0 ? true : undefined));
  });
});

describe("sync gate", () => {
  it("starts streams in the order they came once slots free, skipping those released while waiting", () => {
    const started: number[] = [];
    const synced = new Set<number>();
    const gate = new SyncGate({ maxConcurrentSyncs: 2, syncSlotMs: 60_000 });
    const tickets = [0, 1, 2, 3, 4].map((i) => gate.enter(() => void started.push(i), () => synced.has(i)));
    assert.deepEqual(started, [0, 1]);
    tickets[2]!.release(); // gone while waiting
    tickets[0]!.release(); // its stream ended
    assert.deepEqual(started, [0, 1, 3]);
    tickets[1]!.release();
    assert.deepEqual(started, [0, 1, 3, 4]);
    // Releasing twice frees one slot, not two.
    tickets[1]!.release();
    gate.enter(() => void started.push(5), () => false);
    gate.enter(() => void started.push(6), () => false);
    assert.deepEqual(started, [0, 1, 3, 4]);
  });
});
