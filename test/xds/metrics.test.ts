// The Metrics layer over prom-client: the Prometheus text a scrape gets, label names declared at
// registration, one metric per name, and the refusals that catch mistakes early.
import assert from "node:assert/strict";
import { Metrics } from "../../src/telemetry/metrics.js";

describe("telemetry metrics: Prometheus text through prom-client", () => {
  it("renders counters, gauges and histograms with labels", async () => {
    const m = new Metrics();
    m.counter("x_pushes_total", "Pushes.", ["type"]).inc({ type: "cds" }, 2);
    m.counter("x_pushes_total", "Pushes.").inc({ type: "cds" });
    const g = m.gauge("x_connected", "Connected.");
    g.inc();
    g.inc();
    g.dec();
    const h = m.histogram("x_latency_seconds", "Latency.", [0.1, 1], ["type"]);
    h.observe({ type: "eds" }, 0.05);
    h.observe({ type: "eds" }, 0.5);
    h.observe({ type: "eds" }, 5);
    const text = await m.render();
    assert.match(text, /# TYPE x_pushes_total counter\nx_pushes_total\{type="cds"\} 3\n/);
    assert.match(text, /\nx_connected 1\n/);
    assert.match(text, /x_latency_seconds_bucket\{le="0.1",type="eds"\} 1\n/);
    assert.match(text, /x_latency_seconds_bucket\{le="1",type="eds"\} 2\n/);
    assert.match(text, /x_latency_seconds_bucket\{le="\+Inf",type="eds"\} 3\n/);
    assert.match(text, /x_latency_seconds_sum\{type="eds"\} 5.55\n/);
    assert.match(text, /x_latency_seconds_count\{type="eds"\} 3\n/);
    assert.equal(await m.counter("x_pushes_total", "").get({ type: "cds" }), 3);
    assert.equal(await m.counter("x_pushes_total", "").get({ type: "eds" }), 0);
    assert.equal(await h.count({ type: "eds" }), 3);
    assert.equal(await g.get(), 1);
  });

  it("escapes label values and refuses bad names, kind clashes, undeclared labels and decreasing counters", async () => {
    const m = new Metrics();
    m.counter("y_total", "Y.", ["msg"]).inc({ msg: 'a"b\\c\nd' });
    assert.match(await m.render(), /y_total\{msg="a\\"b\\\\c\\nd"\} 1/);
    assert.throws(() => m.gauge("y_total", "clash"), /already registered as a counter/);
    assert.throws(() => m.counter("bad-name", "x"), /not a valid Prometheus name/);
    assert.throws(() => m.counter("y_total", "Y.").inc({ msg: "x" }, -1), /not possible to decrease a counter/);
    assert.throws(() => m.counter("y_total", "Y.").inc({ other: "x" }), /label/i);
  });

  it("two registries keep apart, and process metrics come only when asked for", async () => {
    const a = new Metrics();
    const b = new Metrics({ processMetrics: true });
    a.counter("z_total", "Z.").inc();
    assert.doesNotMatch(await b.render(), /z_total/);
    assert.doesNotMatch(await a.render(), /process_cpu_seconds_total/);
    assert.match(await b.render(), /^process_cpu_seconds_total /m);
    assert.match(await b.render(), /^nodejs_eventloop_lag_seconds /m);
  });
});
