// Reading a Lease's holder straight from the apiserver, for the leader-election tests.
import { CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";

/** The Lease's holderIdentity as the apiserver has it; undefined when absent or empty. */
export async function leaseHolder(kc: KubeConfig, namespace: string, name = "meshward-leader"): Promise<string | undefined> {
  try {
    const lease = (await kc.makeApiClient(CustomObjectsApi).getNamespacedCustomObject({ group: "coordination.k8s.io", version: "v1", namespace, plural: "leases", name })) as { spec?: { holderIdentity?: string } };
    return lease.spec?.holderIdentity || undefined;
  } catch {
    return undefined;
  }
}
