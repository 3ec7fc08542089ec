// The one merge of every source's events into the config set the model builds from. It keeps each
// source's objects by key, so an update replaces one object and the rest are handed to the model
// as the very same objects (read once, never re-parsed). The set lists sources in the order they
// were given and each source's objects in key order, so two objects claiming one `Kind ns/name`
// are resolved the same way on every rebuild (the first wins; the model reports the other).
// Sources can join and leave while it runs (remote clusters, added and removed as their Secrets
// are): a source that leaves takes its objects with it, in one rebuild.
import type { ConfigError, ConfigObject } from "../model/config.js";
import type { ConfigSet } from "../model/snapshot.js";
import type { ConfigSource, MeshDocument, SourceBatch } from "./source.js";
import { digestOf } from "../model/digest.js";

interface SourceState {
  readonly source: ConfigSource;
  readonly objects: Map<string, ConfigObject>;
  /** The objects in key order, rebuilt only after the source changed. */
  ordered: readonly ConfigObject[] | undefined;
  mesh: MeshDocument | undefined;
  errors: readonly ConfigError[];
  errorsDigest: string;
}

export interface ConfigMergeOptions {
  /**
   * Batches arriving within this many ms after the first are merged into one set (one model
   * rebuild for a burst of watch events); absent: `onChange` runs synchronously after every batch.
   * Batches reported while the sources start are always handed over at once.
   */
  readonly coalesceMs?: number;
}

export class ConfigMerge {
  private readonly states: SourceState[];
  private current: ConfigSet = { objects: [], errors: [] };
  private started = false;
  private starting = false;
  private timer: NodeJS.Timeout | undefined;

  /** `onChange` runs after every batch (or burst of batches, see coalesceMs) that changed the set. */
  constructor(
    sources: readonly ConfigSource[],
    private readonly onChange: (set: ConfigSet) => void,
    private readonly opts: ConfigMergeOptions = {},
  ) {
    this.states = sources.map((source) => ({ source, objects: new Map(), ordered: [], mesh: undefined, errors: [], errorsDigest: digestOf([]) }));
  }

  get sources(): readonly ConfigSource[] {
    return this.states.map((s) => s.source);
  }

  /** The merged set as of the last batch. */
  get configSet(): ConfigSet {
    return this.current;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.starting = true;
    for (const state of this.states) state.source.start((batch) => this.states.includes(state) && this.apply(state, batch));
    this.starting = false;
  }

  /** Adds a source after the others (started at once when the merge runs); its objects come as it reports them. */
  addSource(source: ConfigSource): void {
    if (this.states.some((s) => s.source === source)) return;
    const state: SourceState = { source, objects: new Map(), ordered: [], mesh: undefined, errors: [], errorsDigest: digestOf([]) };
    this.states.push(state);
    if (this.started) source.start((batch) => this.states.includes(state) && this.apply(state, batch));
  }

  /** Stops a source and withdraws everything it reported, in one rebuild. */
  removeSource(source: ConfigSource): void {
    const i = this.states.findIndex((s) => s.source === source);
    if (i < 0) return;
    const [state] = this.states.splice(i, 1);
    source.stop();
    if (state!.objects.size === 0 && state!.errors.length === 0 && state!.mesh === undefined) return;
    if (this.opts.coalesceMs === undefined) return this.publish();
    this.timer ??= setTimeout(() => this.flush(), this.opts.coalesceMs);
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    for (const state of this.states) state.source.stop();
  }

  private apply(state: SourceState, batch: SourceBatch): void {
    let changed = false;
    for (const e of batch.events) {
      if (e.type === "delete") {
        changed = state.objects.delete(e.key) || changed;
        continue;
      }
      if (state.objects.get(e.key) === e.object) continue;
      state.objects.set(e.key, e.object);
      changed = true;
    }
    if (changed) state.ordered = undefined;
    if (batch.mesh !== undefined) {
      const mesh = batch.mesh ?? undefined;
      if (digestOf(mesh) !== digestOf(state.mesh)) changed = true;
      state.mesh = mesh;
    }
    if (batch.errors !== undefined) {
      const d = digestOf(batch.errors);
      if (d !== state.errorsDigest) changed = true;
      state.errors = batch.errors;
      state.errorsDigest = d;
    }
    if (!changed) return;
    if (this.opts.coalesceMs === undefined || this.starting) return this.publish();
    this.timer ??= setTimeout(() => this.flush(), this.opts.coalesceMs);
  }

  /** Hands over what is pending now (a source just finished its first complete state). */
  flush(): void {
    if (this.timer === undefined) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.publish();
  }

  private publish(): void {
    this.current = this.merged();
    this.onChange(this.current);
  }

  private merged(): ConfigSet {
    const objects: ConfigObject[] = [];
    const errors: ConfigError[] = [];
    let mesh: MeshDocument | undefined;
    for (const state of this.states) {
      if (state.ordered === undefined) {
        const keys = [...state.objects.keys()].sort();
        state.ordered = keys.map((k) => state.objects.get(k)!);
      }
      for (const o of state.ordered) objects.push(o);
      errors.push(...state.errors);
      mesh ??= state.mesh;
    }
    return { ...(mesh !== undefined ? { mesh } : {}), objects, errors };
  }
}
