// Every way meshward's Envoy output may differ from istiod's, in one place, each with its reason.
// An entry rewrites the part it explains (on the side it names) before the comparison
// (compare.ts); the suite fails on anything left and on entries that no longer match anything.
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";

export type Side = "istiod" | "meshward";
export type XdsType = "lds" | "cds" | "rds" | "eds";

export interface Difference {
  readonly id: string;
  /** Why meshward differs here (its design, or an Istio-proxy-only extension it does not emit). */
  readonly reason: string;
  /** Rewrites what the difference explains in `resource`; true when it changed something. */
  normalise(side: Side, type: XdsType, resource: JsonObject): boolean;
  /** A resource the difference explains whole (only one side has it): left out of the comparison. */
  omit?(side: Side, type: XdsType, name: string, resource: JsonObject): boolean;
}

function isObject(v: JsonValue | undefined): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Calls `visit` on every object inside `v` (depth first); true when any visit returned true. */
function everyObject(v: JsonValue, visit: (o: JsonObject) => boolean): boolean {
  let changed = false;
  if (Array.isArray(v)) for (const x of v) changed = everyObject(x, visit) || changed;
  else if (isObject(v)) {
    changed = visit(v) || changed;
    for (const x of Object.values(v)) changed = everyObject(x, visit) || changed;
  }
  return changed;
}

/** Drops the array elements `drop` picks from every array under key `field`. */
function dropFromArrays(v: JsonValue, field: string, drop: (x: JsonValue) => boolean): boolean {
  return everyObject(v, (o) => {
    const list = o[field];
    if (!Array.isArray(list)) return false;
    const kept = list.filter((x) => !drop(x));
    if (kept.length === list.length) return false;
    o[field] = kept;
    return true;
  });
}

/** Deletes `field` from every object that has it (and passes `when`). */
function dropField(v: JsonValue, field: string, when: (o: JsonObject) => boolean = () => true): boolean {
  return everyObject(v, (o) => {
    if (!(field in o) || !when(o)) return false;
    delete o[field];
    return true;
  });
}

export const differences: readonly Difference[] = [
  {
    id: "sds-over-ads",
    reason:
      "meshward serves certificates over the proxy's ADS stream (its node identity socket / CA issue); istiod points Envoy at pilot-agent's `sds-grpc` cluster, which a meshward sidecar does not have",
    normalise: (side, _type, r) =>
      side === "istiod" &&
      everyObject(r, (o) => {
        const sds = o["sdsConfig"];
        if (!isObject(sds) || !isObject(sds["apiConfigSource"])) return false;
        o["sdsConfig"] = { ads: {}, resourceApiVersion: "V3", ...(sds["initialFetchTimeout"] !== undefined ? { initialFetchTimeout: sds["initialFetchTimeout"] } : {}) };
        return true;
      }),
  },
  {
    id: "istio.metadata_exchange",
    reason:
      "Istio-proxy-only extension (not in upstream Envoy, whose xDS would reject the unknown type); it exchanges peer workload metadata for Istio's telemetry, which meshward does not consume. meshward emits it nowhere: not as the network filter on inbound chains, the HTTP filter, nor the upstream cluster filter",
    normalise: (side, _type, r) =>
      side === "istiod" &&
      [
        dropFromArrays(r, "filters", (f) => isObject(f) && f["name"] === "istio.metadata_exchange"),
        dropFromArrays(r, "httpFilters", (f) => isObject(f) && f["name"] === "istio.metadata_exchange"),
      ].some(Boolean) && (dropField(r, "filters", (o) => Array.isArray(o["filters"]) && o["filters"].length === 0 && "connectTimeout" in o) || true),
  },
  {
    id: "istio.alpn",
    reason:
      "Istio-proxy-only HTTP filter that rewrites upstream ALPN to istio-h2/istio-http/1.1 so an Istio server can pick its HTTP mTLS chain; not emitted (upstream Envoy rejects the type). A meshward client's mTLS ALPN is the cluster's `istio-peer-exchange, istio[, h2]`, which every PERMISSIVE/STRICT server chain of a declared port accepts; on a port without a declared protocol the server takes its TCP mTLS chain",
    normalise: (side, _type, r) => side === "istiod" && dropFromArrays(r, "httpFilters", (f) => isObject(f) && f["name"] === "istio.alpn"),
  },
  {
    id: "tracing",
    reason:
      "meshward configures no tracer yet (MeshConfig tracing providers are not read): no HCM `tracing` block and no route `decorator` (the span name) are emitted",
    normalise: (side, type, r) =>
      side === "istiod" && [type === "lds" && dropField(r, "tracing", (o) => typeof o["statPrefix"] === "string"), (type === "lds" || type === "rds") && dropField(r, "decorator")].some(Boolean),
  },
  {
    id: "istio-telemetry-names",
    reason:
      "names and labels only Istio's stats extension (istio.stats) reads: `;`-delimited stat prefixes and cluster alt_stat_name, cluster `istio` metadata (services, config) and endpoint `istio` metadata (workload;namespace;...). meshward keeps Envoy's plain stat names and does not label endpoints for Istio telemetry",
    normalise: (side, type, r) => {
      if (side !== "istiod") return false;
      let changed = false;
      if (type === "cds") changed = dropField(r, "altStatName") || changed;
      if (type === "cds" || type === "eds") {
        changed =
          everyObject(r, (o) => {
            const fm = o["filterMetadata"];
            if (!isObject(fm) || !("istio" in fm)) return false;
            delete fm["istio"];
            if (Object.keys(fm).length === 0) delete o["filterMetadata"];
            return true;
          }) || changed;
        changed = everyObject(r, (o) => {
          for (const k of ["metadata"]) {
            const m = o[k];
            if (isObject(m) && Object.keys(m).length === 0) {
              delete o[k];
              return true;
            }
          }
          return false;
        }) || changed;
      }
      if (type === "lds") {
        changed =
          everyObject(r, (o) => {
            const p = o["statPrefix"];
            if (typeof p !== "string" || !p.endsWith(";")) return false;
            o["statPrefix"] = p.slice(0, -1);
            return true;
          }) || changed;
      }
      return changed;
    },
  },
  {
    id: "proxyless-required-names",
    reason:
      "grpcgen leaves the connection managers' stat_prefix and the inbound virtual host's name empty and the config sources' resource_api_version unset; Envoy's validate.rules require the first two (every meshward resource must pass them) and meshward states V3 everywhere. The inbound stat prefix also names the mTLS mode on purpose (grpc-js-xds 1.14 misses a transport-socket-only listener change otherwise, inbound.ts)",
    normalise: (side, type, r) => {
      if (side !== "meshward") return false;
      const grpcListener = type === "lds" && (isObject(r["apiListener"]) || String(r["name"]).startsWith("xds.istio.io/grpc/"));
      const grpcCluster = type === "cds" && !("connectTimeout" in r);
      if (!grpcListener && !grpcCluster) return false;
      const changed = [dropField(r, "resourceApiVersion", (o) => isObject(o["ads"])), grpcListener && dropField(r, "statPrefix")].some(Boolean);
      return (
        (grpcListener &&
          everyObject(r, (o) => {
            const vhs = o["virtualHosts"];
            if (!Array.isArray(vhs) || o["name"] !== "inbound") return false;
            for (const vh of vhs) if (isObject(vh)) delete vh["name"];
            return true;
          })) ||
        changed
      );
    },
  },
  {
    id: "proxyless-bare-host-listeners",
    reason:
      "meshward also answers a gRPC client's listener request for a single-port service's bare host (`xds:///reviews`, without `:port`); grpcgen answers only `host:port` names, so such a client gets nothing from istiod",
    normalise: () => false,
    omit: (side, type, name, r) => side === "meshward" && type === "lds" && isObject(r["apiListener"]) && !name.includes(":"),
  },
];

export { dropField, dropFromArrays, everyObject, isObject };
