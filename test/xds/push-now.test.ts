// pushNow: an enforcement change is pushed at once instead of after the debounce, and the round
// it starts is announced ("flushing") before its first push.
import assert from "node:assert/strict";
import { TypeUrl } from "../../src/xds/types.js";
import { AdsClient, sidecarNode } from "../support/ads-client.js";
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
    h.xds.on("flushed", () => order.push("flushed"));
    provider.put(TypeUrl.Listener, "l1", resourceBytes(TypeUrl.Listener, "l1", "quarantine"));
    h.xds.pushNow();
    const r = await s.next(5_000);
    assert.equal(r.typeUrl, TypeUrl.Listener);
    assert.deepEqual(order, ["flushing", "push", "flushed"]);
    assert.equal(h.xds.proxies()[0]?.id, sidecarNode().id);
    s.close();
  });
});
