// Content digests. Versions and cache keys derive from content, so equal config gives equal
// versions across restarts and across proxies.
import { createHash } from "node:crypto";

/**
 * JSON with object keys sorted, so equal values serialize equally whatever their key order.
 * Written as loops appending to one string: the snapshot digests every endpoint on each rebuild
 * (10,000 workloads), and the entries/filter/map/join version spent most of a rebuild here.
 */
export function stableJson(v: unknown): string {
  if (v === null || typeof v !== "object") return JSON.stringify(v) ?? "null";
  if (Array.isArray(v)) {
    let out = "[";
    for (let i = 0; i < v.length; i++) out += (i === 0 ? "" : ",") + stableJson(v[i]);
    return out + "]";
  }
  const o = v as Record<string, unknown>;
  // Default sort orders strings by UTF-16 code units, as the `<` comparison it replaces did.
  const keys = Object.keys(o).sort();
  let out = "{";
  let first = true;
  for (const k of keys) {
    const x = o[k];
    if (x === undefined) continue;
    out += (first ? "" : ",") + JSON.stringify(k) + ":" + stableJson(x);
    first = false;
  }
  return out + "}";
}

/** Short (96-bit) base64url sha256: collision-safe for versions and keys, cheap to carry. */
export function contentHash(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("base64url").slice(0, 16);
}

export function digestOf(v: unknown): string {
  return contentHash(stableJson(v));
}
