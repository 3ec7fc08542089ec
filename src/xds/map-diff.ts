// The names whose resources differ between two provider maps, computed once per pair of maps and
// shared by every stream that moves from one to the other. Provider maps are immutable
// (ResourceProvider contract), so the diff is a pure function of the two maps; with it, a push
// costs each stream O(changed resources) rather than O(subscribed resources).
import type { EncodedResource } from "./types.js";

type ResourceMap = ReadonlyMap<string, EncodedResource>;

const diffs = new WeakMap<ResourceMap, WeakMap<ResourceMap, readonly string[]>>();

/** Names added, removed or changed (by version) from `from` to `to`. */
export function changedNames(from: ResourceMap, to: ResourceMap): readonly string[] {
  let byTarget = diffs.get(from);
  if (byTarget === undefined) {
    byTarget = new WeakMap();
    diffs.set(from, byTarget);
  }
  let names = byTarget.get(to);
  if (names === undefined) {
    const out: string[] = [];
    for (const [name, r] of to) if (from.get(name)?.version !== r.version) out.push(name);
    for (const name of from.keys()) if (!to.has(name)) out.push(name);
    names = out;
    byTarget.set(to, names);
  }
  return names;
}

/** Whether two maps hold the same resource objects under the same names. */
export function sameResources(a: ReadonlyMap<string, EncodedResource>, b: ReadonlyMap<string, EncodedResource>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of b) if (a.get(k) !== v) return false;
  return true;
}
