// The shape every configuration object has once a source has read it, before the model
// interprets its spec. Sources read; the model interprets; nothing else parses YAML.

/** Where an object came from, so an error can point at it. */
export interface ConfigOrigin {
  /** File path for the file source; `k8s://<cluster>` for Kubernetes. */
  readonly file: string;
  /** Index of the YAML document within the file (0-based). */
  readonly document?: number;
}

export interface ObjectMeta {
  readonly name: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  /** RFC 3339; Istio breaks ties between policies of one level by the oldest creation time. */
  readonly creationTimestamp?: string;
  readonly generation?: number;
}

/** An Istio- (or meshward-) style object: `apiVersion`, `kind`, `metadata`, `spec`. */
export interface ConfigObject<Spec = unknown> {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: ObjectMeta;
  readonly spec: Spec;
  readonly origin: ConfigOrigin;
}

/** `Kind namespace/name`, the way errors and logs name an object. */
export function objectRef(o: Pick<ConfigObject, "kind" | "metadata">): string {
  return `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`;
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
