// Istio's CRDs (from the istio.io/api Go module, never committed) installed into a test apiserver.
// Sent as raw JSON: client-node's typed CRD model drops schema keywords (anyOf, int-or-string).
import { KubeConfig } from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import { KubeApiError, KubeClient } from "../../src/kube/client.js";
import { istioCrdsYaml, kubeApiserverBinaries, startKubeApiserver, type KubeApiserver } from "./kube-apiserver.js";

interface Crd {
  kind?: string;
  metadata: { name: string };
  status?: { conditions?: { type: string; status: string }[] };
}

const CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";

/** Creates every Istio CRD that is missing and waits until each is Established. */
export async function applyIstioCrds(kc: KubeConfig): Promise<void> {
  const client = new KubeClient(kc);
  const crds = parseAllDocuments(istioCrdsYaml())
    .map((d) => d.toJS() as Crd | null)
    .filter((c): c is Crd => c !== null && c.kind === "CustomResourceDefinition");
  for (const body of crds) {
    try {
      await client.request("POST", CRDS, body);
    } catch (e) {
      if (!(e instanceof KubeApiError && e.status === 409)) throw e;
    }
  }
  for (const c of crds) {
    for (;;) {
      const got = await client.request<Crd>("GET", `${CRDS}/${c.metadata.name}`);
      if (got.status?.conditions?.some((x) => x.type === "Established" && x.status === "True")) break;
      await new Promise((r) => setTimeout(r, 100));
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
  await applyIstioCrds(kc);
  return { kas, kc, client: new KubeClient(kc) };
}
