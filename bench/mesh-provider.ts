// How much the mesh side costs: translating and encoding every resource for N sidecars of S
// services, then one change every proxy depends on (a new endpoint). No gRPC here (that is
// bench:xds-push); this isolates snapshot -> translate -> encode-once.
//   npm run bench:mesh-provider -- --proxies 1000 --services 100 [--grpc-share 0.2]
//     [--virtual-services V] [--change endpoint|virtual-service]
// --virtual-services routes the first V services by a VirtualService each (a header match to
// subset v2, an 80:20 split between v1 and v2 with retries and a timeout); --change
// virtual-service edits the weights of svc-0's instead of adding an endpoint.
// Prints figures; the last stdout line is one JSON object.
import { parseArgs } from "node:util";
import { performance } from "node:perf_hooks";
import { buildSnapshot } from "../src/mesh/model.js";
import type { ConfigObject } from "../src/model/config.js";
import { parseProxyNode, type Proxy } from "../src/model/proxy.js";
import { MeshResourceProvider } from "../src/mesh/provider.js";
import { PushOrder, type EncodedResource } from "../src/xds/types.js";

const { values } = parseArgs({
  options: {
    proxies: { type: "string", default: "1000" },
    services: { type: "string", default: "100" },
    "grpc-share": { type: "string", default: "0" },
    "virtual-services": { type: "string", default: "0" },
    change: { type: "string", default: "endpoint" },
  },
});
const V = Number(values["virtual-services"]);
const changeKind = values.change;
if (changeKind !== "endpoint" && changeKind !== "virtual-service") throw new Error(`--change: want endpoint or virtual-service, got "${changeKind}"`);
if (changeKind === "virtual-service" && V === 0) throw new Error("--change virtual-service needs --virtual-services 1 or more");
const N = Number(values.proxies);
const S = Number(values.services);
const grpcShare = Number(values["grpc-share"]);

const ip = (i: number): string => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

/** svc-`s`'s VirtualService; `edited` moves the split from 80:20 to 50:50. */
function virtualService(s: number, edited: boolean): ConfigObject {
  const host = `svc-${s}.default.svc.cluster.local`;
  const [v1, v2] = edited ? [50, 50] : [80, 20];
  return {
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService",
    metadata: { name: `svc-${s}`, namespace: "default", labels: {}, annotations: {} },
    spec: {
      hosts: [host],
      http: [
        { name: "canary-user", match: [{ headers: { "x-user": { exact: "canary" } } }], route: [{ destination: { host, subset: "v2" } }] },
        { name: "split", route: [{ destination: { host, subset: "v1" }, weight: v1 }, { destination: { host, subset: "v2" }, weight: v2 }], retries: { attempts: 3, retryOn: "5xx" }, timeout: "5s" },
      ],
    },
    origin: { file: "bench" },
  };
}

function objects(changed: boolean): ConfigObject[] {
  const extraEndpoint = changed && changeKind === "endpoint";
  const out: ConfigObject[] = [];
  const perService = Math.ceil(N / S);
  for (let s = 0; s < S; s++) {
    const endpoints = Array.from({ length: perService }, (_, k) => ({ address: ip(s * perService + k + 1), labels: { app: `svc-${s}`, version: k % 2 ? "v2" : "v1" } }));
    if (extraEndpoint && s === 0) endpoints.push({ address: ip(N + 100_000), labels: { app: "svc-0", version: "v1" } });
    out.push({
      apiVersion: "networking.istio.io/v1",
      kind: "ServiceEntry",
      metadata: { name: `svc-${s}`, namespace: "default", labels: {}, annotations: {} },
      spec: {
        hosts: [`svc-${s}.default.svc.cluster.local`],
        addresses: [`240.0.${s >> 8}.${s & 255}`],
        ports: [
          { number: 8080, name: "http", protocol: "HTTP" },
          { number: 9090, name: "grpc", protocol: "GRPC" },
        ],
        location: "MESH_INTERNAL",
        resolution: "STATIC",
        endpoints,
      },
      origin: { file: "bench" },
    });
    out.push({
      apiVersion: "networking.istio.io/v1",
      kind: "DestinationRule",
      metadata: { name: `svc-${s}`, namespace: "default", labels: {}, annotations: {} },
      spec: { host: `svc-${s}.default.svc.cluster.local`, subsets: [{ name: "v1", labels: { version: "v1" } }, { name: "v2", labels: { version: "v2" } }] },
      origin: { file: "bench" },
    });
    if (s < V) out.push(virtualService(s, changed && changeKind === "virtual-service" && s === 0));
  }
  return out;
}

function proxies(): Proxy[] {
  const perService = Math.ceil(N / S);
  return Array.from({ length: N }, (_, i) => {
    const s = Math.floor(i / perService);
    const grpc = i < N * grpcShare;
    return parseProxyNode({
      id: `sidecar~${ip(i + 1)}~svc-${s}-${i}.default~default.svc.cluster.local`,
      metadata: { NAMESPACE: "default", LABELS: { app: `svc-${s}` }, ...(grpc ? { GENERATOR: "grpc" } : {}) },
    });
  });
}

/** Asks for every proxy's resources, as the xDS server does on a full push. */
function translateAll(p: MeshResourceProvider, ps: Proxy[]): { resources: number; maps: Set<ReadonlyMap<string, EncodedResource>> } {
  let resources = 0;
  const maps = new Set<ReadonlyMap<string, EncodedResource>>();
  for (const proxy of ps) {
    for (const t of PushOrder) {
      const m = p.resources(proxy, t);
      resources += m.size;
      maps.add(m);
    }
  }
  return { resources, maps };
}

/** Bytes of the distinct encodings behind the maps (what the control plane holds). */
function distinctBytes(maps: Set<ReadonlyMap<string, EncodedResource>>): number {
  const seen = new Set<Uint8Array>();
  let bytes = 0;
  for (const m of maps) {
    for (const r of m.values()) {
      if (seen.has(r.bytes)) continue;
      seen.add(r.bytes);
      bytes += r.bytes.length;
    }
  }
  return bytes;
}

const ps = proxies();
const heap0 = process.memoryUsage().heapUsed;
const cpu0 = process.cpuUsage();

let t = performance.now();
const snap1 = buildSnapshot({ objects: objects(false), errors: [] });
const buildMs = performance.now() - t;

const provider = new MeshResourceProvider();
provider.update(snap1);
t = performance.now();
const first = translateAll(provider, ps);
const firstMs = performance.now() - t;
const firstStats = provider.stats();

t = performance.now();
const snap2 = buildSnapshot({ objects: objects(true), errors: [] }, snap1);
const change = provider.update(snap2);
const touched = ps.filter((p) => change !== undefined && (change.all || change.affects(p))).length;
const second = translateAll(provider, ps);
const changeMs = performance.now() - t;
const secondStats = provider.stats();
const cpu = process.cpuUsage(cpu0);
const heapBytes = process.memoryUsage().heapUsed - heap0;

console.log(`snapshot build: ${buildMs.toFixed(1)} ms for ${S} services, ${N} endpoints`);
console.log(`first translation: ${firstMs.toFixed(1)} ms for ${N} proxies (${first.resources} resources, ${firstStats.encodes} encoded, ${firstStats.groups} groups, ${distinctBytes(first.maps)} distinct bytes)`);
console.log(`${changeKind === "endpoint" ? "one new endpoint" : "one VirtualService edit"}: ${changeMs.toFixed(1)} ms to rebuild and re-translate, ${touched} proxies touched, ${secondStats.encodes - firstStats.encodes} resources re-encoded`);
console.log(`heap growth: ${(heapBytes / N / 1024).toFixed(1)} KB per proxy`);
console.log(
  JSON.stringify({
    proxies: N,
    services: S,
    virtualServices: V,
    change: changeKind,
    snapshotBuildMs: Math.round(buildMs),
    firstTranslateMs: Math.round(firstMs),
    changeMs: Math.round(changeMs),
    touched,
    encodedFirst: firstStats.encodes,
    reencodedOnChange: secondStats.encodes - firstStats.encodes,
    groups: secondStats.groups,
    distinctBytes: distinctBytes(second.maps),
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    heapBytesPerProxy: Math.round(heapBytes / N),
  }),
);
