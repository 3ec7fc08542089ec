import assert from "node:assert/strict";
import { Metrics } from "../../src/telemetry/metrics.js";

describe("telemetry metrics: Prometheus text", () => {
  it("renders counters, gauges and histograms with labels", () => {
    const m = new Metrics();
    m.counter("x_pushes_total", "Pushes.").inc({ type: "cds" }, 2);
    m.counter("x_pushes_total", "Pushes.").inc({ type: "cds" });
    const g = m.gauge("x_connected", "Connected.");
    g.inc();
    g.inc();
    g.dec();
    const h = m.histogram("x_latency_seconds", "Latency.", [0.1, 1]);
    h.observe({ type: "eds" }, 0.05);
    h.observe({ type: "eds" }, 0.5);
    h.observe({ type: "eds" }, 5);
    const text = m.render();
    assert.match(text, /# TYPE x_pushes_total counter\nx_pushes_total\{type="cds"\} 3\n/);
    assert.match(text, /\nx_connected 1\n/);
    assert.match(text, /x_latency_seconds_bucket\{type="eds",le="0.1"\} 1\n/);
    assert.match(text, /x_latency_seconds_bucket\{type="eds",le="1"\} 2\n/);
    assert.match(text, /x_latency_seconds_bucket\{type="eds",le="\+Inf"\} 3\n/);
    assert.match(text, /x_latency_seconds_sum\{type="eds"\} 5.55\n/);
    assert.match(text, /x_latency_seconds_count\{type="eds"\} 3\n/);
  });

  it("escapes label values and refuses bad names, kind clashes and decreasing counters", () => {
    const m = new Metrics();
    m.counter("y_total", "Y.").inc({ msg: 'a"b\\c\nd' });
    assert.match(m.render(), /y_total\{msg="a\\"b\\\\c\\nd"\} 1/);
    assert.throws(() => m.gauge("y_total", "clash"), /already registered as a counter/);
    assert.throws(() => m.counter("bad-name", "x"), /not a valid Prometheus name/);
    assert.throws(() => m.counter("y_total", "Y.").inc({}, -1), /cannot decrease/);
  });
});
