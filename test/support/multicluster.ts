// Two (or more) real clusters for the multi-cluster tests: each a private kube-apiserver with its
// own etcd, a client, and helpers to play the parts no controller plays here (a Pod's IP through
// the status subresource, the EndpointSlice of a Service), plus the remote Secret of one cluster
// made by meshward's own create-remote-secret and applied in another.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeClient } from "../../src/kube/client.js";
import { kubeApiserverBinaries, startKubeApiserver, type KubeApiserver } from "./kube-apiserver.js";
import { LocalPodAddresses } from "./kube-mesh.js";
import { freePort } from "./proxyless.js";
import { callOutcome, RbacWorkloads } from "./rbac-workloads.js";
import { skipUnlessRoot } from "../agent/fixture.js";
import { createRemoteSecret } from "../../src/multicluster/create-remote-secret.js";
import { KubeApiError } from "../../src/kube/client.js";

export interface TestCluster {
  readonly id: string;
  readonly kas: KubeApiserver;
  readonly client: KubeClient;
}

export function startCluster(id: string): TestCluster {
  const kas = startKubeApiserver();
  return { id, kas, client: new KubeClient({ kubeconfig: kas.kubeconfig }) };
}

export function stopCluster(c: TestCluster | undefined): void {
  c?.client.close();
  c?.kas.stop();
}

async function create(client: KubeClient, path: string, body: object): Promise<void> {
  try {
    await client.request("POST", path, body);
  } catch (e) {
    if (!(e instanceof KubeApiError && e.status === 409)) throw e;
  }
}

export const createNamespace = (c: TestCluster, name: string, labels: Record<string, string> = {}): Promise<void> =>
  create(c.client, "/api/v1/namespaces", { metadata: { name, labels } });

/** A Service with one gRPC port whose targetPort is the pods' named port `grpc-echo`. */
export async function createEchoService(c: TestCluster, ns: string, labels: Record<string, string> = {}, extra: object = {}): Promise<void> {
  await create(c.client, `/api/v1/namespaces/${ns}/services`, {
    metadata: { name: "echo", labels },
    spec: { selector: { app: "echo" }, ports: [{ name: "grpc-echo", port: 7070, targetPort: "grpc-echo" }], ...extra },
  });
}

/** A running Pod with `ip` (set through the status subresource, as a kubelet would), listening on `port`. */
export async function createPod(c: TestCluster, ns: string, name: string, ip: string, port: number, labels: Record<string, string> = {}, node?: string): Promise<string> {
  const created = await c.client.request<{ metadata: { uid: string } }>("POST", `/api/v1/namespaces/${ns}/pods`, {
    metadata: { name, labels: { app: "echo", pod: name, ...labels } },
    spec: { serviceAccountName: "echo", ...(node !== undefined ? { nodeName: node } : {}), containers: [{ name: "echo", image: "echo", ports: [{ name: "grpc-echo", containerPort: port }] }] },
  });
  const current = await c.client.request<object>("GET", `/api/v1/namespaces/${ns}/pods/${name}`);
  await c.client.request("PUT", `/api/v1/namespaces/${ns}/pods/${name}/status`, { ...current, status: { phase: "Running", podIP: ip, podIPs: [{ ip }] } });
  return created.metadata.uid;
}

/** The Service's EndpointSlice `echo-<name>` with one ready endpoint: the pod `name` at `ip:port`. */
export async function createSlice(c: TestCluster, ns: string, pod: string, ip: string, port: number): Promise<void> {
  await create(c.client, `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`, {
    metadata: { name: `echo-${pod}`, labels: { "kubernetes.io/service-name": "echo" } },
    addressType: "IPv4",
    endpoints: [{ addresses: [ip], conditions: { ready: true }, targetRef: { kind: "Pod", name: pod, namespace: ns } }],
    ports: [{ name: "grpc-echo", port, protocol: "TCP" }],
  });
}

/** `remote`'s Secret (meshward create-remote-secret, run against `remote`), created in `primary`'s istio-system. */
export async function linkClusters(primary: TestCluster, remote: TestCluster): Promise<object> {
  const secret = await createRemoteSecret(remote.client, { name: remote.id, namespace: "istio-system" });
  await createNamespace(primary, "istio-system");
  await create(primary.client, "/api/v1/namespaces/istio-system/secrets", secret);
  return secret;
}

export async function unlinkClusters(primary: TestCluster, remote: TestCluster): Promise<void> {
  await primary.client.request("DELETE", `/api/v1/namespaces/istio-system/secrets/istio-remote-secret-${remote.id}`);
}

/** Two clusters, each with namespace demo, ServiceAccount echo, Service echo and one Pod `echo-<a|b>` (on node `node-<a|b>`) behind it. */
export interface EchoClusters {
  readonly a: TestCluster;
  readonly b: TestCluster;
  readonly addresses: LocalPodAddresses;
  /** grpc-js-xds workloads (one child process). */
  readonly workloads: RbacWorkloads;
  /** A mesh-config directory (mesh.yaml only) for the control planes. */
  readonly dir: string;
  /** Pod address, port and uid by pod name. */
  readonly ips: ReadonlyMap<string, string>;
  readonly ports: ReadonlyMap<string, number>;
  readonly uids: ReadonlyMap<string, string>;
}

/**
 * For a mocha `before` hook: two real clusters with the echo Service in both (pod `echo-a` at
 * <prefix>.`hosts[0]`, `echo-b` at `hosts[1]`), or the suite is skipped (outside CI) without the
 * apiserver binaries or root. The caller stops it with `stopEchoClusters` in `after`.
 */
export async function startEchoClusters(ctx: Mocha.Context, hosts: readonly [number, number]): Promise<EchoClusters> {
  const bins = kubeApiserverBinaries();
  if ("skip" in bins) {
    console.log(`      skipped: ${bins.skip}`);
    ctx.skip();
  }
  skipUnlessRoot(ctx);
  const a = startCluster("cluster-a");
  const b = startCluster("cluster-b");
  const addresses = new LocalPodAddresses();
  const ips = new Map<string, string>();
  const ports = new Map<string, number>();
  const uids = new Map<string, string>();
  const dir = mkdtempSync(join(tmpdir(), "meshward-multicluster-"));
  writeFileSync(join(dir, "mesh.yaml"), "trustDomain: cluster.local\nrootNamespace: istio-system\n");
  const t: EchoClusters = { a, b, addresses, workloads: new RbacWorkloads(), dir, ips, ports, uids };
  for (const [cluster, pod, host] of [[a, "echo-a", hosts[0]], [b, "echo-b", hosts[1]]] as const) {
    await createNamespace(cluster, "demo");
    await create(cluster.client, "/api/v1/namespaces/demo/serviceaccounts", { metadata: { name: "echo" } });
    await createEchoService(cluster, "demo");
    const ip = addresses.add(host);
    const port = await freePort();
    ips.set(pod, ip);
    ports.set(pod, port);
    // Each on a node of its own cluster (`node-a`, `node-b`), where that cluster's agent runs.
    uids.set(pod, await createPod(cluster, "demo", pod, ip, port, {}, `node-${pod.slice(-1)}`));
    await createSlice(cluster, "demo", pod, ip, port);
  }
  return t;
}

export function stopEchoClusters(t: EchoClusters | undefined): void {
  if (t === undefined) return;
  t.workloads.stop();
  stopCluster(t.a);
  stopCluster(t.b);
  t.addresses.close();
  rmSync(t.dir, { recursive: true, force: true });
}

/** The backends answering `client` over `calls` calls (`echo-a`, `echo-b`, or an error outcome). */
export async function answers(workloads: RbacWorkloads, client: string, calls = 8): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < calls; i++) seen.add(callOutcome(await workloads.call(client, { timeoutMs: 2000 })).replace(/^ok:/, ""));
  return seen;
}
