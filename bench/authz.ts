// Figures for AuthorizationPolicy handling at mesh scale: admission (read + validate) of P
// policies, translation of the inbound authz filters (HTTP and TCP chains, and encoding) for W
// workloads spread over N namespaces, and a root-namespace policy change through the real
// snapshot -> provider pipeline. Prints figures; the last line is one JSON object.
//   npm run bench:authz -- --policies 2000 --workloads 1000 --namespaces 50
import { performance } from "node:perf_hooks";
import { toBinary } from "@bufbuild/protobuf";
import type { ConfigObject } from "../src/model/config.js";
import { admitAuthorizationPolicies } from "../src/authz/admit.js";
import { authzHttpFilters, authzNetworkFilters } from "../src/authz/filters.js";
import { DEFAULT_AUTHZ_MESH_CONFIG } from "../src/authz/mesh-config.js";
import { HttpFilterSchema } from "../src/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js";
import { FilterSchema } from "../src/gen/envoy/config/listener/v3/listener_components_pb.js";
import { buildSnapshot } from "../src/mesh/model.js";
import { parseProxyNode, type Proxy } from "../src/model/proxy.js";
import { MeshResourceProvider } from "../src/mesh/provider.js";
import { TypeUrl } from "../src/xds/types.js";
import { intFlag } from "./args.js";
import { percentile } from "./stats.js";

const policies = intFlag("policies", 2000);
const workloads = intFlag("workloads", 1000);
const namespaces = intFlag("namespaces", 50);

/** A realistic mix: workload ALLOWs with principals and paths, namespace DENYs, mesh-wide DENYs. */
function policyObject(i: number): ConfigObject {
  const ns = i % 10 === 0 ? "istio-system" : `ns-${i % namespaces}`;
  const app = `app-${i % 20}`;
  const spec =
    i % 10 === 0
      ? { action: "DENY", rules: [{ from: [{ source: { ipBlocks: [`203.0.${i % 256}.0/24`] } }] }] }
      : i % 4 === 0
        ? { action: "DENY", rules: [{ to: [{ operation: { methods: ["DELETE"], ports: ["8080"] } }] }] }
        : {
            selector: { matchLabels: { app } },
            rules: [
              {
                from: [{ source: { principals: [`cluster.local/ns/${ns}/sa/caller-${i}`], namespaces: ["frontend", "ops-*"] } }],
                to: [{ operation: { methods: ["GET", "POST"], paths: ["/api/v1/*", "/items/{*}/detail"] } }],
                when: [{ key: "request.headers[x-tenant]", values: [`t-${i}`] }],
              },
              { from: [{ source: { ipBlocks: ["10.0.0.0/8"] } }], to: [{ operation: { ports: ["9090"] } }] },
            ],
          };
  return {
    apiVersion: "security.istio.io/v1",
    kind: "AuthorizationPolicy",
    metadata: { name: `p-${i}`, namespace: ns, labels: {}, annotations: {} },
    spec,
    origin: { file: "bench.yaml" },
  };
}

const objects = Array.from({ length: policies }, (_, i) => policyObject(i));
const t0 = performance.now();
const admitted = admitAuthorizationPolicies(objects);
const admitMs = performance.now() - t0;
if (admitted.policies.length !== policies) throw new Error(`admitted ${admitted.policies.length} of ${policies}: ${admitted.findings[0]?.message}`);

const cpu0 = process.cpuUsage();
const t1 = performance.now();
let filters = 0;
let bytes = 0;
const perWorkloadMs: number[] = [];
for (let w = 0; w < workloads; w++) {
  const start = performance.now();
  const input = { workload: { namespace: `ns-${w % namespaces}`, labels: { app: `app-${w % 20}` } }, policies: admitted.policies, mesh: DEFAULT_AUTHZ_MESH_CONFIG };
  const http = authzHttpFilters(input).filters;
  const tcp = authzNetworkFilters(input).filters;
  for (const f of http) bytes += toBinary(HttpFilterSchema, f).length;
  for (const f of tcp) bytes += toBinary(FilterSchema, f).length;
  filters += http.length + tcp.length;
  perWorkloadMs.push(performance.now() - start);
}
const translateMs = performance.now() - t1;
const cpu = process.cpuUsage(cpu0);
perWorkloadMs.sort((a, b) => a - b);
const pct = (p: number): number => Number(percentile(perWorkloadMs, p * 100).toFixed(3));

// Phase 2, through the real pipeline: a root-namespace policy added to a mesh of W sidecars (one
// per service, 3 in each namespace group) re-translates the listeners of the proxies it selects.
const meshProxies = Math.min(workloads, 1000);
function serviceEntry(i: number): ConfigObject {
  return {
    apiVersion: "networking.istio.io/v1",
    kind: "ServiceEntry",
    metadata: { name: `svc-${i}`, namespace: `ns-${i % namespaces}`, labels: {}, annotations: {} },
    spec: { hosts: [`svc-${i}.ns-${i % namespaces}.svc.cluster.local`], ports: [{ number: 8080, name: "http", protocol: "HTTP" }], resolution: "STATIC", endpoints: [{ address: `10.${(i >> 8) & 255}.${i & 255}.1`, labels: { app: `app-${i % 20}` } }] },
    origin: { file: "bench.yaml" },
  };
}
const sidecars: Proxy[] = Array.from({ length: meshProxies }, (_, i) =>
  parseProxyNode({ id: `sidecar~10.${(i >> 8) & 255}.${i & 255}.1~pod-${i}.ns-${i % namespaces}~ns-${i % namespaces}.svc.cluster.local`, metadata: { NAMESPACE: `ns-${i % namespaces}`, LABELS: { app: `app-${i % 20}` } } }),
);
const services = Array.from({ length: meshProxies }, (_, i) => serviceEntry(i));
const provider = new MeshResourceProvider();
const s1 = buildSnapshot({ objects: [...services, ...objects], errors: [] });
provider.update(s1);
const listenersOf = (): string[] => sidecars.map((p) => [...provider.resources(p, TypeUrl.Listener).values()].map((r) => r.version).join(","));
const before = listenersOf();
const rootPolicy: ConfigObject = { ...policyObject(0), metadata: { name: "bench-root", namespace: "istio-system", labels: {}, annotations: {} }, spec: { action: "DENY", rules: [{ from: [{ source: { ipBlocks: ["198.51.100.0/24"] } }] }] } };
const t2 = performance.now();
const change = provider.update(buildSnapshot({ objects: [...services, ...objects, rootPolicy], errors: [] }, s1));
const after = listenersOf();
const changeMs = performance.now() - t2;
const touched = change === undefined ? 0 : change.all ? meshProxies : sidecars.filter((p) => change.affects(p)).length;
const changedListeners = after.filter((v, i) => v !== before[i]).length;

console.log(`admitted ${policies} policies in ${admitMs.toFixed(1)} ms (${((admitMs * 1000) / policies).toFixed(1)} µs each)`);
console.log(`translated ${workloads} workloads (HTTP + TCP chains, encoded) in ${translateMs.toFixed(1)} ms: p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms per workload`);
console.log(`${filters} filters, ${(bytes / workloads / 1024).toFixed(1)} KiB of filters per workload`);
console.log(`root-namespace policy added to a mesh of ${meshProxies} sidecars: snapshot rebuild + every proxy's listeners re-planned in ${changeMs.toFixed(1)} ms; ${touched} proxies touched, ${changedListeners} got new listeners`);
console.log(
  JSON.stringify({
    policies,
    workloads,
    namespaces,
    admitMs: Number(admitMs.toFixed(1)),
    translateMs: Number(translateMs.toFixed(1)),
    perWorkloadMsP50: pct(0.5),
    perWorkloadMsP99: pct(0.99),
    cpuSeconds: Number(((cpu.user + cpu.system) / 1e6).toFixed(3)),
    bytesPerWorkload: Math.round(bytes / workloads),
    meshProxies,
    rootPolicyChangeMs: Number(changeMs.toFixed(1)),
    proxiesTouched: touched,
    peakRssBytes: process.memoryUsage().rss,
  }),
);
