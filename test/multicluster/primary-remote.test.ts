// Primary-remote on a flat network, end to end: one meshward (the primary, in cluster-a) reads
// cluster-b through its remote Secret; workloads "in" cluster-b connect to it with CLUSTER_ID
// cluster-b. grpc-js-xds workloads of both clusters reach the Service's endpoints in both; a
// cluster-b workload proves who it is with cluster-b's own service-account token, reviewed by
// cluster-b's apiserver (the remote Secret's reader may create TokenReviews), and a proxy cannot
// claim to be in a cluster other than the one whose apiserver vouched for it.
import assert from "node:assert/strict";
import { generateKeyPairSync, X509Certificate } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { CaClient } from "../../src/ca/ca-api.js";
import { createCsr } from "../../src/ca/csr-builder.js";
import type { ControlPlane } from "../../src/mesh/control-plane.js";
import { TypeUrl } from "../../src/xds/types.js";
import { startTestControlPlane } from "../support/control-plane.js";
import { eventually } from "../support/proxyless.js";
import { AdsClient, bearer } from "../support/ads-client.js";
import { answers, linkClusters, startEchoClusters, stopEchoClusters, type EchoClusters, type TestCluster } from "../support/multicluster.js";

const HOST = "echo.demo.svc.cluster.local";

const csr = (): string => {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  return createCsr(privateKey, publicKey, "spiffe://cluster.local/ns/demo/sa/echo");
};

describe("primary-remote: one control plane reads a remote cluster whose workloads it serves", function () {
  this.timeout(240_000);
  let t: EchoClusters | undefined;
  let cp: ControlPlane | undefined;
  let ca: CaClient | undefined;
  let ads: AdsClient | undefined;

  /** A bound token for demo/echo from `cluster`'s TokenRequest API (audience istio-ca). */
  const token = async (cluster: TestCluster): Promise<string> =>
    (await cluster.client.request<{ status: { token: string } }>("POST", "/api/v1/namespaces/demo/serviceaccounts/echo/token", { spec: { audiences: ["istio-ca"], expirationSeconds: 600 } })).status.token;

  before(async function () {
    t = await startEchoClusters(this, [21, 22]);
    const { a, b, workloads, addresses, ips, ports, dir } = t;
    await linkClusters(a, b);
    const log = process.env["MESHWARD_TEST_LOG"] === "1" ? { log: (l: string) => console.log(l) } : {};
    cp = await startTestControlPlane(dir, { kubernetes: { kubeconfig: a.kas.kubeconfig, clusterId: a.id }, ...log });
    for (const [pod, cluster] of [["echo-a", a], ["echo-b", b]] as const) {
      await workloads.startServer(pod, `${ips.get(pod)!}:${ports.get(pod)!}`, cp.xdsAddress, { ip: ips.get(pod)!, pod, namespace: "demo", serviceAccount: "echo", labels: { app: "echo" }, clusterId: cluster.id });
    }
    await workloads.startClient("client-b", `${HOST}:7070`, cp.xdsAddress, { ip: addresses.add(102), pod: "client-b", namespace: "demo", clusterId: b.id });
    ca = new CaClient(cp.xdsAddress, grpc.credentials.createInsecure());
    ads = new AdsClient(cp.xdsAddress);
  });

  after(async () => {
    ca?.close();
    ads?.close();
    t?.workloads.stop();
    await cp?.stop();
    stopEchoClusters(t);
  });

  it("lets a grpc-js-xds workload of the remote cluster reach the Service's endpoints in both clusters", async function () {
    this.timeout(90_000);
    const both = await eventually("client-b reaching both clusters", async () => {
      const seen = await answers(t!.workloads, "client-b");
      return seen.has("echo-a") && seen.has("echo-b") ? seen : undefined;
    }, 60_000);
    assert.deepEqual([...both].sort(), ["echo-a", "echo-b"]);
    const pod = cp!.provider.snapshot.allPods.find((p) => p.name === "echo-b");
    assert.equal(pod?.cluster, "cluster-b");
  });

  it("issues a remote workload's certificate on its own cluster's token, reviewed by its own cluster's apiserver", async function () {
    this.timeout(30_000);
    const chain = await ca!.createCertificate({ csrPem: csr(), token: await token(t!.b), clusterId: "cluster-b" });
    assert.equal(new X509Certificate(chain[0]!).subjectAltName, "URI:spiffe://cluster.local/ns/demo/sa/echo");
  });

  it("refuses a remote cluster's token reviewed as another cluster's, and a cluster the mesh does not read", async function () {
    this.timeout(30_000);
    const fromB = await token(t!.b);
    // No clusterid: cluster-a's apiserver reviews it and does not know cluster-b's signing key.
    await assert.rejects(ca!.createCertificate({ csrPem: csr(), token: fromB }), (e: grpc.ServiceError) => e.code === grpc.status.UNAUTHENTICATED && /rejected by the apiserver/.test(e.details));
    await assert.rejects(ca!.createCertificate({ csrPem: csr(), token: fromB, clusterId: "cluster-z" }), (e: grpc.ServiceError) => e.code === grpc.status.UNAUTHENTICATED && /cluster cluster-z/.test(e.details));
  });

  it("refuses an xDS stream whose CLUSTER_ID is not the cluster that vouched for its token", async function () {
    this.timeout(30_000);
    const md = bearer(await token(t!.b));
    md.set("clusterid", "cluster-b");
    const node = (cluster: string) => ({ id: `sidecar~${t!.ips.get("echo-b")}~echo-b.demo~demo.svc.cluster.local`, metadata: { NAMESPACE: "demo", SERVICE_ACCOUNT: "echo", CLUSTER_ID: cluster } });
    const liar = ads!.sotw(node("cluster-a"), undefined, md);
    liar.subscribe(TypeUrl.Cluster, []);
    const status = await liar.status;
    assert.equal(status.code, grpc.status.PERMISSION_DENIED, status.details);
    assert.match(status.details, /claims CLUSTER_ID "cluster-a" but its token was reviewed by cluster cluster-b/);
    const honest = ads!.sotw(node("cluster-b"), undefined, md);
    honest.subscribe(TypeUrl.Cluster, []);
    const r = await honest.next(15_000);
    assert.ok(r.resources.length > 0, "the honest stream is served");
    honest.close();
  });
});
