import assert from "node:assert/strict";
import { ChainTracker, LatencyHistogram } from "../../src/risk/chain-latency.js";

const LDS = "lds";
const RDS = "rds";

describe("ChainTracker", () => {
  it("waits for every expected proxy, on every stream that carried the signal", () => {
    const t = new ChainTracker();
    t.expect(["s"], ["p1", "p2"], 0);
    t.pushed(["s"], "p1", LDS, "v1", "a", 10);
    t.pushed(["s"], "p1", RDS, "v1", "b", 11);
    t.pushed(["s"], "p2", LDS, "v1", "a", 12);
    assert.deepEqual(t.acked("p1", LDS, "a", 20, false).completed, []);
    assert.deepEqual(t.acked("p2", LDS, "a", 25, false).completed, [], "p1 still owes its RDS ACK");
    const done = t.acked("p1", RDS, "b", 30, false).completed;
    assert.deepEqual(done, [{ signalId: "s", proxies: 2, acked: 2, nacked: 0, firstPushUs: 10, lastAckUs: 30, timedOut: false }]);
    assert.equal(t.inFlight(), 0);
  });

  it("requires a new ACK when a confirmed proxy is pushed again before the chain completes", () => {
    const t = new ChainTracker();
    t.expect(["s"], ["p1", "p2"], 0);
    t.pushed(["s"], "p1", LDS, "v1", "a", 1);
    t.acked("p1", LDS, "a", 2, false);
    t.pushed(["s"], "p1", LDS, "v2", "b", 3);
    t.pushed(["s"], "p2", LDS, "v2", "b", 3);
    assert.deepEqual(t.acked("p2", LDS, "b", 4, false).completed, []);
    assert.equal(t.acked("p1", LDS, "b", 9, false).completed[0]?.lastAckUs, 9);
  });

  it("ignores proxies outside the affected set and pushes of untracked signals", () => {
    const t = new ChainTracker();
    t.expect(["s"], ["p1"], 0);
    assert.deepEqual(t.pushed(["other"], "p1", LDS, "v1", "x", 1), []);
    t.pushed(["s"], "extra", LDS, "v1", "a", 1);
    t.pushed(["s"], "p1", LDS, "v1", "a", 2);
    assert.deepEqual(t.acked("p1", LDS, "x", 3, false).resolved, [], "the untracked push is unknown");
    const { completed } = t.acked("p1", LDS, "a", 5, false);
    assert.equal(completed[0]?.proxies, 1);
    assert.equal(completed[0]?.lastAckUs, 5);
  });

  it("reports the cut off when the last first-phase push is confirmed, apart from the full round", () => {
    const EDS = "eds";
    const t = new ChainTracker();
    t.expect(["s"], ["p1", "p2"], 0);
    t.pushed(["s"], "p1", EDS, "v1", "a", 1, true);
    t.pushed(["s"], "p2", EDS, "v1", "a", 2, true);
    t.pushed(["s"], "p1", LDS, "v1", "b", 8);
    t.pushed(["s"], "p2", LDS, "v1", "b", 9);
    t.acked("p1", EDS, "a", 4, false);
    t.acked("p2", EDS, "a", 6, false);
    t.acked("p1", LDS, "b", 12, false);
    const done = t.acked("p2", LDS, "b", 15, false).completed;
    assert.equal(done[0]?.cutOffUs, 6, "the last ACK of a first-phase push");
    assert.equal(done[0]?.lastAckUs, 15, "the last ACK of the round");
  });

  it("has no cut off while a first-phase push is unconfirmed, even if the stream's later push was", () => {
    const EDS = "eds";
    const t = new ChainTracker();
    t.expect(["s"], ["p1", "p2"], 0);
    t.pushed(["s"], "p1", EDS, "v1", "a", 1, true);
    t.pushed(["s"], "p2", EDS, "v1", "a", 1, true);
    t.acked("p1", EDS, "a", 3, false);
    const [timedOut] = t.sweep(10);
    assert.equal(timedOut?.timedOut, true);
    assert.equal(timedOut?.cutOffUs, undefined, "p2 never confirmed its cutting push");
    const t2 = new ChainTracker();
    t2.expect(["s"], ["p1"], 0);
    t2.pushed(["s"], "p1", EDS, "v1", "a", 1, true);
    t2.pushed(["s"], "p1", EDS, "v2", "b", 2);
    // An ACK of the later response confirms the earlier one on the same stream.
    assert.equal(t2.acked("p1", EDS, "b", 7, false).completed[0]?.cutOffUs, 7);
  });

  it("times out chains older than the sweep horizon only", () => {
    const t = new ChainTracker();
    t.expect(["old"], ["p1"], 0);
    t.expect(["new"], ["p1"], 100);
    assert.deepEqual(t.sweep(50).map((c) => [c.signalId, c.timedOut, c.acked]), [["old", true, 0]]);
    assert.equal(t.inFlight(), 1);
  });
});

describe("LatencyHistogram", () => {
  it("counts cumulatively per upper bound, with le inclusive and +Inf last", () => {
    const h = new LatencyHistogram([0.1, 0.25]);
    for (const s of [0.05, 0.1, 0.2, 0.25, 0.3]) h.observe(s);
    assert.deepEqual(h.snapshot().buckets, [{ le: 0.1, count: 2 }, { le: 0.25, count: 4 }, { le: Number.POSITIVE_INFINITY, count: 5 }]);
    assert.equal(h.snapshot().count, 5);
    assert.equal(h.exposition("m", "help"), [
      "# HELP m help", "# TYPE m histogram", 'm_bucket{le="0.1"} 2', 'm_bucket{le="0.25"} 4', 'm_bucket{le="+Inf"} 5', `m_sum ${0.05 + 0.1 + 0.2 + 0.25 + 0.3}`, "m_count 5", "",
    ].join("\n"));
  });
});
