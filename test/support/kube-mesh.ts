// What the Kubernetes end-to-end tests share: Istio's CRDs applied once per apiserver, and
// pod-like addresses on this host (the apiserver refuses loopback addresses in EndpointSlices), so a
// workload in this process can listen on its Pod's IP. Needs root.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { parseAllDocuments } from "yaml";
import { KubeConfig } from "@kubernetes/client-node";
import { KubeApiError, KubeClient } from "../../src/kube/client.js";
import { gatewayApiCrdsYaml, istioCrdsYaml, kubeApiserverBinaries, startKubeApiserver, type KubeApiserver } from "./kube-apiserver.js";
import { eventually } from "./eventually.js";

interface Crd {
  readonly metadata: { readonly name: string };
  readonly status?: { readonly conditions?: readonly { readonly type: string; readonly status: string }[] };
}

const applied = new Map<string, Promise<void>>();

/** Applies every CRD of `yaml` once per apiserver and waits until they are served. */
function applyCrds(client: KubeClient, what: string, yaml: () => string): Promise<void> {
  const key = `${what} ${client.server.href}`;
  let p = applied.get(key);
  if (p === undefined) {
    p = (async () => {
      const crds = parseAllDocuments(yaml())
        .map((d) => d.toJS() as (Crd & { kind?: string }) | null)
        .filter((d): d is Crd => d !== null && typeof d === "object" && d.kind === "CustomResourceDefinition");
      for (const crd of crds) {
        try {
          await client.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd);
        } catch (e) {
          if (!(e instanceof KubeApiError && e.status === 409)) throw e;
        }
      }
      for (const crd of crds) {
        await eventually(`CRD ${crd.metadata.name} established`, async () => {
          const now = await client.request<Crd>("GET", `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`);
          return now.status?.conditions?.some((c) => c.type === "Established" && c.status === "True") === true ? true : undefined;
        }, 30_000);
      }
    })();
    applied.set(key, p);
  }
  return p;
}

/** Applies every Istio CRD (istio.io/api's, from the Go module proxy) and waits until they are served. */
export function applyIstioCrds(client: KubeClient): Promise<void> {
  return applyCrds(client, "istio", istioCrdsYaml);
}

/** Applies the Gateway API's standard CRDs (sigs.k8s.io/gateway-api's, from the Go module proxy). */
export function applyGatewayApiCrds(client: KubeClient): Promise<void> {
  return applyCrds(client, "gateway-api", gatewayApiCrdsYaml);
}

/**
 * Pod addresses (in a random 10.x.y.0/24) on this host's loopback interface: a workload of this
 * process listens on its Pod's IP, and the apiserver accepts it in EndpointSlices (it refuses
 * 127.0.0.0/8). `close` removes them.
 */
export class LocalPodAddresses {
  private readonly prefix: string;
  private readonly added: string[] = [];

  constructor() {
    const r = randomBytes(2);
    this.prefix = `10.${200 + (r[0]! % 50)}.${r[1]}.`;
  }

  /** `<prefix><host>`, added to `lo`. */
  add(host: number): string {
    const address = `${this.prefix}${host}`;
    execFileSync("ip", ["addr", "add", `${address}/32`, "dev", "lo"]);
    this.added.push(address);
    return address;
  }

  close(): void {
    for (const a of this.added.splice(0)) {
      try {
        execFileSync("ip", ["addr", "del", `${a}/32`, "dev", "lo"], { stdio: "ignore" });
      } catch {
        // already gone
      }
    }
  }
}

/**
 * For a mocha `before` hook: a private apiserver (the caller stops it) with Istio's CRDs, and a
 * client; the suite is skipped with a printed reason when the binaries are missing (outside CI).
 */
export async function privateApiserverWithIstio(ctx: Mocha.Context): Promise<{ kas: KubeApiserver; kc: KubeConfig; client: KubeClient }> {
  const bins = kubeApiserverBinaries();
  if ("skip" in bins) {
    console.log(`      skipped: ${bins.skip}`);
    ctx.skip();
  }
  const kas = startKubeApiserver();
  const kc = new KubeConfig();
  kc.loadFromFile(kas.kubeconfig);
  const client = new KubeClient(kc);
  await applyIstioCrds(client);
  return { kas, kc, client };
}
