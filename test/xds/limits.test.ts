// Per-stream limits (issue 15 item 7), against the real server with raw clients: the cap on
// subscribed names, a proxy that stops reading (held back from push rounds, then given only the
// latest versions, and dropped if it stays stuck or its queue grows past the limit), and the
// bound on requests sent before admission.
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { TypeUrl } from "../../src/xds/types.js";
import { ListenerSchema } from "../../src/gen/envoy/config/listener/v3/listener_pb.js";
import { DEFAULT_STREAM_LIMITS, type StreamLimits } from "../../src/xds/limits.js";
import { AdsClient, sidecarNode } from "../support/ads-client.js";
import { MemoryProvider } from "../support/memory-provider.js";
import { applyChange, startXds, type Harness } from "../support/xds-harness.js";
import { eventually } from "../support/eventually.js";

/** A listener of about `kb` KiB whose content names `variant`. */
function bigListener(name: string, variant: string, kb: number): Uint8Array {
  return toBinary(ListenerSchema, create(ListenerSchema, { name, statPrefix: `${variant}:${"x".repeat(kb * 1024)}` }));
}

function variantOf(bytes: Uint8Array): string {
  return fromBinary(ListenerSchema, bytes).statPrefix.split(":")[0] ?? "";
}

describe("xds server: per-stream limits", () => {
  let h: Harness;
  let ads: AdsClient;
  let provider: MemoryProvider;

  async function start(limits: Partial<StreamLimits>): Promise<void> {
    provider = new MemoryProvider();
    provider.put(TypeUrl.Listener, "big", bigListener("big", "v0", 256), false);
    h = await startXds(provider, { limits });
    ads = new AdsClient(h.address);
  }

  afterEach(async () => {
    ads.close();
    await h.stop();
  });

  it("ends a delta stream subscribing 500,000 names at the per-stream cap, naming the cap", async function () {
    this.timeout(60_000);
    await start({});
    const s = ads.delta(sidecarNode());
    const batch = 25_000;
    for (let i = 0; i < 500_000 / batch; i++) {
      s.send({ typeUrl: TypeUrl.ClusterLoadAssignment, resourceNamesSubscribe: Array.from({ length: batch }, (_, k) => `invented-${i * batch + k}`) });
    }
    const status = await s.status;
    assert.equal(status.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(status.details, new RegExp(`exceed the limit of ${DEFAULT_STREAM_LIMITS.maxNamesPerStream} per stream \\(maxNamesPerStream\\)`));
    assert.match(status.details, /^eds subscription: 75000 resource names/);
    await eventually("the stream's state to be released", () => (h.xds.proxies().length === 0 ? true : undefined));
  });

  it("ends a SotW stream whose request lists more names than the cap", async () => {
    await start({ maxNamesPerStream: 100 });
    const s = ads.sotw(sidecarNode());
    s.subscribe(TypeUrl.ClusterLoadAssignment, Array.from({ length: 60 }, (_, k) => `c${k}`));
    s.subscribe(TypeUrl.RouteConfiguration, Array.from({ length: 40 }, (_, k) => `r${k}`));
    // Replacing a type's list counts the new list, not old plus new: 100 names, at the cap.
    s.subscribe(TypeUrl.RouteConfiguration, Array.from({ length: 40 }, (_, k) => `r${k + 40}`));
    s.subscribe(TypeUrl.Listener, ["l1"]);
    const status = await s.status;
    assert.equal(status.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(status.details, /^lds subscription: 101 resource names on this stream exceed the limit of 100 per stream/);
  });

  it("holds pushes back from a proxy that stops reading and then sends it only the latest version", async function () {
    this.timeout(30_000);
    await start({ holdPushesAboveBytes: 64 * 1024, slowReaderTimeoutMs: 60_000 });
    const s = ads.sotw(sidecarNode());
    s.subscribe(TypeUrl.Listener, []);
    s.ack(await s.next());
    const streamId = h.xds.status()[0]?.streamId;
    let pushes = 0;
    h.xds.on("push", (e) => void (e.streamId === streamId && pushes++));
    s.pause();
    // grpc-js buffers 16 messages for a caller that does not read before it stops taking data.
    const changes = 60;
    for (let v = 1; v <= changes; v++) await applyChange(h, provider, () => provider.put(TypeUrl.Listener, "big", bigListener("big", `v${v}`, 256), false));
    assert.ok(pushes < changes / 2, `${pushes} of ${changes} versions were written to a proxy that was not reading`);
    s.resume();
    const seen: string[] = [];
    for (;;) {
      const r = await s.next(10_000);
      const variant = variantOf(r.resources[0]!.value);
      seen.push(variant);
      s.ack(r);
      if (variant === `v${changes}`) break;
    }
    assert.ok(seen.length <= pushes, `received ${seen.join(",")}`);
    assert.ok(seen.length < changes, `received every version: ${seen.join(",")}`);
    await eventually("the latest version to be ACKed with nothing more pending", () => {
      const t = h.xds.status()[0]?.types[0];
      return t !== undefined && !t.pending && t.ackedVersion === t.sentVersion ? true : undefined;
    });
  });

  it("drops a proxy that stays stuck while a push waits for it, with the limit in the status", async function () {
    this.timeout(30_000);
    await start({ holdPushesAboveBytes: 64 * 1024, slowReaderTimeoutMs: 500 });
    const s = ads.sotw(sidecarNode());
    s.subscribe(TypeUrl.Listener, []);
    s.ack(await s.next());
    s.pause();
    let disconnected = false;
    h.xds.once("disconnect", () => (disconnected = true));
    // grpc-js buffers 16 messages for a caller that does not read before it stops taking data.
    for (let v = 1; v <= 40 && !disconnected; v++) await applyChange(h, provider, () => provider.put(TypeUrl.Listener, "big", bigListener("big", `v${v}`, 256), false));
    await eventually("the stuck proxy to be dropped", () => (disconnected ? true : undefined));
    assert.deepEqual(h.xds.proxies(), []);
    assert.ok(h.logs.some((l) => /dropped: stream dropped: .*\(slowReaderTimeoutMs\)/.test(l)), h.logs.join("\n"));
    s.resume();
    const status = await s.status;
    assert.equal(status.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(status.details, /slowReaderTimeoutMs/);
  });

  it("drops a proxy whose queued responses pass the per-stream byte limit", async function () {
    this.timeout(30_000);
    await start({ holdPushesAboveBytes: 64 * 1024, maxQueuedBytesPerStream: 700 * 1024 });
    // Answers to its own requests are never held back: a proxy asking while not reading fills its queue.
    for (let k = 0; k < 4; k++) provider.put(TypeUrl.Listener, `big-${k}`, bigListener(`big-${k}`, "v0", 256), false);
    const s = ads.sotw(sidecarNode());
    s.pause();
    for (let k = 0; k < 4; k++) s.subscribe(TypeUrl.Listener, Array.from({ length: k + 1 }, (_, i) => `big-${i}`));
    await eventually("the queue limit to drop the stream", () => (h.logs.some((l) => /exceed the limit of 716800 per stream \(maxQueuedBytesPerStream\)/.test(l)) ? true : undefined));
    await eventually("the stream's state to be released", () => (h.xds.proxies().length === 0 ? true : undefined));
  });

  it("refuses a stream that sends more than 16 requests before it is admitted", async () => {
    let admitted: () => void = () => undefined;
    provider = new MemoryProvider();
    h = await startXds(provider, { admit: () => new Promise<void>((resolve) => (admitted = resolve)) });
    ads = new AdsClient(h.address);
    const s = ads.sotw(sidecarNode());
    for (let i = 0; i < 17; i++) s.subscribe(TypeUrl.Listener, [`l${i}`]);
    const status = await s.status;
    admitted();
    assert.equal(status.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(status.details, /more than 16 requests before the stream was admitted/);
  });
});
