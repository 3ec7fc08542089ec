// The seam between sources and the model: every source (a mesh-config directory, a Kubernetes
// cluster, later more clusters) reads config and reports it as per-object adds, updates and
// deletes, each object carrying its origin; none of them interprets a spec. One merge
// (src/sources/merge.ts) folds every source's events into the config set the model builds from.
import type { ConfigError, ConfigObject } from "../model/config.js";

/**
 * One object's change. `key` is the source's own name for the object (unique within the source;
 * the file source uses file + `Kind ns/name`, Kubernetes `group/version/Kind ns/name`). An
 * `update` hands the new version; an object handed over unchanged must be the same (immutable)
 * ConfigObject, so the model does not read it again.
 */
export type ObjectEvent =
  | { readonly type: "add" | "update"; readonly key: string; readonly object: ConfigObject }
  | { readonly type: "delete"; readonly key: string };

/** The MeshConfig document a source holds (only the file source has one). */
export interface MeshDocument {
  readonly doc: unknown;
  readonly file: string;
}

/** What a source reports at once: the model is rebuilt once per batch, not once per object. */
export interface SourceBatch {
  readonly events: readonly ObjectEvent[];
  /** The source's MeshConfig: a new one, `null` for none; absent leaves it as it was. */
  readonly mesh?: MeshDocument | null;
  /** The source's current problems (unreadable files, lost watches); absent leaves them as they were. */
  readonly errors?: readonly ConfigError[];
}

export type SourceSink = (batch: SourceBatch) => void;

export interface ConfigSource {
  /** For logs and /debug: `file:<dir>`, `kubernetes:<cluster id>`. */
  readonly name: string;
  /**
   * Starts reading and reports to `sink`. A source that can read its whole state at once (files)
   * reports it before returning; others report their first complete state when they have it.
   */
  start(sink: SourceSink): void;
  stop(): void;
}
