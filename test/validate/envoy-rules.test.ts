// Each PGV rule kind that Envoy's generated API uses, on a real Envoy resource: the broken value
// must be reported at its exact path with its rule, and the fixed value must pass.
import { strict as assert } from "node:assert";
import { create } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { ClusterSchema, Cluster_DiscoveryType, Cluster_LbPolicy, Cluster_PreconnectPolicySchema, Cluster_RingHashLbConfigSchema } from "../../src/gen/envoy/config/cluster/v3/cluster_pb.js";
import { OutlierDetectionSchema } from "../../src/gen/envoy/config/cluster/v3/outlier_detection_pb.js";
import { HealthCheckSchema } from "../../src/gen/envoy/config/core/v3/health_check_pb.js";
import { TypedExtensionConfigSchema } from "../../src/gen/envoy/config/core/v3/extension_pb.js";
import { HeaderValueOptionSchema, MetadataSchema, RequestMethod } from "../../src/gen/envoy/config/core/v3/base_pb.js";
import { ListenerSchema } from "../../src/gen/envoy/config/listener/v3/listener_pb.js";
import { RouteConfigurationSchema, type RouteConfiguration } from "../../src/gen/envoy/config/route/v3/route_pb.js";
import {
  DirectResponseActionSchema,
  InternalRedirectPolicySchema,
  RouteSchema,
  type Route,
  type RouteAction,
} from "../../src/gen/envoy/config/route/v3/route_components_pb.js";
import { RouterSchema } from "../../src/gen/envoy/extensions/filters/http/router/v3/router_pb.js";
import { UriTemplateMatchConfigSchema } from "../../src/gen/envoy/extensions/path/match/uri_template/v3/uri_template_match_pb.js";
import { HttpProtocolOptionsSchema } from "../../src/gen/envoy/extensions/upstreams/http/v3/http_protocol_options_pb.js";
import { HttpRequestHeaderMatchInputSchema } from "../../src/gen/envoy/type/matcher/v3/http_inputs_pb.js";
import { MatcherSchema as XdsMatcherSchema } from "../../src/gen/xds/type/matcher/v3/matcher_pb.js";
import { validateMessage, type Violation } from "../../src/validate/pgv.js";
import * as sample from "./envoy-samples.js";

interface RuleCase {
  readonly rule: string;
  readonly path: string;
  readonly what: string;
  /** Validates the sample with the field broken (true) or with a valid value (false). */
  run(broken: boolean): Violation[];
}

const located = (vs: readonly Violation[]): { path: string; rule: string }[] => vs.map(({ path, rule }) => ({ path, rule }));

function edit<T>(message: T, change: (m: T) => void): T {
  change(message);
  return message;
}

const cluster = (change: (c: ReturnType<typeof sample.cluster>) => void): Violation[] => validateMessage(ClusterSchema, edit(sample.cluster(), change));
const routes = (change: (r: RouteConfiguration) => void): Violation[] => validateMessage(RouteConfigurationSchema, edit(sample.routeConfiguration(), change));
const firstRoute = (r: RouteConfiguration): Route => r.virtualHosts[0]!.routes[0]!;
const routeAction = (r: RouteConfiguration): RouteAction => {
  const action = firstRoute(r).action;
  if (action.case !== "route") throw new Error("sample route has no route action");
  return action.value;
};
const healthCheck = (broken: Partial<Record<"timeout" | "threshold" | "checker", boolean>>, method = RequestMethod.GET, path = "/healthz") =>
  (c: ReturnType<typeof sample.cluster>): void => {
    c.healthChecks = [
      create(HealthCheckSchema, {
        timeout: broken.timeout ? undefined : { seconds: 1n },
        interval: { seconds: 5n },
        unhealthyThreshold: 3,
        healthyThreshold: broken.threshold ? undefined : 1,
        healthChecker: broken.checker ? { case: undefined } : { case: "httpHealthCheck", value: { path, method } },
      }),
    ];
  };
const hcmListener = (init: Parameters<typeof sample.httpConnectionManager>[0]): Violation[] =>
  validateMessage(ListenerSchema, sample.listener(sample.httpConnectionManager(init)));
const protocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

const cases: RuleCase[] = [
  {
    rule: "string.min_len", path: "name", what: "Cluster without a name",
    run: (b) => cluster((c) => { c.name = b ? "" : "outbound|80||a.b.svc.cluster.local"; }),
  },
  {
    rule: "enum.defined_only", path: "lb_policy", what: "Cluster lb_policy outside the enum",
    run: (b) => cluster((c) => { c.lbPolicy = (b ? 99 : 0) as Cluster_LbPolicy; }),
  },
  {
    rule: "enum.defined_only", path: "type", what: "oneof member cluster_discovery_type.type outside the enum",
    run: (b) => cluster((c) => { c.clusterDiscoveryType = { case: "type", value: (b ? 42 : 3) as Cluster_DiscoveryType }; }),
  },
  {
    rule: "duration.gt", path: "connect_timeout", what: "zero connect_timeout",
    run: (b) => cluster((c) => { c.connectTimeout = { $typeName: "google.protobuf.Duration", seconds: 0n, nanos: b ? 0 : 1 }; }),
  },
  {
    rule: "uint32.lte", path: "outlier_detection.max_ejection_percent", what: "UInt32Value wrapper over its bound",
    run: (b) => cluster((c) => { c.outlierDetection = create(OutlierDetectionSchema, { maxEjectionPercent: b ? 101 : 100 }); }),
  },
  {
    rule: "uint64.lte", path: "ring_hash_lb_config.minimum_ring_size", what: "UInt64Value wrapper in a oneof member message",
    run: (b) => cluster((c) => { c.lbConfig = { case: "ringHashLbConfig", value: create(Cluster_RingHashLbConfigSchema, { minimumRingSize: b ? 8388609n : 1024n }) }; }),
  },
  {
    rule: "double.gte_lte", path: "preconnect_policy.per_upstream_preconnect_ratio", what: "DoubleValue outside [1, 3]",
    run: (b) => cluster((c) => { c.preconnectPolicy = create(Cluster_PreconnectPolicySchema, { perUpstreamPreconnectRatio: b ? 0.5 : 1.5 }); }),
  },
  {
    rule: "string.min_len", path: 'metadata.filter_metadata[""]', what: "map key rule (filter_metadata keys)",
    run: (b) => cluster((c) => { c.metadata = create(MetadataSchema, { filterMetadata: { [b ? "" : "istio"]: { config: "x" } } }); }),
  },
  {
    rule: "message.required", path: "health_checks[0].healthy_threshold", what: "required UInt32Value wrapper unset",
    run: (b) => cluster(healthCheck({ threshold: b })),
  },
  {
    rule: "duration.required", path: "health_checks[0].timeout", what: "required Duration unset",
    run: (b) => cluster(healthCheck({ timeout: b })),
  },
  {
    rule: "oneof.required", path: "health_checks[0].health_checker", what: "required oneof unset",
    run: (b) => cluster(healthCheck({ checker: b })),
  },
  {
    rule: "enum.not_in", path: "health_checks[0].http_health_check.method", what: "health check with CONNECT",
    run: (b) => cluster(healthCheck({}, b ? RequestMethod.CONNECT : RequestMethod.HEAD)),
  },
  {
    rule: "string.well_known_regex", path: "health_checks[0].http_health_check.path", what: "strict HTTP_HEADER_VALUE with a control character",
    run: (b) => cluster(healthCheck({}, RequestMethod.GET, b ? "/healthz\u0001" : "/healthz\tok")),
  },
  {
    rule: "string.well_known_regex", path: `typed_extension_protocol_options["${protocolOptionsKey}"].upstream_http_protocol_options.override_auto_sni_header`,
    what: "strict HTTP_HEADER_NAME inside an Any map value (empty is ignore_empty)",
    run: (b) => cluster((c) => {
      c.typedExtensionProtocolOptions = {
        [protocolOptionsKey]: anyPack(HttpProtocolOptionsSchema, create(HttpProtocolOptionsSchema, {
          upstreamHttpProtocolOptions: { autoSni: true, overrideAutoSniHeader: b ? "x sni" : "" },
          upstreamProtocolOptions: { case: "explicitHttpConfig", value: { protocolConfig: { case: "http2ProtocolOptions", value: {} } } },
        })),
      };
    }),
  },
  {
    rule: "repeated.min_items", path: "virtual_hosts[0].domains", what: "virtual host without domains",
    run: (b) => routes((r) => { r.virtualHosts[0]!.domains = b ? [] : ["*"]; }),
  },
  {
    rule: "string.well_known_regex", path: "virtual_hosts[0].domains[1]", what: "loose HTTP_HEADER_VALUE items (newline rejected, other controls allowed)",
    run: (b) => routes((r) => { r.virtualHosts[0]!.domains = ["a.example", b ? "b\n.example" : "b\u0001.example"]; }),
  },
  {
    rule: "message.required", path: "virtual_hosts[0].routes[0].match", what: "route without match",
    run: (b) => routes((r) => { if (b) firstRoute(r).match = undefined; }),
  },
  {
    rule: "oneof.required", path: "virtual_hosts[0].routes[0].action", what: "route without action",
    run: (b) => routes((r) => { if (b) firstRoute(r).action = { case: undefined }; }),
  },
  {
    rule: "string.pattern", path: "virtual_hosts[0].routes[0].match.path_separated_prefix", what: "path_separated_prefix ending in /",
    run: (b) => routes((r) => { firstRoute(r).match!.pathSpecifier = { case: "pathSeparatedPrefix", value: b ? "/api/" : "/api" }; }),
  },
  {
    rule: "uint32.gte_lt", path: "virtual_hosts[0].routes[0].direct_response.status", what: "direct response status 600",
    run: (b) => routes((r) => { firstRoute(r).action = { case: "directResponse", value: create(DirectResponseActionSchema, { status: b ? 600 : 503 }) }; }),
  },
  {
    rule: "repeated.unique", path: "virtual_hosts[0].routes[0].route.internal_redirect_policy.response_headers_to_copy[1]", what: "duplicate header names",
    run: (b) => routes((r) => {
      routeAction(r).internalRedirectPolicy = create(InternalRedirectPolicySchema, {
        responseHeadersToCopy: ["x-a", b ? "x-a" : "x-b"],
      });
    }),
  },
  {
    rule: "repeated.max_items", path: "request_headers_to_add", what: "1001 headers to add",
    run: (b) => routes((r) => {
      r.requestHeadersToAdd = Array.from({ length: b ? 1001 : 1000 }, (_, i) => create(HeaderValueOptionSchema, { header: { key: `x-h${i}`, value: "v" } }));
    }),
  },
  {
    rule: "string.max_bytes", path: "request_headers_to_add[0].header.key", what: "header name over 16 KiB (UTF-8 bytes, not characters)",
    run: (b) => routes((r) => {
      r.requestHeadersToAdd = [create(HeaderValueOptionSchema, { header: { key: "x-" + "é".repeat(b ? 8192 : 8191), value: "v" } })];
    }),
  },
  {
    rule: "bytes.max_len", path: "request_headers_to_add[0].header.raw_value", what: "raw header value over 16 KiB",
    run: (b) => routes((r) => {
      r.requestHeadersToAdd = [create(HeaderValueOptionSchema, { header: { key: "x-raw", rawValue: new Uint8Array(b ? 16385 : 16384) } })];
    }),
  },
  {
    rule: "any.required", path: "virtual_hosts[0].routes[0].match.path_match_policy.typed_config", what: "TypedExtensionConfig without typed_config",
    run: (b) => routes((r) => {
      firstRoute(r).match!.pathSpecifier = {
        case: "pathMatchPolicy",
        value: create(TypedExtensionConfigSchema, {
          name: "envoy.path.match.uri_template.uri_template_matcher",
          typedConfig: b ? undefined : anyPack(UriTemplateMatchConfigSchema, create(UriTemplateMatchConfigSchema, { pathTemplate: "/api/{id}" })),
        }),
      };
    }),
  },
  {
    rule: "string.max_len", path: "virtual_hosts[0].routes[0].match.path_match_policy.typed_config.path_template", what: "uri_template over 256 characters inside Any",
    run: (b) => routes((r) => {
      firstRoute(r).match!.pathSpecifier = {
        case: "pathMatchPolicy",
        value: create(TypedExtensionConfigSchema, {
          name: "envoy.path.match.uri_template.uri_template_matcher",
          typedConfig: anyPack(UriTemplateMatchConfigSchema, create(UriTemplateMatchConfigSchema, { pathTemplate: "/" + "a".repeat(b ? 256 : 255) })),
        }),
      };
    }),
  },
  {
    rule: "map.min_pairs", path: "virtual_hosts[0].matcher.matcher_tree.exact_match_map.map", what: "xds matcher tree with an empty map",
    run: (b) => routes((r) => {
      const route = firstRoute(r);
      r.virtualHosts[0]!.routes = [];
      r.virtualHosts[0]!.matcher = create(XdsMatcherSchema, {
        matcherType: {
          case: "matcherTree",
          value: {
            input: { name: "header", typedConfig: anyPack(HttpRequestHeaderMatchInputSchema, create(HttpRequestHeaderMatchInputSchema, { headerName: "x-tenant" })) },
            treeType: { case: "exactMatchMap", value: { map: b ? {} : { tenant: { onMatch: { case: "action", value: { name: "route", typedConfig: anyPack(RouteSchema, route) } } } } } },
          },
        },
      });
    }),
  },
  {
    rule: "string.min_len", path: "filter_chains[0].filters[0].typed_config.stat_prefix", what: "HttpConnectionManager inside a Listener filter's Any",
    run: (b) => hcmListener({ statPrefix: b ? "" : "inbound_8080" }),
  },
  {
    rule: "string.in", path: "filter_chains[0].filters[0].typed_config.scheme_header_transformation.scheme_to_overwrite", what: "scheme other than http/https",
    run: (b) => hcmListener({ schemeHeaderTransformation: { transformation: { case: "schemeToOverwrite", value: b ? "ftp" : "https" } } }),
  },
  {
    rule: "string.in", path: "filter_chains[0].filters[0].typed_config.http_filters[0].typed_config.strict_check_headers[0]",
    what: "repeated items rule in a Router inside an HCM inside a Listener (Any in Any)",
    run: (b) => hcmListener({
      httpFilters: [{
        name: "envoy.filters.http.router",
        configType: { case: "typedConfig", value: anyPack(RouterSchema, create(RouterSchema, { strictCheckHeaders: [b ? "x-bogus" : "x-envoy-max-retries"] })) },
      }],
    }),
  },
];

describe("PGV rules on real Envoy resources", () => {
  for (const c of cases) {
    it(`${c.rule}: ${c.what}`, () => {
      assert.deepEqual(located(c.run(true)), [{ path: c.path, rule: c.rule }]);
      assert.deepEqual(located(c.run(false)), []);
    });
  }
});
