// Node-scoped issuance on Kubernetes (real kube-apiserver): where a pod runs is its Pod's
// spec.nodeName, not what a proxy announces. The agent of the Pod's node gets its certificate;
// another node's agent is refused naming the Pods as the source, even while an authenticated proxy
// of that identity claims (NODE_NAME) to run on the other node; a deleted Pod is on no node.
import * as grpc from "@grpc/grpc-js";
import { strict as assert } from "node:assert";
import { generateKeyPairSync, X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CoreV1Api } from "@kubernetes/client-node";
import { CaClient } from "../../src/ca/ca-api.js";
import { createCsr } from "../../src/ca/csr-builder.js";
import { IMPERSONATED_IDENTITY, IMPERSONATED_POD } from "../../src/ca/node-impersonation.js";
import { KubeClient } from "../../src/kube/client.js";
import type { ControlPlane } from "../../src/mesh/control-plane.js";
import { uriSans } from "../../src/security/certificate-authenticator.js";
import { TokenKey } from "../../src/security/token-key.js";
import { NODE_NAMESPACE, nodeServiceAccount } from "../../src/signals/node-identity.js";
import { TypeUrl } from "../../src/xds/types.js";
import { AdsClient, bearer, type SotwClientStream } from "../support/ads-client.js";
import { startTestControlPlane } from "../support/control-plane.js";
import { eventually } from "../support/eventually.js";
import { kubeApiserverOrSkip, uniqueName } from "../support/kube-apiserver.js";
import { applyIstioCrds } from "../support/kube-mesh.js";

describe("node-scoped issuance on Kubernetes (pods placed by spec.nodeName)", function () {
  const ns = uniqueName("impersonate");
  const identity = `spiffe://cluster.local/ns/${ns}/sa/cart`;
  let core: CoreV1Api;
  let dir: string | undefined;
  let cp: ControlPlane | undefined;
  let tokens: TokenKey;
  let ca: CaClient | undefined;
  let ads: AdsClient | undefined;
  let claim: SotwClientStream | undefined;

  const ask = (node: string, pod: string): Promise<string[]> => {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    return ca!.createCertificate({
      csrPem: createCsr(privateKey, publicKey),
      token: tokens.mint({ namespace: NODE_NAMESPACE, serviceAccount: nodeServiceAccount(node) }),
      metadata: { [IMPERSONATED_IDENTITY]: identity, [IMPERSONATED_POD]: `${ns}/${pod}` },
    });
  };
  const refusal = (p: Promise<unknown>): Promise<string | undefined> =>
    p.then(
      () => undefined,
      (e: grpc.ServiceError) => (e.code === grpc.status.PERMISSION_DENIED ? e.details : `unexpected ${e.code}: ${e.details}`),
    );

  before(async function () {
    const kas = kubeApiserverOrSkip(this);
    const client = new KubeClient({ kubeconfig: kas.kubeconfig });
    await applyIstioCrds(client);
    core = client.config.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: ns } } });
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: "cart" } } });
    // Bound to n1 at creation, as the scheduler would bind it.
    await core.createNamespacedPod({
      namespace: ns,
      body: { metadata: { name: "cart-1", labels: { app: "cart" } }, spec: { serviceAccountName: "cart", nodeName: "n1", containers: [{ name: "cart", image: "cart" }] } },
    });
    dir = mkdtempSync(join(tmpdir(), "meshward-impersonation-kube-"));
    writeFileSync(join(dir, "mesh.yaml"), "trustDomain: cluster.local\n");
    cp = await startTestControlPlane(dir, { kubernetes: { kubeconfig: kas.kubeconfig } });
    tokens = await TokenKey.loadOrCreate(join(dir, ".data"));
    ca = new CaClient(cp.xdsAddress, grpc.credentials.createInsecure());
    ads = new AdsClient(cp.xdsAddress);
  });

  after(async () => {
    claim?.cancel();
    ads?.close();
    ca?.close();
    await cp?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    await core?.deleteNamespace({ name: ns }).catch(() => undefined);
  });

  it("the agent of the Pod's node gets its certificate; another node's agent is refused, whatever a proxy claims", async function () {
    this.timeout(60_000);
    const chain = await eventually("cart-1 placed on n1 from its Pod", () => ask("n1", "cart-1").catch(() => undefined), 30_000);
    assert.deepEqual(uriSans(new X509Certificate(chain[0])), [identity]);

    // An authenticated proxy of the same identity says it runs on n2: the Pod says n1, and the Pod decides.
    claim = ads!.sotw(
      { id: `sidecar~10.1.0.9~cart-1.${ns}~${ns}.svc.cluster.local`, metadata: { NAMESPACE: ns, SERVICE_ACCOUNT: "cart", NODE_NAME: "n2" } },
      undefined,
      bearer(tokens.mint({ namespace: ns, serviceAccount: "cart" })),
    );
    claim.subscribe(TypeUrl.Cluster, []);
    await claim.next();
    const details = await refusal(ask("n2", "cart-1"));
    assert.ok(details !== undefined, "n2's agent was given cart-1's certificate on a proxy's word");
    assert.match(details, /pod .*cart-1 .* is scheduled on node "n2" \(Kubernetes Pods' spec\.nodeName\)/);
  });

  it("a deleted Pod is on no node: its node's agent is refused from then on", async function () {
    this.timeout(60_000);
    await core.deleteNamespacedPod({ name: "cart-1", namespace: ns, gracePeriodSeconds: 0 });
    const details = await eventually("cart-1 gone from n1", () => refusal(ask("n1", "cart-1")), 30_000);
    assert.match(details, /scheduled on node "n1" \(Kubernetes Pods' spec\.nodeName\)/);
  });
});
