// The proxies the oracle comparison translates: the golden proxies (test/golden/proxies.yaml) for
// every golden case, and every workload of the embedded mesh-config as a sidecar (ratings also as
// a proxyless gRPC client, which is how the README runs it).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import type { JsonObject } from "@bufbuild/protobuf";

export interface NamedNode {
  readonly name: string;
  readonly id: string;
  readonly metadata: JsonObject;
}

export function goldenProxies(root: string): NamedNode[] {
  const doc = parse(readFileSync(join(root, "test/golden/proxies.yaml"), "utf8")) as Record<string, { id: string; metadata: JsonObject }>;
  return Object.entries(doc).map(([name, n]) => ({ name, ...n }));
}

function sidecar(pod: string, ip: string, sa: string, labels: Record<string, string>, grpc = false): NamedNode {
  return {
    name: `${pod}${grpc ? " (proxyless gRPC)" : ""}`,
    id: `sidecar~${ip}~${pod}.default~default.svc.cluster.local`,
    metadata: { NAMESPACE: "default", SERVICE_ACCOUNT: sa, LABELS: labels, ...(grpc ? { GENERATOR: "grpc" } : {}) },
  };
}

/** Each workload of mesh-config/bookinfo.yaml, at its address, with its labels and service account. */
export const meshConfigProxies: readonly NamedNode[] = [
  sidecar("reviews-v1", "127.0.0.11", "reviews", { app: "reviews", version: "v1" }),
  sidecar("reviews-v2", "127.0.0.12", "reviews", { app: "reviews", version: "v2" }),
  sidecar("ratings-0", "127.0.0.13", "ratings", { app: "ratings" }),
  sidecar("ratings-0", "127.0.0.13", "ratings", { app: "ratings" }, true),
  sidecar("db-0", "127.0.0.14", "db", {}),
];
