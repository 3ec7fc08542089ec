// The file source: a mesh-config directory holding `mesh.yaml` (Istio MeshConfig) and any number
// of `*.yaml` files of Istio objects (multi-document). One implementation of ConfigSource: it
// reads and reports per-object adds, updates and deletes, never interprets specs (that is the
// model's job). A file whose text did not change is not parsed again, and an object whose content
// did not change is handed over as the same object (the model does not read it again). A file
// that cannot be read or parsed keeps its last good objects; a malformed document is dropped
// alone. Watching uses fs.watch on the directory (so an editor's write-to-temp-then-rename is
// seen) plus a debounce, and re-arms if the watch dies.
import { readdirSync, readFileSync, statSync, watch, type FSWatcher } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { formatConfigError, objectRef, type ConfigError, type ConfigObject, type ObjectMeta } from "../model/config.js";
import type { ConfigSet } from "../model/snapshot.js";
import { isFields, type Fields } from "../model/fields.js";
import { digestOf } from "../model/digest.js";
import type { ConfigSource, ObjectEvent, SourceSink } from "./source.js";
import { logNewProblems, type Log } from "../telemetry/log.js";

export const meshConfigFile = "mesh.yaml";

export interface FileSourceOptions {
  readonly dir: string;
  /** Quiet period after the last file event before re-reading (default 100 ms, as PILOT_DEBOUNCE_AFTER). */
  readonly debounceMs?: number;
  readonly log?: Log;
}

interface FileContent {
  readonly mesh?: unknown;
  readonly objects: readonly ConfigObject[];
}

function fileError(file: string, message: string, object?: string, path = ""): ConfigError {
  return { file, path, message, severity: "error", ...(object !== undefined ? { object } : {}) };
}

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (isFields(v)) for (const [k, x] of Object.entries(v)) if (typeof x === "string") out[k] = x;
  return out;
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function isDns1123Label(v: unknown): v is string {
  return typeof v === "string" && DNS1123_LABEL.test(v);
}

function isDns1123Subdomain(v: unknown): v is string {
  return typeof v === "string" && v.length <= 253 && v.split(".").every((l) => DNS1123_LABEL.test(l));
}

/** Turns one YAML document into a ConfigObject, or explains why it cannot be one. */
function toObject(doc: unknown, file: string, document: number): ConfigObject | ConfigError {
  const at = `YAML document ${document + 1}`;
  if (!isFields(doc)) return fileError(file, `${at}: must be a map with apiVersion, kind, metadata and spec`);
  const kind = doc["kind"];
  const apiVersion = doc["apiVersion"];
  const md: Fields = isFields(doc["metadata"]) ? doc["metadata"] : {};
  const name = md["name"];
  const namespace = md["namespace"] ?? "default";
  // Named only when kind, namespace and name are usable: "ServiceEntry default/" points at nothing.
  const named = typeof kind === "string" && kind !== "" && isDns1123Label(namespace) && isDns1123Subdomain(name);
  const object = named ? `${String(kind)} ${String(namespace)}/${String(name)}` : undefined;
  if (typeof kind !== "string" || kind === "") return fileError(file, `is required (${at})`, object, "kind");
  if (typeof apiVersion !== "string" || apiVersion === "") return fileError(file, `is required (${at})`, object, "apiVersion");
  if (typeof name !== "string" || name === "") return fileError(file, `is required (${at})`, object, "metadata.name");
  // As the apiserver would: a custom resource's name is a DNS-1123 subdomain, a namespace a label.
  if (!isDns1123Subdomain(name)) return fileError(file, `${JSON.stringify(name)} is not a DNS-1123 subdomain (lower-case letters, digits, '-' and '.') (${at})`, object, "metadata.name");
  if (!isDns1123Label(namespace)) return fileError(file, `${JSON.stringify(namespace)} is not a DNS-1123 label (lower-case letters, digits and '-', at most 63) (${at})`, object, "metadata.namespace");
  const metadata: ObjectMeta = {
    name,
    namespace,
    labels: stringMap(md["labels"]),
    annotations: stringMap(md["annotations"]),
    ...(typeof md["creationTimestamp"] === "string" ? { creationTimestamp: md["creationTimestamp"] } : {}),
    ...(typeof md["generation"] === "number" ? { generation: md["generation"] } : {}),
  };
  return { apiVersion, kind, metadata, spec: doc["spec"], origin: { source: "file", file, document } };
}

/** Reads one file; throws (with a message naming the line) when it cannot be read or parsed. */
function readConfigFile(file: string, isMesh: boolean, errors: ConfigError[]): FileContent {
  return parseConfigText(readFileSync(file, "utf8"), file, isMesh, errors);
}

/** Parses one file's text; throws (with a message naming the line) when it is not YAML. */
function parseConfigText(text: string, file: string, isMesh: boolean, errors: ConfigError[]): FileContent {
  // Kubernetes keys are strings; a collection as a key is an error with its line (not a Node
  // warning from toJS and a stringified key).
  const docs = parseAllDocuments(text, { prettyErrors: true, stringKeys: true });
  if (!Array.isArray(docs)) return { objects: [] }; // an empty stream
  for (const d of docs) if (d.errors.length > 0) throw new Error(d.errors[0]!.message);
  if (isMesh) {
    if (docs.length > 1) errors.push(fileError(file, "mesh config must be a single document; using the first"));
    return { mesh: docs[0]?.toJS() ?? null, objects: [] };
  }
  const objects: ConfigObject[] = [];
  docs.forEach((d, i) => {
    const js: unknown = d.toJS();
    if (js === null || js === undefined) return; // `---` separators with nothing between
    const r = toObject(js, file, i);
    if ("kind" in r) objects.push(r);
    else errors.push(r);
  });
  return { objects };
}

/**
 * Reads files named on a command line (no directory, no watch) into a ConfigSet, with the same
 * reading and error reporting as the directory source; `meshFile` is read as MeshConfig.
 */
export function readConfigFiles(files: readonly string[], meshFile?: string): ConfigSet {
  const errors: ConfigError[] = [];
  const objects: ConfigObject[] = [];
  let mesh: ConfigSet["mesh"];
  for (const [file, isMesh] of [...(meshFile !== undefined ? [[meshFile, true] as const] : []), ...files.map((f) => [f, false] as const)]) {
    try {
      const content = readConfigFile(file, isMesh, errors);
      if (isMesh) mesh = { doc: content.mesh, file };
      objects.push(...content.objects);
    } catch (e) {
      errors.push(fileError(file, `cannot read: ${(e as Error).message.split("\n")[0]}`));
    }
  }
  return { ...(mesh !== undefined ? { mesh } : {}), objects, errors };
}

/** A file's last good reading, with the text it came from (unchanged text is not parsed again). */
interface FileReading {
  readonly text: string;
  readonly content: FileContent;
  /** Problems found in documents of this text (re-reported while the text stays). */
  readonly errors: readonly ConfigError[];
}

/** An object as last reported, with its content digest (origin included). */
interface Reported {
  readonly object: ConfigObject;
  readonly digest: string;
}

export class FileSource implements ConfigSource {
  readonly name: string;
  private readonly dir: string;
  private readonly debounceMs: number;
  private readonly log: Log;
  private readonly lastGood = new Map<string, FileReading>();
  private readonly reported = new Map<string, Reported>();
  /** Problems already logged (each is logged once while it lasts). */
  private loggedProblems: ReadonlySet<string> = new Set();
  private current: ConfigSet = { objects: [], errors: [] };
  private watcher: FSWatcher | undefined;
  /** Inode of the watched directory: a directory replaced wholesale needs a new watch. */
  private watchedIno: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private sink: SourceSink | undefined;
  private stopped = false;

  constructor(opts: FileSourceOptions) {
    this.dir = opts.dir;
    this.name = `file:${opts.dir}`;
    this.debounceMs = opts.debounceMs ?? 100;
    this.log = opts.log ?? ((m) => console.error(m));
  }

  /** The problems of the last read (what /debug/config shows). */
  get errors(): readonly ConfigError[] {
    return this.current.errors;
  }

  get configSet(): ConfigSet {
    return this.current;
  }

  /** Reads the whole directory now. Never throws: problems become errors in the set. */
  load(): ConfigSet {
    this.read();
    return this.current;
  }

  /** Reads the directory and returns what changed since the last read, by object. */
  private read(): ObjectEvent[] {
    const errors: ConfigError[] = [];
    let names: string[];
    try {
      names = readdirSync(this.dir).filter((n) => /\.ya?ml$/.test(n) && !n.startsWith(".")).sort();
    } catch (e) {
      // The directory is gone or unreadable (mid-rename?): serve what we had.
      errors.push(fileError(this.dir, `cannot read directory: ${(e as Error).message}; keeping the last good config`));
      names = [...this.lastGood.keys()];
    }
    const present = new Set(names);
    for (const f of [...this.lastGood.keys()]) if (!present.has(f)) this.lastGood.delete(f);
    let mesh: ConfigSet["mesh"];
    const objects: ConfigObject[] = [];
    for (const name of names) {
      const file = join(this.dir, name);
      let reading = this.lastGood.get(name);
      try {
        const text = readFileSync(file, "utf8");
        if (reading === undefined || reading.text !== text) {
          const found: ConfigError[] = [];
          reading = { text, content: parseConfigText(text, file, name === meshConfigFile, found), errors: found };
          this.lastGood.set(name, reading);
        }
        errors.push(...reading.errors);
      } catch (e) {
        const keep = reading ? "keeping its last good content" : "nothing from it is used";
        errors.push(fileError(file, `cannot ${(e as NodeJS.ErrnoException).code !== undefined ? "read" : "parse"}: ${(e as Error).message.split("\n")[0]}; ${keep}`));
      }
      if (reading === undefined) continue;
      if (name === meshConfigFile) mesh = { doc: reading.content.mesh, file };
      objects.push(...reading.content.objects);
    }
    const { events, kept } = this.diff(objects);
    this.current = { ...(mesh !== undefined ? { mesh } : {}), objects: kept, errors };
    this.loggedProblems = logNewProblems(this.log, "source", errors, this.loggedProblems);
    return events;
  }

  /**
   * Per-object events against what was reported, and the objects in file order, each unchanged
   * one as the object reported before (its identity is what spares the model a re-read).
   */
  private diff(objects: readonly ConfigObject[]): { events: ObjectEvent[]; kept: ConfigObject[] } {
    const events: ObjectEvent[] = [];
    const kept: ConfigObject[] = [];
    const seen = new Set<string>();
    const counts = new Map<string, number>();
    for (const o of objects) {
      // Two documents naming one object in one file keep apart (the model reports the second).
      const base = `${o.origin.file}\u0000${objectRef(o)}`;
      const n = counts.get(base) ?? 0;
      counts.set(base, n + 1);
      const key = n === 0 ? base : `${base}\u0000${n}`;
      seen.add(key);
      const before = this.reported.get(key);
      if (before?.object === o) {
        kept.push(o);
        continue;
      }
      const digest = digestOf([o.apiVersion, o.kind, o.metadata, o.spec, o.origin]);
      if (before?.digest === digest) {
        kept.push(before.object);
        continue;
      }
      kept.push(o);
      this.reported.set(key, { object: o, digest });
      events.push({ type: before === undefined ? "add" : "update", key, object: o });
    }
    for (const key of [...this.reported.keys()]) {
      if (seen.has(key)) continue;
      this.reported.delete(key);
      events.push({ type: "delete", key });
    }
    return { events, kept };
  }

  start(sink: SourceSink): void {
    this.sink = sink;
    // A new listener gets everything, even what an earlier load() already read.
    this.reported.clear();
    this.emit(this.read());
    this.arm();
  }

  stop(): void {
    this.stopped = true;
    this.watcher?.close();
    this.watcher = undefined;
    if (this.timer) clearTimeout(this.timer);
  }

  private emit(events: readonly ObjectEvent[]): void {
    this.sink?.({ events, mesh: this.current.mesh ?? null, errors: this.current.errors });
  }
  private schedule(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.stopped) return;
      this.emit(this.read());
      if (this.watcher !== undefined && this.currentIno() !== this.watchedIno) {
        this.watcher.close();
        this.watcher = undefined;
      }
      if (this.watcher === undefined) this.arm();
    }, this.debounceMs);
  }

  private arm(): void {
    if (this.stopped) return;
    try {
      this.watchedIno = statSync(this.dir).ino;
      this.watcher = watch(this.dir, { persistent: false }, () => this.schedule());
      this.watcher.on("error", (e) => {
        this.log(`meshward config: watch on ${this.dir} failed (${e.message}); retrying`);
        this.watcher?.close();
        this.watcher = undefined;
        this.retryLater();
      });
    } catch (e) {
      this.log(`meshward config: cannot watch ${this.dir} (${(e as Error).message}); retrying`);
      this.retryLater();
    }
  }

  private currentIno(): number | undefined {
    try {
      return statSync(this.dir).ino;
    } catch {
      return undefined;
    }
  }

  private retryLater(): void {
    if (this.stopped) return;
    setTimeout(() => {
      if (this.stopped || this.watcher) return;
      this.arm();
      if (this.watcher) this.schedule(); // pick up whatever changed while blind
    }, Math.max(this.debounceMs, 500)).unref();
  }
}
