// Two (or more) real clusters for the multi-cluster tests: each a private kube-apiserver with its
// own etcd, a client, and helpers to play the parts no controller plays here (a Pod's IP through
// the status subresource, the EndpointSlice of a Service), plus the remote Secret of one cluster
// made by meshward's own create-remote-secret and applied in another.
import { KubeClient } from "../../src/kube/client.js";
import { startKubeApiserver, type KubeApiserver } from "./kube-apiserver.js";
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
export async function createPod(c: TestCluster, ns: string, name: string, ip: string, port: number, labels: Record<string, string> = {}): Promise<string> {
  const created = await c.client.request<{ metadata: { uid: string } }>("POST", `/api/v1/namespaces/${ns}/pods`, {
    metadata: { name, labels: { app: "echo", pod: name, ...labels } },
    spec: { serviceAccountName: "echo", containers: [{ name: "echo", image: "echo", ports: [{ name: "grpc-echo", containerPort: port }] }] },
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
