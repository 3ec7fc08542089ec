// Applying and removing the install manifest against an apiserver: server-side apply (field
// manager `meshward`, conflicts forced, as `kubectl apply --server-side --force-conflicts`), then
// waiting until the CRDs are established and the control plane's Deployment is available; and the
// removal of the same objects in reverse order. The namespace is kept, as `istioctl uninstall`
// keeps istio-system: other things may live there.
// Requests are raw JSON through src/kube/client.ts: client-node's typed models would drop CRD
// schema keywords they do not model.
import { KubeApiError, KubeClient } from "../kube/client.js";
import { CONTROL_PLANE_NAME, installManifest, type InstallValues, type KubeObject } from "./manifest.js";

export const FIELD_MANAGER = "meshward";

/** The object's URL; every kind in the manifest has the plural `<kind>s`. */
export function objectPath(o: KubeObject): string {
  const base = o.apiVersion.includes("/") ? `/apis/${o.apiVersion}` : `/api/${o.apiVersion}`;
  const ns = o.metadata.namespace !== undefined ? `/namespaces/${o.metadata.namespace}` : "";
  return `${base}${ns}/${o.kind.toLowerCase()}s/${o.metadata.name}`;
}

const describe = (o: KubeObject): string => `${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ""}${o.metadata.name}`;

async function until(what: string, timeoutMs: number, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export interface ApplyOptions {
  /** Wait for the Deployment to be available (CRDs are always waited for); default true. */
  readonly wait?: boolean;
  readonly timeoutMs?: number;
  readonly log?: (line: string) => void;
}

export async function applyInstall(client: KubeClient, v: InstallValues, opts: ApplyOptions = {}): Promise<KubeObject[]> {
  const log = opts.log ?? (() => undefined);
  const timeoutMs = opts.timeoutMs ?? 300_000;
  const objects = installManifest(v);
  for (const o of objects) {
    try {
      await client.request("PATCH", `${objectPath(o)}?fieldManager=${FIELD_MANAGER}&force=true`, o, "application/apply-patch+yaml");
    } catch (e) {
      throw new Error(`${describe(o)}: ${(e as Error).message}`);
    }
    log(`applied ${describe(o)}`);
    // The next objects may be of this kind: the CRD must be served first.
    if (o.kind === "CustomResourceDefinition") {
      await until(`${describe(o)} to be Established`, timeoutMs, async () => {
        const crd = await client.request<{ status?: { conditions?: { type: string; status: string }[] } }>("GET", objectPath(o));
        return (crd.status?.conditions ?? []).some((c) => c.type === "Established" && c.status === "True");
      });
    }
  }
  if (opts.wait ?? true) {
    const d = objects.find((o) => o.kind === "Deployment")!;
    await until(`Deployment ${v.namespace}/${CONTROL_PLANE_NAME} to have ${v.replicas} available replica(s)`, timeoutMs, async () => {
      const got = await client.request<{ metadata?: { generation?: number }; status?: { availableReplicas?: number; observedGeneration?: number } }>("GET", objectPath(d));
      return (got.status?.availableReplicas ?? 0) >= v.replicas && (got.status?.observedGeneration ?? 0) >= (got.metadata?.generation ?? 1);
    });
    log(`Deployment ${v.namespace}/${CONTROL_PLANE_NAME} is available`);
  }
  return objects;
}

/** Deletes every installed object but the namespace; objects already gone are fine. */
export async function removeInstall(client: KubeClient, v: InstallValues, log: (line: string) => void = () => undefined): Promise<KubeObject[]> {
  const removed: KubeObject[] = [];
  for (const o of installManifest(v).reverse()) {
    if (o.kind === "Namespace") continue;
    try {
      await client.request("DELETE", objectPath(o));
      removed.push(o);
      log(`removed ${describe(o)}`);
    } catch (e) {
      if (!(e instanceof KubeApiError && e.status === 404)) throw new Error(`${describe(o)}: ${(e as Error).message}`);
    }
  }
  return removed;
}
