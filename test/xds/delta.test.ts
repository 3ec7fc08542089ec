// Protocol rules of xds-protocol.md §1 for delta (incremental) streams, against a raw ADS client.
// "Nothing was sent" is checked with a probe subscription whose response must come next.
import assert from "node:assert/strict";
import { once } from "node:events";
import type { DeltaDiscoveryResponse } from "../../src/gen/envoy/service/discovery/v3/discovery_pb.js";
import { TypeUrl } from "../../src/xds/types.js";
import type { XdsAckEvent, XdsNackEvent } from "../../src/xds/server.js";
import { applyChange, changeOneOfEachType, protocolFixture, seed, startXds } from "../support/xds-harness.js";
import { AdsClient, resourceName, sidecarNode, type DeltaClientStream } from "../support/ads-client.js";

const { Cluster: CDS, ClusterLoadAssignment: EDS, Listener: LDS, RouteConfiguration: RDS, Secret: SDS } = TypeUrl;

function sent(r: DeltaDiscoveryResponse): string[] {
  return r.resources.map((x) => {
    assert.ok(x.resource, `resource ${x.name} has no body`);
    assert.equal(resourceName(x.resource), x.name, "Resource.name matches the packed resource");
    return x.name;
  }).sort();
}

describe("xds delta protocol", () => {
  const f = protocolFixture();
  const probesUsed = new WeakMap<DeltaClientStream, number>();


  async function expectQuiet(s: DeltaClientStream): Promise<void> {
    const n = probesUsed.get(s) ?? 0;
    probesUsed.set(s, n + 1);
    s.send({ typeUrl: SDS, resourceNamesSubscribe: [`probe-${n}`] });
    const r = await s.next();
    assert.equal(r.typeUrl, SDS, `expected only the probe response, got a ${r.typeUrl} response`);
    assert.deepEqual(sent(r), [`probe-${n}`]);
    s.ack(r);
  }

  const change = (fn?: () => void, notify?: boolean): Promise<void> => applyChange(f.h, f.provider, fn, notify);

  async function subscribe(s: DeltaClientStream, typeUrl: string, names: string[], unsubscribe: string[] = []) {
    s.send({ typeUrl, resourceNamesSubscribe: names, resourceNamesUnsubscribe: unsubscribe });
    const r = await s.next();
    assert.equal(r.typeUrl, typeUrl);
    return r;
  }

  it("sends subscribed resources with content versions and reports nonexistent names as removed", async () => {
    const s = f.client.delta(sidecarNode());
    const r = await subscribe(s, EDS, ["c1", "missing"]);
    assert.deepEqual(sent(r), ["c1"]);
    assert.equal(r.resources[0]?.version, f.provider.get(EDS, "c1")?.version);
    assert.deepEqual(r.removedResources, ["missing"]);
    assert.match(r.systemVersionInfo, new RegExp(`^${f.h.xds.epoch}-`));
    s.ack(r);
    await change(() => seed(f.provider, EDS, ["missing"]));
    assert.deepEqual(sent(await s.next()), ["missing"], "a name that appears later is pushed");
  });

  it("sends nothing after an ACK unless a resource changes, then only that resource", async () => {
    const s = f.client.delta(sidecarNode());
    const r = await subscribe(s, EDS, ["c1", "c2"]);
    assert.deepEqual(sent(r), ["c1", "c2"]);
    s.ack(r);
    await change();
    await expectQuiet(s);
    await change(() => seed(f.provider, EDS, ["c2"], "v2"));
    const r2 = await s.next();
    assert.deepEqual(sent(r2), ["c2"]);
    assert.deepEqual(r2.removedResources, []);
  });

  it("after a NACK does not re-send until the resource changes", async () => {
    const s = f.client.delta(sidecarNode());
    const r = await subscribe(s, LDS, ["l1"]);
    const nacked = once(f.h.xds, "nack");
    s.nack(r, "l1 rejected");
    const [nack] = (await nacked) as [XdsNackEvent];
    assert.deepEqual([nack.error, nack.names], ["l1 rejected", ["l1"]]);
    assert.equal(await f.h.metrics.counter("pilot_total_xds_rejects", "").get({ type: "lds" }), 1);
    await change();
    await expectQuiet(s);
    await change(() => seed(f.provider, LDS, ["l1"], "fixed"));
    assert.deepEqual(sent(await s.next()), ["l1"]);
  });

  it("reports deleted resources in removed_resources, and sends them again when they return", async () => {
    const s = f.client.delta(sidecarNode());
    s.ack(await subscribe(s, CDS, ["c1", "c2"]));
    await change(() => f.provider.remove(CDS, "c2", false));
    const r = await s.next();
    assert.deepEqual(sent(r), []);
    assert.deepEqual(r.removedResources, ["c2"]);
    s.ack(r);
    await change(() => seed(f.provider, CDS, ["c2"]));
    const back = await s.next();
    assert.deepEqual(sent(back), ["c2"]);
    assert.deepEqual(back.removedResources, []);
  });

  it("treats an empty first LDS/CDS request as wildcard, and `*` as wildcard for any type", async () => {
    const s = f.client.delta(sidecarNode());
    const r = await subscribe(s, CDS, []);
    assert.deepEqual(sent(r), ["c1", "c2"]);
    s.ack(r);
    await change(() => seed(f.provider, CDS, ["c3"]));
    assert.deepEqual(sent(await s.next()), ["c3"]);
    const e = await subscribe(s, EDS, ["*"]);
    assert.deepEqual(sent(e), ["c1", "c2"]);
    s.send({ typeUrl: RDS });
    await expectQuiet(s); // an empty first RDS request is not a wildcard
  });

  it("needs no reply to an unsubscribe, re-sends on resubscribe, and answers unsubscribing a name still under `*`", async () => {
    const s = f.client.delta(sidecarNode());
    s.ack(await subscribe(s, EDS, ["c1", "c2"]));
    s.send({ typeUrl: EDS, resourceNamesUnsubscribe: ["c2"] });
    await expectQuiet(s);
    await change(() => seed(f.provider, EDS, ["c2"], "v2"));
    await expectQuiet(s); // c2 is no longer watched
    const again = await subscribe(s, EDS, ["c1"]);
    assert.deepEqual(sent(again), ["c1"], "an explicit subscribe is always answered, even for a name the client holds");
    s.ack(again);
    s.ack(await subscribe(s, EDS, ["*"]));
    const still = await subscribe(s, EDS, [], ["c1"]);
    assert.deepEqual(sent(still), ["c1"], "c1 is still covered by the wildcard");
  });

  it("does not answer a stale-nonce request but honours its subscriptions on the next current request", async () => {
    const s = f.client.delta(sidecarNode());
    const r1 = await subscribe(s, EDS, ["c1"]);
    s.ack(r1);
    await change(() => seed(f.provider, EDS, ["c1"], "v2"));
    const r2 = await s.next();
    assert.notEqual(r2.nonce, r1.nonce);
    const acks: string[] = [];
    f.h.xds.on("ack", (e: XdsAckEvent) => {
      if (e.typeUrl === EDS) acks.push(e.nonce);
    });
    // Still echoing r1's nonce while r2 is in flight: stale, so no response and no ACK.
    s.send({ typeUrl: EDS, responseNonce: r1.nonce, resourceNamesSubscribe: ["c2"] });
    await expectQuiet(s);
    assert.deepEqual(acks, []);
    // The ACK of r2 carries no subscription change (delta never repeats one); c2 is answered now.
    s.ack(r2);
    const r3 = await s.next();
    assert.equal(r3.typeUrl, EDS);
    assert.deepEqual(sent(r3), ["c2"]);
    assert.deepEqual(acks, [r2.nonce]);
  });

  it("honours an unsubscribe carried by a stale-nonce request", async () => {
    const s = f.client.delta(sidecarNode());
    const r1 = await subscribe(s, EDS, ["c1", "c2"]);
    s.ack(r1);
    await change(() => seed(f.provider, EDS, ["c1"], "v2"));
    const r2 = await s.next();
    s.send({ typeUrl: EDS, responseNonce: r1.nonce, resourceNamesUnsubscribe: ["c2"] });
    await expectQuiet(s);
    s.ack(r2);
    await change(() => seed(f.provider, EDS, ["c2"], "v33"));
    await expectQuiet(s); // c2 is no longer watched
    await change(() => seed(f.provider, EDS, ["c1"], "v444"));
    assert.deepEqual(sent(await s.next()), ["c1"]);
  });

  it("a push answers a stale request's subscription when no current request comes", async () => {
    const s = f.client.delta(sidecarNode());
    const r1 = await subscribe(s, EDS, ["c1"]);
    s.ack(r1);
    await change(() => seed(f.provider, EDS, ["c1"], "v2"));
    await s.next(); // r2, never ACKed
    s.send({ typeUrl: EDS, responseNonce: r1.nonce, resourceNamesSubscribe: ["c2"] });
    await expectQuiet(s);
    await change(() => seed(f.provider, EDS, ["c1"], "v33"));
    assert.deepEqual(sent(await s.next()), ["c1", "c2"]);
  });

  it("pushes in make-before-break order: CDS, EDS, LDS, RDS", async () => {
    const s = f.client.delta(sidecarNode());
    for (const [t, names] of [[RDS, ["r1"]], [LDS, ["l1"]], [EDS, ["c1"]], [CDS, ["c1"]]] as const) s.ack(await subscribe(s, t, [...names]));
    await change(() => changeOneOfEachType(f.provider));
    const order: string[] = [];
    for (let i = 0; i < 4; i++) order.push((await s.next()).typeUrl);
    assert.deepEqual(order, [CDS, EDS, LDS, RDS]);
  });

  describe("reconnect to a restarted server with initial_resource_versions", () => {
    async function holdings(): Promise<Record<string, string>> {
      const s = f.client.delta(sidecarNode());
      const r = await subscribe(s, CDS, ["*"]);
      s.ack(r);
      const versions = Object.fromEntries(r.resources.map((x) => [x.name, x.version]));
      await f.h.stop();
      return versions;
    }

    it("re-sends nothing the client already holds", async () => {
      const versions = await holdings();
      const h2 = await startXds(f.provider, {}, f.h.port);
      const c2 = new AdsClient(h2.address);
      try {
        const s = c2.delta(sidecarNode());
        s.send({ typeUrl: CDS, resourceNamesSubscribe: ["*"], initialResourceVersions: versions });
        await expectQuiet(s);
        assert.equal(h2.xds.status()[0]?.types.find((t) => t.typeUrl === CDS)?.resources, 2);
      } finally {
        c2.close();
        await h2.stop();
      }
    });

    it("re-sends what changed and removes what is gone", async () => {
      const versions = await holdings();
      seed(f.provider, CDS, ["c1"], "v2");
      f.provider.remove(CDS, "c2", false);
      seed(f.provider, CDS, ["c3"]);
      const h2 = await startXds(f.provider, {}, f.h.port);
      const c2 = new AdsClient(h2.address);
      try {
        const s = c2.delta(sidecarNode());
        s.send({ typeUrl: CDS, resourceNamesSubscribe: ["*"], initialResourceVersions: versions });
        const r = await s.next();
        assert.deepEqual(sent(r), ["c1", "c3"]);
        assert.deepEqual(r.removedResources, ["c2"]);
        assert.equal(r.resources.find((x) => x.name === "c1")?.version, f.provider.get(CDS, "c1")?.version);
      } finally {
        c2.close();
        await h2.stop();
      }
    });

    it("with explicit names: unchanged ones are not re-sent, a removed one is reported", async () => {
      const s0 = f.client.delta(sidecarNode());
      const r0 = await subscribe(s0, EDS, ["c1", "c2"]);
      const versions = Object.fromEntries(r0.resources.map((x) => [x.name, x.version]));
      await f.h.stop();
      f.provider.remove(EDS, "c2", false);
      const h2 = await startXds(f.provider, {}, f.h.port);
      const c2 = new AdsClient(h2.address);
      try {
        const s = c2.delta(sidecarNode());
        s.send({ typeUrl: EDS, resourceNamesSubscribe: ["c1", "c2"], initialResourceVersions: versions });
        const r = await s.next();
        assert.deepEqual(sent(r), []);
        assert.deepEqual(r.removedResources, ["c2"]);
      } finally {
        c2.close();
        await h2.stop();
      }
    });
  });

  it("serves the per-type delta services", async () => {
    const s = f.client.delta(sidecarNode(), "/envoy.service.cluster.v3.ClusterDiscoveryService/DeltaClusters");
    s.send({ resourceNamesSubscribe: ["c2"] });
    const r = await s.next();
    assert.equal(r.typeUrl, CDS);
    assert.deepEqual(sent(r), ["c2"]);
    assert.equal(f.h.xds.status()[0]?.protocol, "delta");
  });
});
