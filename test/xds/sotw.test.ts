// Protocol rules of xds-protocol.md §1 for state-of-the-world streams, against a raw ADS client.
// "Nothing was sent" is checked without timing: a probe request for a secret follows, and the
// next response must be the probe's (responses on a stream keep request order).
import assert from "node:assert/strict";
import { once } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { TypeUrl } from "../../src/xds/types.js";
import type { XdsAckEvent, XdsNackEvent } from "../../src/xds/server.js";
import { applyChange, changeOneOfEachType, PROBES, protocolFixture, seed, startXds } from "../support/xds-harness.js";
import { AdsClient, responseNames, sidecarNode, type SotwClientStream } from "../support/ads-client.js";

const { Cluster: CDS, ClusterLoadAssignment: EDS, Listener: LDS, RouteConfiguration: RDS, Secret: SDS } = TypeUrl;

describe("xds SotW protocol", () => {
  const f = protocolFixture();
  const probesUsed = new WeakMap<SotwClientStream, number>();


  /** Asserts that nothing was queued for the client before now. */
  async function expectQuiet(s: SotwClientStream): Promise<void> {
    const n = (probesUsed.get(s) ?? 0) + 1;
    probesUsed.set(s, n);
    s.subscribe(SDS, [...PROBES.slice(0, n)]);
    const r = await s.next();
    assert.equal(r.typeUrl, SDS, `expected only the probe response, got a ${r.typeUrl} response`);
    assert.deepEqual(responseNames(r), [`probe-${n - 1}`]);
    s.ack(r);
  }

  const change = (fn?: () => void, notify?: boolean): Promise<void> => applyChange(f.h, f.provider, fn, notify);

  async function first(s: SotwClientStream, typeUrl: string, names: string[]) {
    s.subscribe(typeUrl, names);
    const r = await s.next();
    assert.equal(r.typeUrl, typeUrl);
    return r;
  }

  it("answers the first request, parses the node, and sends nothing more after an ACK", async () => {
    const s = f.client.sotw(sidecarNode("web-1", "shop"));
    const r = await first(s, EDS, ["c1"]);
    assert.deepEqual(responseNames(r), ["c1"]);
    assert.match(r.versionInfo, new RegExp(`^${f.h.xds.epoch}-`));
    assert.ok(r.nonce !== "");
    const acked = once(f.h.xds, "ack");
    s.ack(r);
    const [ack] = (await acked) as [XdsAckEvent];
    assert.equal(ack.proxyId, "sidecar~10.0.0.1~web-1.shop~shop.svc.cluster.local");
    assert.equal(ack.version, r.versionInfo);
    assert.deepEqual(ack.names, ["c1"]);
    assert.equal(f.provider.seen.get(ack.proxyId)?.namespace, "shop");
    // A f.provider change that leaves this proxy's resources as they were sends nothing.
    await change();
    await expectQuiet(s);
    assert.equal(f.h.xds.status()[0]?.types.find((t) => t.typeUrl === EDS)?.ackedVersion, r.versionInfo);
  });

  it("after a NACK holds the rejected set until the config changes, logs and counts the NACK", async () => {
    const s = f.client.sotw(sidecarNode());
    const r = await first(s, LDS, []);
    const nacked = once(f.h.xds, "nack");
    s.nack(r, "listener l1: bad filter");
    const [nack] = (await nacked) as [XdsNackEvent];
    assert.equal(nack.error, "listener l1: bad filter");
    assert.equal(nack.version, r.versionInfo);
    assert.equal(await f.h.metrics.counter("pilot_total_xds_rejects", "").get({ type: "lds" }), 1);
    assert.ok(f.h.logs.some((l) => l.includes("NACK") && l.includes("listener l1: bad filter")), f.h.logs.join("\n"));
    assert.equal(f.h.xds.status()[0]?.types[0]?.lastNack?.error, "listener l1: bad filter");
    await change();
    await expectQuiet(s);
    // An unrelated type changing does not re-send the rejected listeners either.
    await change(() => seed(f.provider, EDS, ["c1"], "v2"));
    await change();
    await expectQuiet(s);
    await change(() => seed(f.provider, LDS, ["l1"], "fixed"));
    const next = await s.next();
    assert.equal(next.typeUrl, LDS);
    assert.deepEqual(responseNames(next).sort(), ["l1", "l2"]);
    assert.notEqual(next.versionInfo, r.versionInfo);
  });

  it("ignores a stale nonce for responses but honours its resource names", async () => {
    const s = f.client.sotw(sidecarNode());
    const r1 = await first(s, EDS, ["c1"]);
    s.ack(r1);
    await change(() => seed(f.provider, EDS, ["c1"], "v2"));
    const r2 = await s.next();
    assert.deepEqual(responseNames(r2), ["c1"]);
    const acks: XdsAckEvent[] = [];
    f.h.xds.on("ack", (e) => acks.push(e));
    // A request still echoing r1's nonce, naming c2: stale, so no answer and no ACK of anything.
    s.send({ typeUrl: EDS, resourceNames: ["c1", "c2"], versionInfo: r1.versionInfo, responseNonce: r1.nonce });
    await expectQuiet(s);
    assert.deepEqual(acks.filter((a) => a.typeUrl === EDS), []);
    // The ACK of r2 names the same list; the name from the stale request is answered now.
    s.subscribe(EDS, ["c1", "c2"]);
    s.ack(r2);
    const r3 = await s.next();
    assert.equal(r3.typeUrl, EDS);
    assert.deepEqual(responseNames(r3), ["c2"]);
    assert.equal(acks.filter((a) => a.typeUrl === EDS).length, 1);
  });

  it("honours the smaller name list of a stale-nonce request without answering it", async () => {
    const s = f.client.sotw(sidecarNode());
    const r1 = await first(s, EDS, ["c1", "c2"]);
    s.ack(r1);
    await change(() => seed(f.provider, EDS, ["c1"], "v2"));
    const r2 = await s.next();
    // Stale (echoes r1) and drops c2: not answered, but c2 is no longer watched from now on.
    s.send({ typeUrl: EDS, resourceNames: ["c1"], versionInfo: r1.versionInfo, responseNonce: r1.nonce });
    await expectQuiet(s);
    await change(() => seed(f.provider, EDS, ["c2"], "v33"));
    await expectQuiet(s);
    s.subscribe(EDS, ["c1"]);
    s.ack(r2);
    await change(() => seed(f.provider, EDS, ["c1", "c2"], "v444"));
    const r3 = await s.next();
    assert.deepEqual(responseNames(r3), ["c1"]);
  });

  it("a push answers a stale request's new names when no current request comes", async () => {
    const s = f.client.sotw(sidecarNode());
    const r1 = await first(s, CDS, ["c1"]);
    s.ack(r1);
    await change(() => seed(f.provider, CDS, ["c1"], "v2"));
    await s.next(); // r2, never ACKed
    s.send({ typeUrl: CDS, resourceNames: ["c1", "c2"], versionInfo: r1.versionInfo, responseNonce: r1.nonce });
    await expectQuiet(s);
    await change(() => seed(f.provider, EDS, ["c1"], "v33")); // another type changes: CDS is recomputed for the new name
    const r3 = await s.next();
    assert.equal(r3.typeUrl, CDS);
    assert.deepEqual(responseNames(r3).sort(), ["c1", "c2"]);
  });

  it("treats an empty first LDS/CDS request as wildcard and sends full state on every change", async () => {
    const s = f.client.sotw(sidecarNode());
    const r = await first(s, CDS, []);
    assert.deepEqual(responseNames(r).sort(), ["c1", "c2"]);
    s.ack(r); // Envoy keeps sending an empty list in its ACKs: still wildcard
    await change(() => seed(f.provider, CDS, ["c3"]));
    const added = await s.next();
    assert.deepEqual(responseNames(added).sort(), ["c1", "c2", "c3"]);
    s.ack(added);
    await change(() => f.provider.remove(CDS, "c1"));
    const removed = await s.next();
    assert.deepEqual(responseNames(removed).sort(), ["c2", "c3"], "absence from a full-state response is the deletion");
    s.ack(removed);
    await expectQuiet(s);
  });

  it("does not treat an empty first RDS/EDS request as wildcard; `*` is an explicit wildcard for any type", async () => {
    const s = f.client.sotw(sidecarNode());
    s.subscribe(RDS, []);
    await expectQuiet(s);
    const r = await first(s, EDS, ["*"]);
    assert.deepEqual(responseNames(r).sort(), ["c1", "c2"]);
    s.ack(r);
    const l = await first(s, LDS, ["*", "l1"]);
    assert.deepEqual(responseNames(l).sort(), ["l1", "l2"]);
  });

  it("an empty list after names unsubscribes all: a full-state type answers with an empty set", async () => {
    const s = f.client.sotw(sidecarNode());
    const r = await first(s, CDS, ["c1"]);
    assert.deepEqual(responseNames(r), ["c1"]);
    s.ack(r);
    const none = await first(s, CDS, []);
    assert.deepEqual(responseNames(none), []);
    s.ack(none);
    await change(() => seed(f.provider, CDS, ["c1", "c2"], "v2"));
    await expectQuiet(s);
  });

  it("sends a name again after unsubscribe and resubscribe, and names that appear later", async () => {
    const s = f.client.sotw(sidecarNode());
    const r = await first(s, EDS, ["c1", "c2", "later"]);
    assert.deepEqual(responseNames(r).sort(), ["c1", "c2"]);
    s.ack(r);
    s.subscribe(EDS, ["c1", "later"]);
    await expectQuiet(s);
    const again = await first(s, EDS, ["c1", "c2", "later"]);
    assert.deepEqual(responseNames(again), ["c2"], "unchanged c2 must be re-sent after resubscribing (gcp #1002)");
    s.ack(again);
    await change(() => seed(f.provider, EDS, ["later"]));
    const appeared = await s.next();
    assert.deepEqual(responseNames(appeared), ["later"]);
  });

  it("pushes a change in make-before-break order: CDS, EDS, LDS, RDS", async () => {
    const s = f.client.sotw(sidecarNode());
    for (const [t, names] of [[RDS, ["r1"]], [LDS, []], [EDS, ["c1"]], [CDS, []]] as const) s.ack(await first(s, t, [...names]));
    await change(() => changeOneOfEachType(f.provider));
    const order: string[] = [];
    for (let i = 0; i < 4; i++) order.push((await s.next()).typeUrl);
    assert.deepEqual(order, [CDS, EDS, LDS, RDS]);
  });

  it("pushes only to proxies a change affects", async () => {
    const a = f.client.sotw(sidecarNode("a-1", "team-a"));
    const other = new AdsClient(f.h.address);
    try {
      const b = other.sotw(sidecarNode("b-1", "team-b"));
      a.ack(await first(a, EDS, ["c1"]));
      b.ack(await first(b, EDS, ["c1"]));
      await change(() => {
        seed(f.provider, EDS, ["c1"], "v2");
        f.provider.notify({ all: false, affects: (p) => p.namespace === "team-a" });
      }, false);
      assert.deepEqual(responseNames(await a.next()), ["c1"]);
      await expectQuiet(b);
    } finally {
      other.close();
    }
  });

  it("after a server restart answers the first request even if the client echoes the old version", async () => {
    const s = f.client.sotw(sidecarNode());
    const r = await first(s, CDS, []);
    s.ack(r);
    await f.h.stop();
    const h2 = await startXds(f.provider, {}, f.h.port);
    try {
      assert.notEqual(h2.xds.epoch, f.h.xds.epoch);
      const c2 = new AdsClient(h2.address);
      const s2 = c2.sotw(sidecarNode());
      s2.send({ typeUrl: CDS, versionInfo: r.versionInfo, responseNonce: r.nonce });
      const again = await s2.next();
      assert.deepEqual(responseNames(again).sort(), ["c1", "c2"]);
      assert.notEqual(again.versionInfo, r.versionInfo);
      c2.close();
    } finally {
      await h2.stop();
    }
  });

  it("serves the per-type services, defaulting type_url and refusing another type", async () => {
    const s = f.client.sotw(sidecarNode(), "/envoy.service.listener.v3.ListenerDiscoveryService/StreamListeners");
    s.send({ resourceNames: [] });
    assert.deepEqual(responseNames(await s.next()).sort(), ["l1", "l2"]);
    s.send({ typeUrl: CDS });
    const st = await s.status;
    assert.equal(st.code, grpc.status.INVALID_ARGUMENT);
    assert.match(st.details, /type_url/);
  });

  it("refuses a stream whose node is missing or malformed, naming the field", async () => {
    const s = f.client.sotw({ id: "not-a-node-id" });
    s.send({ typeUrl: CDS });
    const st = await s.status;
    assert.equal(st.code, grpc.status.INVALID_ARGUMENT);
    assert.match(st.details, /^node: node\.id "not-a-node-id"/);
    const s2 = f.client.sotw(sidecarNode());
    s2.send({ typeUrl: CDS }, false);
    const st2 = await s2.status;
    assert.equal(st2.code, grpc.status.INVALID_ARGUMENT);
    assert.match(st2.details, /^node: missing/);
  });

  it("tracks connected proxies and reports status", async () => {
    const s = f.client.sotw(sidecarNode());
    s.ack(await first(s, CDS, []));
    const gauge = f.h.metrics.gauge("pilot_xds", "");
    assert.equal(await gauge.get(), 1);
    const [st] = f.h.xds.status();
    assert.equal(st?.protocol, "sotw");
    assert.equal(st?.service, "envoy.service.discovery.v3.AggregatedDiscoveryService");
    assert.match(st?.peer ?? "", /^(ipv4:)?127\.0\.0\.1:\d+$/);
    const gone = once(f.h.xds, "disconnect");
    s.close();
    await gone;
    assert.equal(await gauge.get(), 0);
    assert.match(await f.h.metrics.render(), /pilot_xds_pushes\{type="cds"\} 1/);
  });
  it("keeps serving when an event listener throws, and logs it", async () => {
    f.h.xds.on("push", () => {
      throw new Error("audit store down");
    });
    const s = f.client.sotw(sidecarNode());
    const r = await first(s, CDS, []);
    s.ack(r);
    await expectQuiet(s);
    assert.ok(f.h.logs.some((l) => l.includes("push listener failed: audit store down")), f.h.logs.join("\n"));
  });
  it("coalesces changes within the debounce window into one push of the latest state", async () => {
    const s = f.client.sotw(sidecarNode());
    s.ack(await first(s, EDS, ["c1"]));
    await change(() => {
      seed(f.provider, EDS, ["c1"], "v2");
      f.provider.notify({ all: true });
      seed(f.provider, EDS, ["c1"], "v3");
    });
    const r = await s.next();
    assert.deepEqual(responseNames(r), ["c1"]);
    assert.ok(Buffer.from(r.resources[0]?.value ?? []).equals(f.provider.get(EDS, "c1")?.bytes ?? new Uint8Array()), "the latest (v3) content");
    s.ack(r);
    await expectQuiet(s);
    const status = f.h.xds.status()[0]?.types.find((t) => t.typeUrl === EDS);
    assert.equal(status?.ackedVersion, r.versionInfo);
    assert.equal(await f.h.metrics.counter("pilot_xds_pushes", "").get({ type: "eds" }), 2, "initial response and one push");
  });

  it("ends a stream with INTERNAL when the provider fails, and logs why", async () => {
    const broken = f.provider.resources.bind(f.provider);
    f.provider.resources = (proxy, typeUrl) => {
      if (typeUrl === RDS) throw new Error("translator bug");
      return broken(proxy, typeUrl);
    };
    const s = f.client.sotw(sidecarNode());
    s.subscribe(RDS, ["r1"]);
    const st = await s.status;
    assert.equal(st.code, grpc.status.INTERNAL);
    assert.ok(f.h.logs.some((l) => l.includes("translator bug")), f.h.logs.join("\n"));
  });
  it("re-sends an RDS/EDS resource that disappears and comes back unchanged", async () => {
    const s = f.client.sotw(sidecarNode());
    const r = await first(s, EDS, ["c1", "c2"]);
    s.ack(r);
    const c1 = f.provider.get(EDS, "c1");
    await change(() => f.provider.remove(EDS, "c1", false));
    await expectQuiet(s); // absence is not deletion for EDS: nothing to say
    await change(() => seed(f.provider, EDS, ["c2"], "v2"));
    assert.deepEqual(responseNames(await s.next()), ["c2"]);
    await change(() => seed(f.provider, EDS, ["c1"]));
    assert.equal(f.provider.get(EDS, "c1")?.version, c1?.version);
    assert.deepEqual(responseNames(await s.next()), ["c1"]);
  });
});
