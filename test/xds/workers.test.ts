// Stream workers (src/xds/workers/): the ledger both processes keep, and a pool of real worker
// processes serving real gRPC clients: connections spread over the workers, every resource's
// bytes cross once per worker and are dropped when the last proxy using them leaves, event times
// are on the main process's clock, CSDS status stays exact, and a provider failure ends the stream.
// The protocol suites themselves run against a pool with `npm run test:xds-workers`.
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { ReplicaLedger } from "../../src/xds/workers/ledger.js";
import { XdsWorkerPool } from "../../src/xds/workers/pool.js";
import { TypeUrl } from "../../src/xds/types.js";
import type { XdsAckEvent, XdsPushEvent } from "../../src/xds/server.js";
import { sameShape, statusAfter, type ProxyStatus, type XdsEvent } from "../../src/xds/events.js";
import { MemoryProvider } from "../support/memory-provider.js";
import { seed, startXds, type Harness } from "../support/xds-harness.js";
import { AdsClient, responseNames, sidecarNode, type SotwClientStream } from "../support/ads-client.js";
import { eventually } from "../support/eventually.js";

const CDS = TypeUrl.Cluster;
const EDS = TypeUrl.ClusterLoadAssignment;

describe("xds stream workers: the replica ledger", () => {
  it("holds a map while a proxy uses it and drops it, with the resources only it held, when the last one leaves", () => {
    const l = new ReplicaLedger<string>();
    l.addResource(1, "a");
    l.addResource(2, "b");
    l.addMap(10, [1, 2]);
    assert.deepEqual(l.setMap(100, EDS, 10), { maps: [], resources: [] });
    assert.deepEqual(l.setMap(101, EDS, 10), { maps: [], resources: [] });
    l.addResource(3, "c");
    l.addMap(11, [1, 3]);
    // Proxy 100 moves to map 11: map 10 is still used by 101.
    assert.deepEqual(l.setMap(100, EDS, 11), { maps: [], resources: [] });
    assert.deepEqual(l.dropProxy(101), { maps: [10], resources: [2] });
    assert.deepEqual(l.counts(), { proxies: 1, maps: 1, resources: 2 });
    assert.deepEqual(l.dropProxy(100), { maps: [11], resources: [1, 3] });
    assert.deepEqual(l.counts(), { proxies: 0, maps: 0, resources: 0 });
  });

  it("refuses a map naming a resource it does not hold, and a resource or map sent twice", () => {
    const l = new ReplicaLedger<string>();
    assert.throws(() => l.addMap(1, [7]), /map 1 names resource 7, which is not held/);
    l.addResource(7, "x");
    assert.throws(() => l.addResource(7, "x"), /resource 7 sent twice/);
    l.addMap(1, [7]);
    assert.throws(() => l.addMap(1, [7]), /map 1 sent twice/);
    assert.throws(() => l.setMap(5, CDS, 2), /map 2 is not held/);
  });
});

describe("xds stream workers: the status mirror", function () {
  this.timeout(30_000);
  it("derives from each push, ACK and NACK exactly the status the stream reports, whenever the worker sends no status", async () => {
    // Against the single-thread server's own streams: the pool relies on statusAfter matching
    // what stream.status() says after each event whose status has the same shape.
    const provider = new MemoryProvider();
    seed(provider, EDS, ["c1", "c2"]);
    const h = await startXds(provider, { workers: 0 });
    const client = new AdsClient(h.address);
    let prev: ProxyStatus | undefined;
    let followed = 0;
    let reshaped = 0;
    const check = (e: XdsEvent): void => {
      const next = h.xds.status()[0];
      assert.ok(next !== undefined);
      if (prev !== undefined && sameShape(prev, next)) {
        assert.deepEqual(statusAfter(prev, e), next, `after ${e.kind} ${e.nonce}`);
        followed++;
      } else reshaped++;
      prev = next;
    };
    for (const k of ["push", "ack", "nack"] as const) h.xds.on(k, check);
    try {
      const s = client.sotw(sidecarNode("pod-a", "default", "10.0.0.9"));
      s.subscribe(EDS, ["c1", "c2"]);
      s.ack(await s.next());
      await eventually("the first ACK", () => h.xds.status()[0]?.types[0]?.pending === false || undefined);
      seed(provider, EDS, ["c1"], "v2");
      provider.notify({ all: true });
      s.ack(await s.next());
      await eventually("the second ACK", () => h.xds.status()[0]?.types[0]?.pending === false || undefined);
      seed(provider, EDS, ["c2"], "v3");
      provider.notify({ all: true });
      s.nack(await s.next(), "rejected on purpose");
      await eventually("the NACK", () => h.xds.status()[0]?.types[0]?.lastNack !== undefined || undefined);
      s.close();
    } finally {
      client.close();
      await h.stop();
    }
    // The same-shape pushes and ACKs of the changes were followed; the first push, and the NACK, reshaped it.
    assert.ok(followed >= 3, `followed ${followed}`);
    assert.ok(reshaped >= 2, `reshaped ${reshaped}`);
  });
});

describe("xds stream workers: a pool of two", function () {
  this.timeout(60_000);
  let provider: MemoryProvider;
  let h: Harness;
  let client: AdsClient;

  beforeEach(async () => {
    provider = new MemoryProvider();
    seed(provider, CDS, ["c1", "c2"]);
    seed(provider, EDS, ["c1", "c2"]);
    h = await startXds(provider, { workers: 2 });
    client = new AdsClient(h.address);
  });
  afterEach(async () => {
    client.close();
    await h.stop();
  });

  const pool = (): XdsWorkerPool => {
    assert.ok(h.xds instanceof XdsWorkerPool);
    return h.xds;
  };

  async function synced(pod: string): Promise<SotwClientStream> {
    const s = client.sotw(sidecarNode(pod, "default", `10.0.0.${pod.length}`));
    s.subscribe(EDS, ["c1", "c2"]);
    const r = await s.next();
    assert.deepEqual(responseNames(r).sort(), ["c1", "c2"]);
    s.ack(r);
    return s;
  }

  it("spreads connections over both workers and sends a shared resource's bytes once to each", async () => {
    // One gRPC connection per client: four clients, four connections, handed out in turn.
    const clients = Array.from({ length: 4 }, () => new AdsClient(h.address));
    const streams: SotwClientStream[] = [];
    try {
      for (const [i, c] of clients.entries()) {
        const s = c.sotw(sidecarNode(`pod-${i}`));
        streams.push(s);
        s.subscribe(EDS, ["c1"]);
        s.ack(await s.next());
      }
      await eventually("four streams connected", () => h.xds.status().length === 4 || undefined);
      // Stream ids are n * workers + worker index: both workers serve streams.
      assert.deepEqual(new Set(h.xds.status().map((st) => st.streamId % 2)), new Set([0, 1]));
      const held = await pool().held();
      assert.equal(held.length, 2);
      for (const { main, worker } of held) {
        assert.deepEqual(worker, main);
        assert.equal(worker.proxies, 2);
        // Both proxies of a worker share every map, so each of the 4 EDS/CDS resources is held once.
        assert.equal(worker.resources, 4);
      }
    } finally {
      for (const s of streams) s.close();
      for (const c of clients) c.close();
    }
    await eventually("both workers to drop everything", async () => {
      for (const { main, worker } of await pool().held()) {
        assert.deepEqual(worker, { proxies: 0, maps: 0, resources: 0 });
        assert.deepEqual(main, worker);
      }
      return true;
    });
  });

  it("reports pushes and ACKs on the main process's clock, and keeps the stream status exact", async () => {
    const pushes: XdsPushEvent[] = [];
    const acks: XdsAckEvent[] = [];
    h.xds.on("push", (e) => pushes.push(e));
    h.xds.on("ack", (e) => acks.push(e));
    const before = performance.now();
    const s = await synced("pod-a");
    await eventually("the ACK", () => acks.length === 1 || undefined);
    const after = performance.now();
    const [push] = pushes;
    const [ack] = acks;
    assert.ok(push !== undefined && ack !== undefined);
    assert.ok(before <= push.timeMs && push.timeMs <= ack.timeMs && ack.timeMs <= after, `${before} <= ${push.timeMs} <= ${ack.timeMs} <= ${after}`);
    assert.equal(ack.nonce, push.nonce);
    assert.equal(ack.streamId, push.streamId);
    const [st] = h.xds.status();
    const eds = st?.types.find((t) => t.typeUrl === EDS);
    assert.equal(eds?.ackedVersion, push.version);
    assert.equal(eds?.pending, false);
    // A change: the new version is pushed and, once ACKed, shown as acked.
    const pushed = new Promise<XdsPushEvent>((resolve) => h.xds.once("push", resolve));
    seed(provider, EDS, ["c2"], "v2");
    provider.notify({ all: true });
    const r = await s.next();
    assert.deepEqual(responseNames(r), ["c2"]);
    assert.equal((await pushed).version, r.versionInfo);
    s.ack(r);
    await eventually("the new version acked in the status", () => h.xds.status()[0]?.types.find((t) => t.typeUrl === EDS)?.ackedVersion === r.versionInfo || undefined);
  });

  it("refuses a stream with INTERNAL when its resources cannot be computed, and logs why", async () => {
    const broken = provider.resources.bind(provider);
    provider.resources = (proxy, typeUrl) => {
      if (proxy.podName === "doomed") throw new Error("translator bug");
      return broken(proxy, typeUrl);
    };
    const s = client.sotw(sidecarNode("doomed"));
    s.subscribe(CDS, []);
    const st = await s.status;
    assert.equal(st.code, grpc.status.INTERNAL);
    assert.ok(h.logs.some((l) => l.includes("translator bug")), h.logs.join("\n"));
    // Others are served.
    await synced("pod-b");
    for (const { main, worker } of await pool().held()) assert.deepEqual(worker, main);
  });
});
