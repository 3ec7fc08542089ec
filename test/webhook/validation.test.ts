// The validating admission webhook: the real apiserver calls meshward over TLS on loopback for every
// create and update of an Istio or meshward object. A bad AuthorizationPolicy is refused with
// meshward's message (object, field path), a good one is admitted, the Lease holder sets the
// webhook's caBundle and failure policy, and with meshward gone the stated policy (Fail) refuses
// what it can no longer judge.
import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import type { ControlPlane } from "../../src/mesh/control-plane.js";
import { KubeApiError, KubeClient } from "../../src/kube/client.js";
import { validatingWebhook, installValues } from "../../src/install/manifest.js";
import { validate } from "../../src/webhook/validation.js";
import { validatorName } from "../../src/webhook/ca-bundle.js";
import { startTestControlPlane } from "../support/control-plane.js";
import { eventually } from "../support/eventually.js";
import type { KubeApiserver } from "../support/kube-apiserver.js";
import { privateApiserverWithIstio } from "../support/kube-mesh.js";
import { freePort } from "../support/proxyless.js";

const review = (operation: string, object: unknown) => ({
  apiVersion: "admission.k8s.io/v1",
  kind: "AdmissionReview",
  request: {
    uid: "u-1",
    kind: { group: "security.istio.io", version: "v1", kind: "AuthorizationPolicy" },
    resource: { group: "security.istio.io", version: "v1", resource: "authorizationpolicies" },
    operation,
    object,
  },
});

const badPolicy = (ns: string) => ({
  apiVersion: "security.istio.io/v1",
  kind: "AuthorizationPolicy",
  metadata: { name: "bad", namespace: ns },
  spec: { action: "ALLOW", rules: [{ from: [{ source: { ipBlocks: ["not-an-ip"] } }] }] },
});

const goodPolicy = (ns: string, name = "good") => ({
  apiVersion: "security.istio.io/v1",
  kind: "AuthorizationPolicy",
  metadata: { name, namespace: ns },
  spec: { action: "ALLOW", rules: [{ from: [{ source: { namespaces: [ns] } }] }] },
});

type Response = { response: { uid: string; allowed: boolean; status?: { message: string } } };

describe("validating webhook: one object judged alone", () => {
  it("refuses a bad object naming the object and the field path, admits a good one and every delete", () => {
    const bad = validate(review("CREATE", badPolicy("shop")), "Kubernetes") as Response;
    assert.equal(bad.response.uid, "u-1");
    assert.equal(bad.response.allowed, false);
    assert.match(bad.response.status!.message, /AuthorizationPolicy shop\/bad: spec\.rules\[0\]\.from\[0\]\.source\.ipBlocks\[0\]/);
    assert.equal((validate(review("UPDATE", goodPolicy("shop")), "Kubernetes") as Response).response.allowed, true);
    assert.equal((validate(review("DELETE", null), "Kubernetes") as Response).response.allowed, true);
  });
});

describe("validating webhook called by a real apiserver", function () {
  this.timeout(180_000);
  let kas: KubeApiserver | undefined;
  let client: KubeClient;
  let cp: ControlPlane | undefined;
  let dir: string;
  const ns = "mesh-hooks";
  const policies = `/apis/security.istio.io/v1/namespaces/${ns}/authorizationpolicies`;
  const configPath = `/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${validatorName(ns)}`;

  before(async function () {
    const k = await privateApiserverWithIstio(this);
    kas = k.kas;
    const kc = k.kc;
    client = k.client;
    await client.request("POST", "/api/v1/namespaces", { metadata: { name: ns } });
    // The manifest's configuration, pointed at this test's loopback port (no Service routing here).
    const port = await freePort();
    const hook = validatingWebhook(installValues([`namespace=${ns}`])) as unknown as { webhooks: { clientConfig: unknown }[] };
    hook.webhooks[0]!.clientConfig = { url: `https://localhost:${port}/validate` };
    await client.request("POST", "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations", hook);
    dir = mkdtempSync(join(tmpdir(), "meshward-webhook-"));
    cp = await startTestControlPlane(dir, {
      kube: { kubeConfig: kc, namespace: ns, replicaId: "hooks", leaseDurationMs: 4000, renewDeadlineMs: 2000, retryPeriodMs: 700 },
      kubernetes: { kubeconfig: kas.kubeconfig },
      webhookAddress: `127.0.0.1:${port}`,
      caDnsNames: ["localhost"],
    });
  });

  after(async () => {
    await cp?.stop();
    kas?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it("the Lease holder sets the webhook's caBundle to the mesh roots and its failure policy to Fail", async () => {
    const want = Buffer.from(cp!.ca.bundle.pem()).toString("base64");
    await eventually("caBundle and failurePolicy", async () => {
      const c = await client.request<{ webhooks: { clientConfig: { caBundle?: string }; failurePolicy: string }[] }>("GET", configPath);
      return c.webhooks[0]!.clientConfig.caBundle === want && c.webhooks[0]!.failurePolicy === "Fail" ? true : undefined;
    }, 60_000);
  });

  it("a bad AuthorizationPolicy is refused by the apiserver with meshward's message", async () => {
    await assert.rejects(client.request("POST", policies, badPolicy(ns)), (e: KubeApiError) => {
      assert.equal(e.status, 400, e.message);
      assert.match(e.message, /admission webhook "rev\.validation\.meshward\.io" denied the request: meshward: AuthorizationPolicy mesh-hooks\/bad: spec\.rules\[0\]\.from\[0\]\.source\.ipBlocks\[0\]/);
      return true;
    });
  });

  it("a good AuthorizationPolicy is admitted, and so is its update", async () => {
    await client.request("POST", policies, goodPolicy(ns));
    const got = await client.request<{ metadata: { resourceVersion: string } } & ReturnType<typeof goodPolicy>>("GET", `${policies}/good`);
    got.spec.rules[0]!.from[0]!.source.namespaces = [ns, "other"];
    await client.request("PUT", `${policies}/good`, got);
    // An update that breaks it is refused like a create (read again: the leader writes status).
    const latest = await client.request<typeof got>("GET", `${policies}/good`);
    const broken = { ...latest, spec: badPolicy(ns).spec };
    await assert.rejects(client.request("PUT", `${policies}/good`, broken), (e: KubeApiError) => e.status === 400 && /ipBlocks\[0\]/.test(e.message));
  });

  it("with meshward gone, the stated failure policy (Fail) refuses what it can no longer judge", async () => {
    await cp!.stop();
    cp = undefined;
    await assert.rejects(client.request("POST", policies, goodPolicy(ns, "unjudged")), (e: KubeApiError) => {
      assert.match(e.message, /failed calling webhook "rev\.validation\.meshward\.io"/);
      return true;
    });
  });
});
