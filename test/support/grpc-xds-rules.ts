// The rules @grpc/grpc-js-xds 1.14 applies before accepting a resource (NACK) or a locality (silent
// drop), from shared/reference/xds-protocol.md §3, as a test-side check. The e2e tests prove the
// real client accepts what meshward sends today; this pins the rules for every golden case, so a
// later change (new filters, TLS, RBAC) that breaks one fails here with a reason.
import { AssertionError } from "node:assert";
import { isIP } from "node:net";
import { fromBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { ListenerSchema } from "../../src/gen/envoy/config/listener/v3/listener_pb.js";
import { ClusterSchema, Cluster_DiscoveryType, Cluster_LbPolicy } from "../../src/gen/envoy/config/cluster/v3/cluster_pb.js";
import { ClusterLoadAssignmentSchema } from "../../src/gen/envoy/config/endpoint/v3/endpoint_pb.js";
import { RouteConfigurationSchema, type RouteConfiguration } from "../../src/gen/envoy/config/route/v3/route_pb.js";
import { HttpConnectionManagerSchema, type HttpConnectionManager } from "../../src/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js";
import type { ConfigSource } from "../../src/gen/envoy/config/core/v3/config_source_pb.js";
import type { Any } from "@bufbuild/protobuf/wkt";
import { TypeUrl, type EncodedResource } from "../../src/xds/types.js";

const routerType = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
const hcmType = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

function adsOrSelf(c: ConfigSource | undefined): boolean {
  return c?.configSourceSpecifier.case === "ads" || c?.configSourceSpecifier.case === "self";
}

function hcmProblems(any: Any | undefined, at: string, out: string[]): HttpConnectionManager | undefined {
  if (any?.typeUrl !== hcmType) return void out.push(`${at}: not an HttpConnectionManager`);
  const hcm = anyUnpack(any, HttpConnectionManagerSchema)!;
  const names = hcm.httpFilters.map((f) => f.name);
  if (new Set(names).size !== names.length) out.push(`${at}: duplicate HTTP filter names ${names.join(",")}`);
  hcm.httpFilters.forEach((f, i) => {
    const isRouter = f.configType.case === "typedConfig" && f.configType.value.typeUrl === routerType;
    const last = i === hcm.httpFilters.length - 1;
    if (isRouter !== last) out.push(`${at}: the router must be the last HTTP filter and only the last (${f.name} at ${i})`);
    if (!isRouter && !f.isOptional && f.configType.case !== "typedConfig") out.push(`${at}: HTTP filter ${f.name} has no typed config`);
  });
  if (hcm.routeSpecifier.case === "rds" && !adsOrSelf(hcm.routeSpecifier.value.configSource)) out.push(`${at}: RDS config source must be ads or self`);
  if (hcm.routeSpecifier.case === "routeConfig") routeProblems(hcm.routeSpecifier.value, `${at}.route_config`, out, true);
  return hcm;
}

function routeProblems(rc: RouteConfiguration, at: string, out: string[], server: boolean): void {
  for (const vh of rc.virtualHosts) {
    for (const d of vh.domains) {
      const stars = d.split("*").length - 1;
      if (stars > 1 || (stars === 1 && !d.startsWith("*") && !d.endsWith("*"))) out.push(`${at}: domain ${d} has a * in the middle or twice`);
    }
    for (const r of vh.routes) {
      const p = r.match?.pathSpecifier.case;
      if (p !== "prefix" && p !== "path" && p !== "safeRegex") out.push(`${at}: route ${r.name} path specifier ${String(p)}`);
      const action = r.action.case;
      if (server ? action !== "nonForwardingAction" : action !== "route") out.push(`${at}: route ${r.name} action ${String(action)}`);
    }
  }
}

export function grpcXdsViolations(r: EncodedResource): string[] {
  const out: string[] = [];
  const at = `${r.typeUrl.split(".").pop()} ${r.name}`;
  switch (r.typeUrl) {
    case TypeUrl.Listener: {
      const l = fromBinary(ListenerSchema, r.bytes);
      if (l.listenerFilters.length > 0) out.push(`${at}: listener_filters must be empty`);
      if (l.useOriginalDst !== undefined) out.push(`${at}: use_original_dst must be unset`);
      if (l.apiListener) hcmProblems(l.apiListener.apiListener, `${at}.api_listener`, out);
      else if (l.filterChains.length === 0 && !l.defaultFilterChain) out.push(`${at}: neither api_listener nor filter chains`);
      l.filterChains.forEach((fc, i) => {
        // A present match must say raw_buffer and nothing gRPC cannot match on (an empty string fails too).
        const m = fc.filterChainMatch;
        if (m && (m.destinationPort !== undefined || m.serverNames.length > 0 || m.applicationProtocols.length > 0 || m.transportProtocol !== "raw_buffer")) {
          out.push(`${at}: filter chain ${i} match can never match in gRPC`);
        }
        if (fc.filters.length !== 1) out.push(`${at}: filter chain ${i} must hold exactly one filter (an HCM)`);
        else if (fc.filters[0]!.configType.case === "typedConfig") hcmProblems(fc.filters[0]!.configType.value, `${at}.filter_chains[${i}]`, out);
      });
      break;
    }
    case TypeUrl.RouteConfiguration:
      routeProblems(fromBinary(RouteConfigurationSchema, r.bytes), at, out, false);
      break;
    case TypeUrl.Cluster: {
      const c = fromBinary(ClusterSchema, r.bytes);
      if (c.lbPolicy !== Cluster_LbPolicy.ROUND_ROBIN && c.lbPolicy !== Cluster_LbPolicy.RING_HASH) out.push(`${at}: lb_policy ${Cluster_LbPolicy[c.lbPolicy]}`);
      const type = c.clusterDiscoveryType.case === "type" ? c.clusterDiscoveryType.value : undefined;
      if (type !== Cluster_DiscoveryType.EDS && type !== Cluster_DiscoveryType.LOGICAL_DNS) out.push(`${at}: discovery type ${String(type)}`);
      if (type === Cluster_DiscoveryType.EDS && !adsOrSelf(c.edsClusterConfig?.edsConfig)) out.push(`${at}: eds_config must be ads or self`);
      if (c.lbConfig.case === "ringHashLbConfig" && (c.lbConfig.value.minimumRingSize ?? 0n) > 8_388_608n) out.push(`${at}: ring too large`);
      break;
    }
    case TypeUrl.ClusterLoadAssignment: {
      const cla = fromBinary(ClusterLoadAssignmentSchema, r.bytes);
      const seen = new Set<string>();
      const priorities = new Set<number>();
      cla.endpoints.forEach((l, i) => {
        if (!l.locality) out.push(`${at}: locality ${i} unset`);
        if (!l.loadBalancingWeight) out.push(`${at}: locality ${i} has no load_balancing_weight (silently dropped)`);
        priorities.add(l.priority);
        for (const e of l.lbEndpoints) {
          const a = e.hostIdentifier.case === "endpoint" ? e.hostIdentifier.value.address?.address : undefined;
          if (a?.case !== "socketAddress" || isIP(a.value.address) === 0 || a.value.portSpecifier.case !== "portValue") {
            out.push(`${at}: endpoint is not an IP literal with a port value`);
            continue;
          }
          const key = `${a.value.address}:${a.value.portSpecifier.value}`;
          if (seen.has(key)) out.push(`${at}: duplicate address ${key}`);
          seen.add(key);
        }
      });
      const max = Math.max(-1, ...priorities);
      if (priorities.size !== max + 1) out.push(`${at}: gaps in priorities`);
      break;
    }
  }
  return out;
}

/** Asserts every resource passes grpc-js-xds' acceptance rules, reporting all failures at once. */
export function expectGrpcXdsAccepts(resources: Iterable<EncodedResource>): void {
  const problems = [...resources].flatMap(grpcXdsViolations);
  if (problems.length > 0) throw new AssertionError({ message: `grpc-js-xds would NACK or drop:\n${problems.join("\n")}`, operator: "expectGrpcXdsAccepts" });
}
