// `meshward create-remote-secret`: what `istioctl create-remote-secret` does, for a cluster
// meshward can reach. In that cluster it applies a reader ServiceAccount with the least it needs
// (read the service registry and meshward's WorkloadEnforcements, review its workloads' tokens),
// asks the TokenRequest API for a token of it, and returns the Secret, in Istio's format, that the
// control plane's cluster needs to read this one. Nothing is written to the control plane's
// cluster: the user applies the Secret there (`| kubectl apply -f -`), as with istioctl.
import { KubeClient } from "../kube/client.js";
import { FIELD_MANAGER, objectPath } from "../install/apply.js";
import type { KubeObject } from "../install/manifest.js";
import { CLUSTER_ANNOTATION, MULTICLUSTER_SECRET_LABEL } from "./remote-secret.js";
import { stringify } from "yaml";
import { readFileSync } from "node:fs";

/** istioctl's reader ServiceAccount name. */
export const READER_SERVICE_ACCOUNT = "istio-reader-service-account";
/** Lifetime of the reader's token (`--token-ttl`): a year, as there is no token controller to renew a Secret-based one. */
export const DEFAULT_READER_TOKEN_TTL_SECONDS = 365 * 24 * 3600;

export interface RemoteSecretRequest {
  /** The cluster id the mesh will know this cluster by. */
  readonly name: string;
  /** The cluster's control plane namespace (where the reader ServiceAccount lives, default istio-system). */
  readonly namespace: string;
  readonly serviceAccount?: string;
  readonly tokenTtlSeconds?: number;
  /** The apiserver address the control plane will use (default: the kubeconfig's). */
  readonly server?: string;
}

const LABELS = { "app.kubernetes.io/managed-by": "meshward", "app.kubernetes.io/part-of": "meshward-multicluster" };

/** The reader's objects: ServiceAccount, ClusterRole (read-only, least privilege) and its binding. */
export function readerObjects(namespace: string, serviceAccount: string): KubeObject[] {
  const read = ["get", "list", "watch"];
  const name = `istio-reader-clusterrole-${namespace}`;
  return [
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: serviceAccount, namespace, labels: LABELS } },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name, labels: LABELS },
      rules: [
        { apiGroups: [""], resources: ["namespaces", "services", "pods", "nodes"], verbs: read },
        { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: read },
        // The cluster's quarantines, so every control plane enforces them (quarantine everywhere).
        { apiGroups: ["meshward.io"], resources: ["workloadenforcements"], verbs: read },
        // Workloads of this cluster present its tokens to the control plane (primary-remote).
        { apiGroups: ["authentication.k8s.io"], resources: ["tokenreviews"], verbs: ["create"] },
      ],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name, labels: LABELS },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name },
      subjects: [{ kind: "ServiceAccount", name: serviceAccount, namespace }],
    },
  ];
}

/** The serving CA of the kubeconfig's current cluster, as base64 PEM (what a kubeconfig embeds). */
function caData(client: KubeClient): string | undefined {
  const c = client.config.getCurrentCluster();
  if (c?.caData !== undefined && c.caData !== "") return c.caData;
  if (c?.caFile !== undefined && c.caFile !== "") return readFileSync(c.caFile).toString("base64");
  return undefined;
}

/** Applies the reader in the cluster `client` reaches and returns the remote Secret for the control plane. */
export async function createRemoteSecret(client: KubeClient, req: RemoteSecretRequest): Promise<KubeObject> {
  const sa = req.serviceAccount ?? READER_SERVICE_ACCOUNT;
  const apply = async (o: KubeObject): Promise<void> => {
    try {
      await client.request("PATCH", `${objectPath(o)}?fieldManager=${FIELD_MANAGER}&force=true`, o, "application/apply-patch+yaml");
    } catch (e) {
      throw new Error(`${o.kind} ${o.metadata.name}: ${(e as Error).message}`);
    }
  };
  await apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: req.namespace } });
  for (const o of readerObjects(req.namespace, sa)) await apply(o);
  const answer = await client.request<{ status?: { token?: string } }>("POST", `/api/v1/namespaces/${req.namespace}/serviceaccounts/${sa}/token`, {
    apiVersion: "authentication.k8s.io/v1",
    kind: "TokenRequest",
    spec: { expirationSeconds: req.tokenTtlSeconds ?? DEFAULT_READER_TOKEN_TTL_SECONDS },
  });
  const token = answer.status?.token;
  if (token === undefined || token === "") throw new Error(`TokenRequest for ServiceAccount ${req.namespace}/${sa}: no token in the answer`);
  const ca = caData(client);
  const cluster = client.config.getCurrentCluster();
  const kubeconfig = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: req.name, cluster: { server: req.server ?? cluster?.server ?? "", ...(ca !== undefined ? { "certificate-authority-data": ca } : {}), ...(cluster?.skipTLSVerify === true ? { "insecure-skip-tls-verify": true } : {}) } }],
    contexts: [{ name: req.name, context: { cluster: req.name, user: req.name } }],
    "current-context": req.name,
    preferences: {},
    users: [{ name: req.name, user: { token } }],
  };
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: `istio-remote-secret-${req.name}`,
      namespace: req.namespace,
      labels: { [MULTICLUSTER_SECRET_LABEL]: "true" },
      annotations: { [CLUSTER_ANNOTATION]: req.name },
    },
    stringData: { [req.name]: stringify(kubeconfig) },
  } as KubeObject;
}
