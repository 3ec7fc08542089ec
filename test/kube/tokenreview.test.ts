// Service-account tokens from the TokenRequest API get workload certificates through TokenReview
// (a real kube-apiserver), for the identity the apiserver vouches for; forged tokens and tokens for
// another audience get UNAUTHENTICATED; a token is reviewed once while it lives.
import assert from "node:assert/strict";
import { generateKeyPairSync, X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { CoreV1Api } from "@kubernetes/client-node";
import { CaClient } from "../../src/ca/ca-api.js";
import { createCsr } from "../../src/ca/csr-builder.js";
import { KubeClient } from "../../src/kube/client.js";
import type { ControlPlane } from "../../src/mesh/control-plane.js";
import { TokenReviewAuthenticator } from "../../src/security/tokenreview.js";
import { kubeApiserverOrSkip, uniqueName, type KubeApiserver } from "../support/kube-apiserver.js";
import { startTestControlPlane } from "../support/control-plane.js";

const csr = (): string => {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  return createCsr(privateKey, publicKey, "spiffe://cluster.local/ns/kube-system/sa/admin");
};

describe("TokenReview authentication (real kube-apiserver)", function () {
  let kas: KubeApiserver;
  let core: CoreV1Api;
  let kube: KubeClient;
  let cp: ControlPlane | undefined;
  let ca: CaClient | undefined;
  let dir: string | undefined;
  const ns = uniqueName("tokens");

  const token = async (audiences: string[], pod?: { name: string; uid: string }): Promise<string> => {
    const r = await core.createNamespacedServiceAccountToken({
      name: "app",
      namespace: ns,
      body: { spec: { audiences, expirationSeconds: 600, ...(pod !== undefined ? { boundObjectRef: { apiVersion: "v1", kind: "Pod", ...pod } } : {}) } },
    });
    return r.status!.token;
  };

  before(async function () {
    kas = kubeApiserverOrSkip(this);
    kube = new KubeClient({ kubeconfig: kas.kubeconfig });
    core = kube.config.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: ns } } });
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: "app" } } });
    dir = mkdtempSync(join(tmpdir(), "meshward-tokenreview-"));
    writeFileSync(join(dir, "mesh.yaml"), "trustDomain: cluster.local\n");
    cp = await startTestControlPlane(dir, { kubernetes: { kubeconfig: kas.kubeconfig } });
    ca = new CaClient(cp.xdsAddress, grpc.credentials.createInsecure());
  });
  after(async () => {
    ca?.close();
    await cp?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  const rejected = async (tokenText: string, why: RegExp): Promise<void> => {
    await assert.rejects(ca!.createCertificate({ csrPem: csr(), token: tokenText }), (e: grpc.ServiceError) => {
      assert.equal(e.code, grpc.status.UNAUTHENTICATED, `${grpc.status[e.code]}: ${e.details}`);
      assert.match(e.details, why);
      return true;
    });
  };

  it("a pod-bound token from the TokenRequest API gets a certificate for its service account, not for what the CSR asks", async function () {
    this.timeout(30_000);
    const pod = await core.createNamespacedPod({ namespace: ns, body: { metadata: { name: "app-1" }, spec: { serviceAccountName: "app", containers: [{ name: "app", image: "app" }] } } });
    const chain = await ca!.createCertificate({ csrPem: csr(), token: await token(["istio-ca"], { name: "app-1", uid: pod.metadata!.uid! }) });
    const leaf = new X509Certificate(chain[0]!);
    assert.equal(leaf.subjectAltName, `URI:spiffe://cluster.local/ns/${ns}/sa/app`);
  });

  it("a forged token (signature altered) gets UNAUTHENTICATED", async function () {
    this.timeout(30_000);
    const good = await token(["istio-ca"]);
    const [h, c, sig] = good.split(".") as [string, string, string];
    const flipped = `${sig.slice(0, 10)}${sig[10] === "A" ? "B" : "A"}${sig.slice(11)}`;
    await rejected(`${h}.${c}.${flipped}`, /service-account token: rejected by the apiserver/);
    // Claims rewritten to another service account, signature kept.
    const claims = JSON.parse(Buffer.from(c, "base64url").toString()) as { sub: string };
    claims.sub = `system:serviceaccount:${ns}:admin`;
    await rejected(`${h}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.${sig}`, /rejected by the apiserver/);
  });

  it("a token for another audience gets UNAUTHENTICATED", async function () {
    this.timeout(30_000);
    await rejected(await token(["some-other-audience"]), /rejected by the apiserver.*audience/);
  });

  it("a token is reviewed once while it lives, however many calls carry it", async function () {
    this.timeout(30_000);
    const reviewer = new TokenReviewAuthenticator({ client: kube, clusterId: "Kubernetes", trustDomain: "cluster.local" });
    const t = await token(["istio-ca"]);
    const md = new grpc.Metadata();
    md.set("authorization", `Bearer ${t}`);
    const results = await Promise.all([1, 2, 3].map(() => reviewer.authenticate({ metadata: md, peer: "127.0.0.1:1" })));
    await reviewer.authenticate({ metadata: md, peer: "127.0.0.1:1" });
    assert.ok(results.every((r) => r.ok && r.identity.serviceAccount === "app" && r.identity.namespace === ns), JSON.stringify(results));
    assert.equal(reviewer.reviews, 1);
    const other = new grpc.Metadata();
    other.set("authorization", `Bearer ${t}`);
    other.set("clusterid", "another-cluster");
    const r = await reviewer.authenticate({ metadata: other, peer: "127.0.0.1:1" });
    assert.ok(!r.ok && r.kind === "fail" && /cluster another-cluster/.test(r.reason), JSON.stringify(r));
  });
});
