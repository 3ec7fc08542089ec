// Multi-cluster benchmark: C real clusters (a kube-apiserver + etcd each), P pods per cluster behind
// S Services that exist in every cluster (namespace sameness: one host per Service, endpoints from
// all clusters). meshward runs as the primary of cluster-0 and reads the others through remote
// Secrets made by create-remote-secret (primary-remote); M simulated sidecars per cluster (raw ADS
// streams with that cluster's CLUSTER_ID, subscribed to every Service's EDS) are connected. Then K
// changes, one at a time and round robin over the clusters: one endpoint's ready condition flipped
// in one cluster's EndpointSlice. Each change's convergence is measured from the write to that
// cluster's apiserver to each sidecar's receipt of the EDS response that reflects it, so a change in
// one cluster is timed to proxies in all of them.
// Usage: npm run bench:multicluster -- --clusters C --pods-per-cluster P [--services S] [--sidecars M] [--changes K]
// Prints figures; the last line is one JSON object. Never pass/fail on time.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import { KubeClient } from "../src/kube/client.js";
import { TypeUrl } from "../src/xds/types.js";
import { ClusterLoadAssignmentSchema } from "../src/gen/envoy/config/endpoint/v3/endpoint_pb.js";
import { createRemoteSecret } from "../src/multicluster/create-remote-secret.js";
import { kubeApiserverBinaries, startKubeApiserver, type KubeApiserver } from "../test/support/kube-apiserver.js";
import { AdsClient, type SotwClientStream } from "../test/support/ads-client.js";
import { intFlag } from "./args.js";
import { percentile } from "./stats.js";
import { pool, startKubeControlPlane, type Slice } from "./kube-objects.js";

const clusters = intFlag("clusters", 2);
const podsPerCluster = intFlag("pods-per-cluster", 200);
const services = intFlag("services", Math.max(1, Math.ceil(podsPerCluster / 100)));
const sidecarsPerCluster = intFlag("sidecars", 5);
const changes = intFlag("changes", 20);
const NS = "bench";
const round = (x: number): number => Math.round(x * 10) / 10;
const clusterId = (c: number): string => `cluster-${c}`;
const host = (s: number): string => `svc-${s}.${NS}.svc.cluster.local`;
const edsName = (s: number): string => `outbound|80||${host(s)}`;
const podIp = (c: number, i: number): string => `10.${100 + c}.${(i >> 8) & 255}.${i & 255}`;
const serviceOf = (i: number): number => i % services;



/** Writes one cluster's namespace, Services, Pods (with IPs, as a kubelet would) and EndpointSlices. */
async function populate(client: KubeClient, c: number): Promise<Slice[]> {
  await client.request("POST", "/api/v1/namespaces", { metadata: { name: NS } });
  await pool([...Array(services).keys()], 8, (s) =>
    client.request("POST", `/api/v1/namespaces/${NS}/services`, { metadata: { name: `svc-${s}` }, spec: { selector: { app: `svc-${s}` }, ports: [{ name: "http", port: 80, targetPort: 8080 }] } }),
  );
  await pool([...Array(podsPerCluster).keys()], 32, async (i) => {
    const created = await client.request<Record<string, unknown>>("POST", `/api/v1/namespaces/${NS}/pods`, {
      metadata: { name: `pod-${i}`, labels: { app: `svc-${serviceOf(i)}` } },
      spec: { serviceAccountName: `svc-${serviceOf(i)}`, containers: [{ name: "app", image: "app" }] },
    });
    await client.request("PUT", `/api/v1/namespaces/${NS}/pods/pod-${i}/status`, { ...created, status: { phase: "Running", podIP: podIp(c, i), podIPs: [{ ip: podIp(c, i) }] } });
  });
  const slices: Slice[] = [...Array(services).keys()].map((s) => ({
    metadata: { name: `svc-${s}-${c}`, labels: { "kubernetes.io/service-name": `svc-${s}` } },
    addressType: "IPv4",
    endpoints: [...Array(podsPerCluster).keys()].filter((i) => serviceOf(i) === s).map((i) => ({ addresses: [podIp(c, i)], conditions: { ready: true }, targetRef: { kind: "Pod", name: `pod-${i}`, namespace: NS } })),
    ports: [{ name: "http", port: 8080, protocol: "TCP" }],
  }));
  await pool(slices, 8, async (slice) => {
    const created = await client.request<Slice>("POST", `/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices`, { apiVersion: "discovery.k8s.io/v1", kind: "EndpointSlice", ...slice });
    slice.metadata.resourceVersion = created.metadata.resourceVersion;
  });
  return slices;
}

/** A simulated sidecar of cluster `c`: EDS for every Service, every response ACKed; tells `onEds` the addresses per assignment. */
function sidecar(ads: AdsClient, c: number, k: number, onEds: (name: string, addresses: ReadonlySet<string>, atMs: number) => void): SotwClientStream {
  const stream = ads.sotw({ id: `sidecar~10.${150 + c}.0.${k + 1}~bench-${k}.${NS}~${NS}.svc.cluster.local`, metadata: { NAMESPACE: NS, SERVICE_ACCOUNT: "bench", CLUSTER_ID: clusterId(c) } });
  stream.subscribe(TypeUrl.ClusterLoadAssignment, [...Array(services).keys()].map(edsName));
  void (async () => {
    for (;;) {
      let r;
      try {
        r = await stream.next(600_000);
      } catch {
        return;
      }
      const at = performance.now();
      for (const any of r.resources) {
        const cla = fromBinary(ClusterLoadAssignmentSchema, any.value);
        const addresses = new Set<string>();
        for (const l of cla.endpoints) for (const e of l.lbEndpoints) if (e.hostIdentifier.case === "endpoint") addresses.add(e.hostIdentifier.value.address?.address.case === "socketAddress" ? e.hostIdentifier.value.address.address.value.address : "");
        onEds(cla.clusterName, addresses, at);
      }
      stream.ack(r);
    }
  })();
  return stream;
}

async function main(): Promise<void> {
  const bins = kubeApiserverBinaries();
  if ("skip" in bins) throw new Error(bins.skip);
  const apiservers: KubeApiserver[] = [];
  const dir = mkdtempSync(join(tmpdir(), "meshward-bench-multicluster-"));
  const streams: SotwClientStream[] = [];
  const clients: AdsClient[] = [];
  try {
    const start0 = performance.now();
    for (let c = 0; c < clusters; c++) apiservers.push(startKubeApiserver());
    const kube = apiservers.map((k) => new KubeClient({ kubeconfig: k.kubeconfig }));
    console.log(`multicluster: ${clusters} apiservers (each with its own etcd) started in ${round((performance.now() - start0) / 1000)} s`);
    const setup0 = performance.now();
    const slices = await Promise.all(kube.map((client, c) => populate(client, c)));
    await kube[0]!.request("POST", "/api/v1/namespaces", { metadata: { name: "istio-system" } });
    for (let c = 1; c < clusters; c++) {
      const secret = await createRemoteSecret(kube[c]!, { name: clusterId(c), namespace: "istio-system" });
      await kube[0]!.request("POST", "/api/v1/namespaces/istio-system/secrets", secret);
    }
    console.log(`multicluster: ${podsPerCluster} pods behind ${services} Services in each of ${clusters} clusters written in ${round((performance.now() - setup0) / 1000)} s`);

    const { cp, rssBase, rssSynced, syncMs } = await startKubeControlPlane(dir, { kubeconfig: apiservers[0]!.kubeconfig, clusterId: clusterId(0) });
    const endpoints = cp.provider.snapshot.services.filter((s) => s.namespace === NS).reduce((n, s) => n + s.endpoints.length, 0);
    const pods = clusters * podsPerCluster;
    console.log(
      `multicluster: meshward listed ${clusters} clusters (${endpoints} endpoints of ${pods} pods in its model) in ${round(syncMs / 1000)} s; ` +
        `RSS ${rssSynced} bytes, ${Math.round((rssSynced - rssBase) / pods)} bytes per pod over the ${rssBase} before`,
    );

    // What each sidecar last received, by assignment; a change's waiters are told as responses arrive.
    const latest = new Map<string, ReadonlySet<string>>();
    let waiter: ((sidecar: string, name: string, addresses: ReadonlySet<string>, atMs: number) => void) | undefined;
    const sidecars: string[] = [];
    for (let c = 0; c < clusters; c++) {
      for (let k = 0; k < sidecarsPerCluster; k++) {
        const id = `${c}/${k}`;
        sidecars.push(id);
        const ads = new AdsClient(cp.xdsAddress);
        clients.push(ads);
        streams.push(sidecar(ads, c, k, (name, addresses, at) => {
          latest.set(`${id}|${name}`, addresses);
          waiter?.(id, name, addresses, at);
        }));
      }
    }
    const synced = performance.now() + 60_000;
    while (sidecars.some((id) => latest.get(`${id}|${edsName(0)}`)?.size !== clusters * Math.ceil(podsPerCluster / services)) && performance.now() < synced) await new Promise((r) => setTimeout(r, 50));
    console.log(`multicluster: ${sidecars.length} sidecars (${sidecarsPerCluster} per cluster) hold every cluster's endpoints`);

    const perSidecar: number[] = [];
    const lastPerChange: number[] = [];
    let converged = 0;
    for (let k = 0; k < changes; k++) {
      const c = k % clusters;
      const s = k % services;
      const slice = slices[c]![s]!;
      const ep = slice.endpoints[Math.floor(Math.random() * slice.endpoints.length)]!;
      ep.conditions.ready = !ep.conditions.ready;
      const want = ep.conditions.ready;
      const address = ep.addresses[0]!;
      const reached = new Map<string, number>();
      const done = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 30_000);
        waiter = (id, name, addresses, at) => {
          if (name !== edsName(s) || reached.has(id) || addresses.has(address) !== want) return;
          reached.set(id, at - t0);
          if (reached.size === sidecars.length) {
            clearTimeout(timer);
            resolve();
          }
        };
      });
      const t0 = performance.now();
      const r = await kube[c]!.request<Slice>("PUT", `/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices/${slice.metadata.name}`, { apiVersion: "discovery.k8s.io/v1", kind: "EndpointSlice", ...slice });
      slice.metadata.resourceVersion = r.metadata.resourceVersion;
      await done;
      waiter = undefined;
      perSidecar.push(...reached.values());
      if (reached.size === sidecars.length) {
        converged++;
        lastPerChange.push(Math.max(...reached.values()));
      }
    }
    perSidecar.sort((a, b) => a - b);
    lastPerChange.sort((a, b) => a - b);
    console.log(
      `multicluster: ${changes} changes round robin over ${clusters} clusters, ${converged} reached all ${sidecars.length} sidecars in every cluster; ` +
        `per sidecar p50 ${round(percentile(perSidecar, 50))} ms p99 ${round(percentile(perSidecar, 99))} ms; last sidecar per change p50 ${round(percentile(lastPerChange, 50))} ms p99 ${round(percentile(lastPerChange, 99))} ms`,
    );
    const peakRssBytes = process.resourceUsage().maxRSS * 1024;
    console.log(`multicluster: peak RSS ${peakRssBytes} bytes (control plane and driver in one process; the apiservers and etcds are apart)`);
    for (const st of streams) st.close();
    for (const a of clients) a.close();
    await cp.stop();
    for (const k of kube) k.close();
    console.log(
      JSON.stringify({
        clusters,
        podsPerCluster,
        services,
        sidecars: sidecars.length,
        changes,
        converged,
        convergeMsP50: round(percentile(perSidecar, 50)),
        convergeMsP99: round(percentile(perSidecar, 99)),
        lastSidecarMsP50: round(percentile(lastPerChange, 50)),
        rssSyncedBytes: rssSynced,
        bytesPerPod: Math.round((rssSynced - rssBase) / pods),
        peakRssBytes,
      }),
    );
  } finally {
    for (const k of apiservers) k.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err instanceof Error ? err.stack : String(err));
    process.exit(1);
  },
);
