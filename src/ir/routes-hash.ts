// A DestinationRule consistentHash key as a route hash policy (istiod's ConsistentHashToHashPolicy),
// shared by default routes and VirtualService routes. gRPC clients only hash on headers.
import type { ConsistentHashKey } from "../model/destination-rule.js";
import type { HashPolicy } from "./types.js";

export function hashPolicyOf(key: ConsistentHashKey, flavour: "envoy" | "grpc"): HashPolicy | undefined {
  if (flavour === "grpc" && key.kind !== "httpHeaderName") return undefined;
  switch (key.kind) {
    case "httpHeaderName":
      return { kind: "header", name: key.name };
    case "httpCookie":
      return { kind: "cookie", name: key.name, ...(key.path ? { path: key.path } : {}), ...(key.ttlSeconds !== undefined ? { ttlSeconds: key.ttlSeconds } : {}) };
    case "useSourceIp":
      return { kind: "sourceIp" };
    case "httpQueryParameterName":
      return { kind: "queryParameter", name: key.name };
  }
}
