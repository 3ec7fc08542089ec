// What the web console's poll costs the control plane: GET /api/v1/view against a real serve with W
// WorkloadEntries behind S services and P AuthorizationPolicies, over HTTP on loopback: the first
// poll of a config generation (the mesh view with the call graph of up to 100 workloads), and the
// polls after it (the page sends ?meshGeneration, so the mesh is left out until the config changes);
// and the mesh view computed from scratch (computeMeshView's cost, before its per-snapshot cache).
//   npm run bench:console-view -- --workloads 100 --services 20 --policies 20 --requests 30
// Prints figures (medians of the requests); the last stdout line is one JSON object.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { computeMeshView } from "../src/console/mesh-view.js";
import { startControlPlane } from "../src/mesh/control-plane.js";
import { percentile } from "./stats.js";

const { values } = parseArgs({
  options: {
    workloads: { type: "string", default: "100" },
    services: { type: "string", default: "20" },
    policies: { type: "string", default: "20" },
    requests: { type: "string", default: "30" },
  },
});
const W = Number(values.workloads);
const S = Number(values.services);
const P = Number(values.policies);
const R = Number(values.requests);

const docs: string[] = [];
for (let s = 0; s < S; s++) {
  docs.push(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: svc-${s}, namespace: shop}
spec:
  hosts: [svc-${s}.shop.svc.cluster.local]
  ports: [{number: 7070, name: grpc, protocol: GRPC}]
  location: MESH_INTERNAL
  resolution: STATIC
  workloadSelector: {labels: {app: svc-${s}}}`);
}
for (let w = 0; w < W; w++) {
  docs.push(`apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: w-${w}, namespace: shop}
spec: {address: 10.1.${w >> 8}.${w & 255}, labels: {app: svc-${w % S}}, serviceAccount: sa-${w % S}}`);
}
for (let p = 0; p < P; p++) {
  docs.push(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-${p}, namespace: shop}
spec:
  selector: {matchLabels: {app: svc-${p % S}}}
  action: ALLOW
  rules:
  - from: [{source: {principals: [cluster.local/ns/shop/sa/sa-${(p + 1) % S}]}}]
  - to: [{operation: {paths: [/admin/*]}}]`);
}

const dir = mkdtempSync(join(tmpdir(), "meshward-bench-console-"));
writeFileSync(join(dir, "mesh.yaml"), "trustDomain: cluster.local\nrootNamespace: istio-system\n");
writeFileSync(join(dir, "mesh-objects.yaml"), docs.join("\n---\n") + "\n");
const cp = await startControlPlane({ configDir: dir, xdsAddress: "127.0.0.1:0", monitoringAddress: "127.0.0.1:0", consoleAddress: "127.0.0.1:0", dataDir: join(dir, ".data"), log: () => undefined });
try {
  const base = `${cp.console!.url}/api/v1/view`;
  const generation = cp.provider.snapshot.generation;
  const poll = async (url: string): Promise<{ ms: number; body: string }> => {
    const t0 = performance.now();
    const res = await fetch(url);
    const body = await res.text();
    const ms = performance.now() - t0;
    if (!res.ok) throw new Error(`${url}: ${res.status} ${body}`);
    await new Promise((r) => setTimeout(r, 100));
    return { ms, body };
  };
  const fullMs: number[] = [];
  const pollMs: number[] = [];
  let fullBytes = 0;
  let pollBytes = 0;
  let pairs = 0;
  for (let i = 0; i < R; i++) {
    const full = await poll(base);
    fullMs.push(full.ms);
    fullBytes = full.body.length;
    pairs = (JSON.parse(full.body) as { mesh: { calls: unknown[] } }).mesh.calls.length;
    const next = await poll(`${base}?meshGeneration=${generation}`);
    pollMs.push(next.ms);
    pollBytes = next.body.length;
  }
  const viewMs: number[] = [];
  const viewCpuMs: number[] = [];
  for (let i = 0; i < R; i++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    computeMeshView(cp.provider.snapshot);
    const c = process.cpuUsage(c0);
    viewMs.push(performance.now() - t0);
    viewCpuMs.push((c.user + c.system) / 1000);
  }
  for (const xs of [fullMs, pollMs, viewMs, viewCpuMs]) xs.sort((a, b) => a - b);
  const median = (xs: number[]): number => Number(percentile(xs, 50).toFixed(1));
  console.log(`${W} workloads, ${S} services, ${P} policies: ${pairs} caller/callee pairs`);
  console.log(`GET /api/v1/view with the mesh: median ${median(fullMs)} ms, ${(fullBytes / 1024).toFixed(0)} KiB`);
  console.log(`GET /api/v1/view?meshGeneration (the page's poll while the config is unchanged): median ${median(pollMs)} ms, ${(pollBytes / 1024).toFixed(1)} KiB`);
  console.log(`mesh view from scratch (call graph): median ${median(viewMs)} ms, ${median(viewCpuMs)} ms CPU (once per config generation)`);
  console.log(JSON.stringify({ workloads: W, services: S, policies: P, pairs, fullViewBytes: fullBytes, fullViewMedianMs: median(fullMs), pollBytes, pollMedianMs: median(pollMs), meshViewMedianMs: median(viewMs), meshViewCpuMedianMs: median(viewCpuMs) }));
} finally {
  await cp.stop();
  rmSync(dir, { recursive: true, force: true });
}
