// The shape every configuration object has once a source has read it, before the model
// interprets its spec. Sources read; the model interprets; nothing else parses YAML.

/** Where an object came from, so an error can point at it. */
export interface ConfigOrigin {
  /**
   * File path for the file source; for Kubernetes `k8s://<cluster>/<resource>`, so every error
   * line names where to look.
   */
  readonly file: string;
  /** Index of the YAML document within the file (0-based). */
  readonly document?: number;
  /** The source kind; absent means a file (objects made by hand in tests and overlays). */
  readonly source?: "file" | "kubernetes";
  /** The cluster id of a Kubernetes source (`--cluster-id`, default `Kubernetes`). */
  readonly cluster?: string;
  /** The apiserver resource: `group/version/Kind namespace/name` (`v1/Pod ns/name` for core). */
  readonly resource?: string;
}

export interface ObjectMeta {
  readonly name: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  /** RFC 3339; Istio breaks ties between policies of one level by the oldest creation time. */
  readonly creationTimestamp?: string;
  readonly generation?: number;
  /** The apiserver's uid (Kubernetes objects only): a Pod's identity across renames and restarts. */
  readonly uid?: string;
}

/** An Istio- (or meshward-) style object: `apiVersion`, `kind`, `metadata`, `spec`. */
export interface ConfigObject<Spec = unknown> {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: ObjectMeta;
  readonly spec: Spec;
  /** The apiserver's status, for kinds whose facts live there (a Pod's IPs); absent in files. */
  readonly status?: unknown;
  readonly origin: ConfigOrigin;
}

/** `Kind namespace/name`, the way errors and logs name an object. */
export function objectRef(o: Pick<ConfigObject, "kind" | "metadata">): string {
  return `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`;
}

/**
 * Oldest first (creationTimestamp), then by namespace/name: how istiod breaks ties between objects
 * of one kind (sortConfigByCreationTime) and the Gateway API between routes.
 */
export function olderFirst(a: Pick<ConfigObject, "metadata">, b: Pick<ConfigObject, "metadata">): number {
  const ta = a.metadata.creationTimestamp ?? "";
  const tb = b.metadata.creationTimestamp ?? "";
  if (ta !== tb) return ta < tb ? -1 : 1;
  const ka = `${a.metadata.namespace}/${a.metadata.name}`;
  const kb = `${b.metadata.namespace}/${b.metadata.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/**
 * A rejected object or file. `path` is the field path inside the object (`spec.rules[0].from[1]`),
 * empty when the whole file is unreadable.
 */
export interface ConfigError {
  readonly file: string;
  readonly object?: string;
  readonly path: string;
  readonly message: string;
  /** Warnings are reported but the object is still accepted. */
  readonly severity: "error" | "warning";
}

export function formatConfigError(e: ConfigError): string {
  const where = [e.file, e.object, e.path].filter((s) => s !== undefined && s !== "").join(": ");
  return `${e.severity}: ${where}: ${e.message}`;
}
