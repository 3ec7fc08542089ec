// Remote-cluster Secrets in Istio's format (what `istioctl create-remote-secret` writes and
// `meshward create-remote-secret` writes too): a Secret labelled `istio/multiCluster: "true"` in
// the control plane's namespace whose every data key is a cluster id holding that cluster's
// kubeconfig. Reading one is a trust decision (the control plane will call that apiserver with
// those credentials), so, as istiod does by default, a kubeconfig that would run a program
// (`exec`, `auth-provider`) or read local files (`*-file`, `tokenFile`) is refused.
import { KubeConfig } from "@kubernetes/client-node";
import { parse as parseYaml } from "yaml";
import { isFields } from "../model/fields.js";

export const MULTICLUSTER_SECRET_LABEL = "istio/multiCluster";
/** istioctl's annotation naming the cluster a remote Secret is for. */
export const CLUSTER_ANNOTATION = "networking.istio.io/cluster";

export interface RemoteSecretObject {
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly labels?: Readonly<Record<string, string>>; readonly annotations?: Readonly<Record<string, string>> };
  readonly data?: Readonly<Record<string, string>>;
  readonly stringData?: Readonly<Record<string, string>>;
}

/** One cluster of a remote Secret, with the kubeconfig to reach it. */
export interface RemoteClusterConfig {
  readonly clusterId: string;
  readonly kubeConfig: KubeConfig;
  /** The kubeconfig text: a change of it means new credentials or a new address. */
  readonly text: string;
  /** `Secret ns/name` and the key: for logs and errors. */
  readonly from: string;
}

export interface RemoteSecretReading {
  readonly clusters: readonly RemoteClusterConfig[];
  /** Keys refused, each naming the Secret, the field path and why. */
  readonly errors: readonly string[];
}

const clusterIdPattern = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const FILE_FIELDS = ["certificate-authority", "client-certificate", "client-key", "tokenFile", "token-file"];

/** Why a kubeconfig document may not be used from a Secret, naming the field; undefined when it may. */
export function unsafeKubeconfigField(doc: unknown): string | undefined {
  if (!isFields(doc)) return "is not a kubeconfig (a YAML map)";
  const entries = (key: string): unknown[] => (Array.isArray(doc[key]) ? (doc[key] as unknown[]) : []);
  for (const [i, c] of entries("clusters").entries()) {
    const cluster = isFields(c) && isFields(c["cluster"]) ? c["cluster"] : {};
    for (const f of FILE_FIELDS) if (cluster[f] !== undefined) return `clusters[${i}].cluster.${f}: a file on the control plane's host is not allowed in a remote secret`;
  }
  for (const [i, u] of entries("users").entries()) {
    const user = isFields(u) && isFields(u["user"]) ? u["user"] : {};
    if (user["exec"] !== undefined) return `users[${i}].user.exec: exec credential plugins are not allowed in a remote secret`;
    if (user["auth-provider"] !== undefined) return `users[${i}].user.auth-provider: auth providers are not allowed in a remote secret`;
    for (const f of FILE_FIELDS) if (user[f] !== undefined) return `users[${i}].user.${f}: a file on the control plane's host is not allowed in a remote secret`;
  }
  return undefined;
}

/** Reads every cluster of a remote Secret; `localClusterId` (the control plane's own) is skipped. */
export function readRemoteSecret(secret: RemoteSecretObject, localClusterId: string): RemoteSecretReading {
  const ref = `Secret ${secret.metadata.namespace ?? ""}/${secret.metadata.name}`;
  const clusters: RemoteClusterConfig[] = [];
  const errors: string[] = [];
  const entries: [string, string, string][] = [
    ...Object.entries(secret.data ?? {}).map(([k, v]): [string, string, string] => [k, Buffer.from(v, "base64").toString("utf8"), `data.${k}`]),
    ...Object.entries(secret.stringData ?? {}).map(([k, v]): [string, string, string] => [k, v, `stringData.${k}`]),
  ];
  for (const [clusterId, text, path] of entries) {
    const where = `${ref}: ${path}`;
    if (!clusterIdPattern.test(clusterId)) {
      errors.push(`${where}: "${clusterId}" is not a cluster id (letters, digits, "-", "_", ".")`);
      continue;
    }
    if (clusterId === localClusterId) {
      errors.push(`${where}: cluster ${clusterId} is this control plane's own cluster; ignored`);
      continue;
    }
    let doc: unknown;
    try {
      doc = parseYaml(text);
    } catch (e) {
      errors.push(`${where}: not YAML: ${(e as Error).message}`);
      continue;
    }
    const unsafe = unsafeKubeconfigField(doc);
    if (unsafe !== undefined) {
      errors.push(`${where}: ${unsafe}`);
      continue;
    }
    const kubeConfig = new KubeConfig();
    try {
      kubeConfig.loadFromString(text);
    } catch (e) {
      errors.push(`${where}: not a kubeconfig: ${(e as Error).message}`);
      continue;
    }
    const server = kubeConfig.getCurrentCluster()?.server;
    if (server === undefined || server === "") {
      errors.push(`${where}: current-context names no cluster with a server`);
      continue;
    }
    clusters.push({ clusterId, kubeConfig, text, from: `${ref} key ${clusterId}` });
  }
  return { clusters, errors };
}
