// The control plane's Prometheus metrics, through prom-client (one Registry per Metrics, so two
// control planes in one test process keep apart). Each metric declares its label names when it is
// registered; asking again for the same name returns the same metric (several servers share one
// registry). `processMetrics` adds Node's process metrics (CPU, memory, event loop, GC), as
// `meshward serve` exports them.
import { collectDefaultMetrics, Counter as PromCounter, Gauge as PromGauge, Histogram as PromHistogram, Registry } from "prom-client";

export type Labels = Readonly<Record<string, string>>;

/** The empty label set; the default everywhere. */
export const NO_LABELS: Labels = Object.freeze({});

type Kind = "counter" | "gauge" | "histogram";

/** The value a series of a counter or gauge has now (0 when it has none), for tests and the CLI. */
async function seriesValue(m: PromCounter<string> | PromGauge<string>, labels: Labels): Promise<number> {
  const keys = Object.keys(labels);
  const v = (await m.get()).values.find((x) => keys.length === Object.keys(x.labels).length && keys.every((k) => String(x.labels[k]) === labels[k]));
  return v?.value ?? 0;
}

export class Counter {
  constructor(private readonly m: PromCounter<string>) {}
  inc(labels: Labels = NO_LABELS, by = 1): void {
    this.m.inc(labels, by);
  }
  get(labels: Labels = NO_LABELS): Promise<number> {
    return seriesValue(this.m, labels);
  }
}

export class Gauge {
  constructor(private readonly m: PromGauge<string>) {}
  inc(labels: Labels = NO_LABELS, by = 1): void {
    this.m.inc(labels, by);
  }
  dec(labels: Labels = NO_LABELS, by = 1): void {
    this.m.dec(labels, by);
  }
  set(labels: Labels, value: number): void {
    this.m.set(labels, value);
  }
  get(labels: Labels = NO_LABELS): Promise<number> {
    return seriesValue(this.m, labels);
  }
}

export class Histogram {
  constructor(private readonly m: PromHistogram<string>) {}
  observe(labels: Labels, value: number): void {
    this.m.observe(labels, value);
  }
  /** Observations of a series so far. */
  async count(labels: Labels = NO_LABELS): Promise<number> {
    const keys = Object.keys(labels);
    const v = (await this.m.get()).values.find(
      (x) => x.metricName?.endsWith("_count") && keys.length === Object.keys(x.labels).length && keys.every((k) => String(x.labels[k]) === labels[k]),
    );
    return v?.value ?? 0;
  }
}

/** Prometheus' default buckets, in seconds. */
export const DEFAULT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

export interface MetricsOptions {
  /** Also export Node's process metrics (process_cpu_seconds_total, nodejs_heap_size_used_bytes, ...). */
  readonly processMetrics?: boolean;
}

export class Metrics {
  readonly registry = new Registry();
  private readonly metrics = new Map<string, { readonly kind: Kind; readonly metric: Counter | Gauge | Histogram }>();

  constructor(opts: MetricsOptions = {}) {
    if (opts.processMetrics) collectDefaultMetrics({ register: this.registry });
  }

  private getOrCreate<M extends Counter | Gauge | Histogram>(name: string, kind: Kind, make: () => M): M {
    if (!METRIC_NAME.test(name)) throw new Error(`metric name "${name}" is not a valid Prometheus name`);
    const existing = this.metrics.get(name);
    if (existing) {
      if (existing.kind !== kind) throw new Error(`metric ${name} is already registered as a ${existing.kind}`);
      return existing.metric as M;
    }
    const metric = make();
    this.metrics.set(name, { kind, metric });
    return metric;
  }

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.getOrCreate(name, "counter", () => new Counter(new PromCounter({ name, help, labelNames, registers: [this.registry] })));
  }
  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    return this.getOrCreate(name, "gauge", () => new Gauge(new PromGauge({ name, help, labelNames, registers: [this.registry] })));
  }
  histogram(name: string, help: string, buckets: readonly number[] = DEFAULT_BUCKETS, labelNames: readonly string[] = []): Histogram {
    return this.getOrCreate(name, "histogram", () => new Histogram(new PromHistogram({ name, help, labelNames, buckets: [...buckets].sort((a, b) => a - b), registers: [this.registry] })));
  }

  /** The text exposition (Prometheus 0.0.4). */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
