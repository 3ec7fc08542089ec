// Multi-document YAML files → ConfigObjects, for commands that take config files on the command
// line. (The file source of `meshward serve` reads mesh-config/ with hot reload; this is the
// one-shot reading a debugging command needs.)
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import type { ConfigError, ConfigObject, ObjectMeta } from "../model/config.js";

export interface ReadDocuments {
  readonly objects: ConfigObject[];
  readonly errors: ConfigError[];
}

function stringRecord(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (v !== null && typeof v === "object" && !Array.isArray(v)) {
    for (const [k, e] of Object.entries(v)) if (typeof e === "string") out[k] = e;
  }
  return out;
}

function error(file: string, path: string, message: string, object?: string): ConfigError {
  return { file, path, message, severity: "error", ...(object !== undefined ? { object } : {}) };
}

/** Parses every YAML document of `text`; `defaultNamespace` fills objects without one (as kubectl does). */
export function parseConfigDocuments(text: string, file: string, defaultNamespace = "default"): ReadDocuments {
  const out: ReadDocuments = { objects: [], errors: [] };
  parseAllDocuments(text).forEach((doc, document) => {
    const where = `${file}#${document}`;
    if (doc.errors.length > 0) {
      out.errors.push(...doc.errors.map((e) => error(where, "", `YAML: ${e.message}`)));
      return;
    }
    const v: unknown = doc.toJS();
    if (v === null || v === undefined) return;
    if (typeof v !== "object" || Array.isArray(v)) {
      out.errors.push(error(where, "", "a config document must be a mapping with apiVersion, kind and metadata"));
      return;
    }
    const o = v as Record<string, unknown>;
    const meta = (o["metadata"] ?? {}) as Record<string, unknown>;
    const kind = typeof o["kind"] === "string" ? o["kind"] : "";
    const apiVersion = typeof o["apiVersion"] === "string" ? o["apiVersion"] : "";
    const name = typeof meta["name"] === "string" ? meta["name"] : "";
    if (kind === "" || apiVersion === "" || name === "") {
      out.errors.push(error(where, kind === "" ? "kind" : apiVersion === "" ? "apiVersion" : "metadata.name", "must be set", kind === "" ? undefined : kind));
      return;
    }
    const created = meta["creationTimestamp"];
    const metadata: ObjectMeta = {
      name,
      namespace: typeof meta["namespace"] === "string" && meta["namespace"] !== "" ? meta["namespace"] : defaultNamespace,
      labels: stringRecord(meta["labels"]),
      annotations: stringRecord(meta["annotations"]),
      ...(typeof created === "string" ? { creationTimestamp: created } : created instanceof Date ? { creationTimestamp: created.toISOString() } : {}),
    };
    out.objects.push({ apiVersion, kind, metadata, spec: o["spec"] ?? {}, origin: { file, document } });
  });
  return out;
}

export function readConfigDocuments(file: string, defaultNamespace = "default"): ReadDocuments {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    return { objects: [], errors: [error(file, "", `cannot read: ${(e as Error).message}`)] };
  }
  return parseConfigDocuments(text, file, defaultNamespace);
}
