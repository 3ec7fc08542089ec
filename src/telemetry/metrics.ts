// A tiny Prometheus text-format registry (exposition format 0.0.4): counters, gauges and
// histograms with labels. Dependency-free on purpose: the control plane exports a handful of series.

export type Labels = Readonly<Record<string, string>>;

/** The empty label set; the default everywhere, so unlabelled series do not allocate. */
export const NO_LABELS: Labels = Object.freeze({});

function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function renderLabels(labels: Labels, extra?: [string, string]): string {
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k}="${escapeLabelValue(labels[k] ?? "")}"`);
  if (extra) parts.push(`${extra[0]}="${escapeLabelValue(extra[1])}"`);
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

// Callers usually pass the same label objects again (e.g. one per xDS type), so keys are cached
// per object; label objects are treated as immutable.
const labelKeys = new WeakMap<Labels, string>();

function labelKey(labels: Labels): string {
  let key = labelKeys.get(labels);
  if (key === undefined) {
    key = renderLabels(labels);
    labelKeys.set(labels, key);
  }
  return key;
}

function formatNumber(n: number): string {
  if (n === Infinity) return "+Inf";
  if (n === -Infinity) return "-Inf";
  return Number.isNaN(n) ? "NaN" : String(n);
}

abstract class Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly kind: "counter" | "gauge" | "histogram",
  ) {}
  protected abstract samples(): string[];
  render(): string {
    const head = [`# HELP ${this.name} ${this.help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`, `# TYPE ${this.name} ${this.kind}`];
    return head.concat(this.samples()).join("\n");
  }
}

class LabelledValues extends Metric {
  protected readonly values = new Map<string, { labels: Labels; value: number }>();
  protected add(labels: Labels, delta: number): void {
    const key = labelKey(labels);
    const cur = this.values.get(key);
    if (cur) cur.value += delta;
    else this.values.set(key, { labels: { ...labels }, value: delta });
  }
  get(labels: Labels = NO_LABELS): number {
    return this.values.get(labelKey(labels))?.value ?? 0;
  }
  protected samples(): string[] {
    return [...this.values.values()].map((v) => `${this.name}${renderLabels(v.labels)} ${formatNumber(v.value)}`);
  }
}

export class Counter extends LabelledValues {
  inc(labels: Labels = NO_LABELS, by = 1): void {
    if (by < 0) throw new Error(`counter ${this.name}: cannot decrease (by ${by})`);
    this.add(labels, by);
  }
}

export class Gauge extends LabelledValues {
  inc(labels: Labels = NO_LABELS, by = 1): void {
    this.add(labels, by);
  }
  dec(labels: Labels = NO_LABELS, by = 1): void {
    this.add(labels, -by);
  }
  set(labels: Labels, value: number): void {
    this.add(labels, value - this.get(labels));
  }
}

interface HistogramSeries {
  readonly labels: Labels;
  readonly counts: number[];
  sum: number;
  count: number;
}

export class Histogram extends Metric {
  private readonly series = new Map<string, HistogramSeries>();
  constructor(
    name: string,
    help: string,
    readonly buckets: readonly number[],
  ) {
    super(name, help, "histogram");
  }
  observe(labels: Labels, value: number): void {
    const key = labelKey(labels);
    let s = this.series.get(key);
    if (!s) {
      s = { labels: { ...labels }, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= (this.buckets[i] ?? Infinity)) s.counts[i]!++;
    s.sum += value;
    s.count++;
  }
  count(labels: Labels = NO_LABELS): number {
    return this.series.get(labelKey(labels))?.count ?? 0;
  }
  protected samples(): string[] {
    const out: string[] = [];
    for (const s of this.series.values()) {
      this.buckets.forEach((b, i) => out.push(`${this.name}_bucket${renderLabels(s.labels, ["le", formatNumber(b)])} ${s.counts[i]}`));
      out.push(`${this.name}_bucket${renderLabels(s.labels, ["le", "+Inf"])} ${s.count}`);
      out.push(`${this.name}_sum${renderLabels(s.labels)} ${formatNumber(s.sum)}`);
      out.push(`${this.name}_count${renderLabels(s.labels)} ${s.count}`);
    }
    return out;
  }
}

/** Prometheus' default buckets, in seconds. */
export const DEFAULT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** A registry; asking twice for the same name returns the same metric (two servers may share one). */
export class Metrics {
  private readonly metrics = new Map<string, Metric>();

  private getOrCreate<M extends Metric>(name: string, kind: Metric["kind"], make: () => M): M {
    if (!METRIC_NAME.test(name)) throw new Error(`metric name "${name}" is not a valid Prometheus name`);
    const existing = this.metrics.get(name);
    if (existing) {
      if (existing.kind !== kind) throw new Error(`metric ${name} is already registered as a ${existing.kind}`);
      return existing as M;
    }
    const m = make();
    this.metrics.set(name, m);
    return m;
  }

  counter(name: string, help: string): Counter {
    return this.getOrCreate(name, "counter", () => new Counter(name, help, "counter"));
  }
  gauge(name: string, help: string): Gauge {
    return this.getOrCreate(name, "gauge", () => new Gauge(name, help, "gauge"));
  }
  histogram(name: string, help: string, buckets: readonly number[] = DEFAULT_BUCKETS): Histogram {
    return this.getOrCreate(name, "histogram", () => new Histogram(name, help, [...buckets].sort((a, b) => a - b)));
  }

  /** The text exposition, ending with a newline. */
  render(): string {
    return [...this.metrics.values()].map((m) => m.render()).join("\n") + "\n";
  }
}
