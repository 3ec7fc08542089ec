// Proto3 JSON of what a proxy receives, by type (golden files, debugging).
import { toJson, type JsonValue } from "@bufbuild/protobuf";
import type { Proxy } from "../model/proxy.js";
import type { MeshSnapshot } from "../model/snapshot.js";
import { TypeUrl } from "../xds/types.js";
import { translate } from "./index.js";
import { resourceRegistry } from "./registry.js";

const sections: readonly [string, TypeUrl][] = [
  ["clusters", TypeUrl.Cluster],
  ["endpoints", TypeUrl.ClusterLoadAssignment],
  ["listeners", TypeUrl.Listener],
  ["routes", TypeUrl.RouteConfiguration],
];

export function dumpResources(snapshot: MeshSnapshot, proxy: Proxy): Record<string, JsonValue[]> {
  const resources = translate(snapshot, proxy);
  const out: Record<string, JsonValue[]> = {};
  for (const [section, typeUrl] of sections) {
    out[section] = (resources.get(typeUrl) ?? []).map((p) => {
      const { schema, message } = p.build();
      return toJson(schema, message, { registry: resourceRegistry });
    });
  }
  return out;
}
