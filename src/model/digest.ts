// Content digests. Versions and cache keys derive from content, so equal config gives equal
// versions across restarts and across proxies.
import { createHash } from "node:crypto";

/** JSON with object keys sorted, so equal values serialize equally whatever their key order. */
export function stableJson(v: unknown): string {
  if (v === null || typeof v !== "object") return JSON.stringify(v) ?? "null";
  if (Array.isArray(v)) return `[${v.map(stableJson).join(",")}]`;
  const entries = Object.entries(v as Record<string, unknown>)
    .filter(([, x]) => x !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${stableJson(x)}`).join(",")}}`;
}

/** Short (96-bit) base64url sha256: collision-safe for versions and keys, cheap to carry. */
export function contentHash(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("base64url").slice(0, 16);
}

export function digestOf(v: unknown): string {
  return contentHash(stableJson(v));
}
