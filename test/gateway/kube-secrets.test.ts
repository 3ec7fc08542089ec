// Gateway credentials from a real kube-apiserver's Secrets: a TLS Secret becomes a credential
// (tls.crt/tls.key/ca.crt, and Istio's generic cert/key/cacert), an update replaces it and tells
// the SDS side which namespace changed, a deletion removes it, and a Secret holding no certificate
// (a token, a docker config) is never kept.
import assert from "node:assert/strict";
import { KubeClient } from "../../src/kube/client.js";
import { GatewayCredentialStore } from "../../src/gateway/credential-store.js";
import { watchGatewaySecrets } from "../../src/gateway/secret-watch.js";
import { kubeApiserverBinaries, sharedKubeApiserver, uniqueName } from "../support/kube-apiserver.js";
import { eventually } from "../support/eventually.js";

const b64 = (s: string): string => Buffer.from(s).toString("base64");

describe("gateway credentials from Kubernetes Secrets (real kube-apiserver)", function () {
  let client: KubeClient;
  let stop: (() => void) | undefined;
  const store = new GatewayCredentialStore();
  const changed: string[] = [];
  const ns = uniqueName("gw-secrets");

  before(async function () {
    const b = kubeApiserverBinaries();
    if ("skip" in b) {
      console.log(`      skipped: ${b.skip}`);
      this.skip();
    }
    this.timeout(180_000);
    client = new KubeClient({ kubeconfig: sharedKubeApiserver().kubeconfig });
    await client.request("POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
    store.onChange((namespace, name) => void changed.push(`${namespace}/${name}`));
    stop = watchGatewaySecrets({ client, clusterId: "Kubernetes", namespaces: [ns], store, log: () => {} });
  });
  after(() => stop?.());

  const secret = (name: string, type: string, data: Record<string, string>): unknown => ({ apiVersion: "v1", kind: "Secret", type, metadata: { name, namespace: ns }, data });

  it("a TLS Secret is a credential, updated and removed with the Secret; other Secrets are not kept", async function () {
    this.timeout(60_000);
    await client.request("POST", `/api/v1/namespaces/${ns}/secrets`, secret("shop-cert", "kubernetes.io/tls", { "tls.crt": b64("CERT-1"), "tls.key": b64("KEY-1"), "ca.crt": b64("CA-1") }));
    await client.request("POST", `/api/v1/namespaces/${ns}/secrets`, secret("generic", "Opaque", { cert: b64("CERT-G"), key: b64("KEY-G"), cacert: b64("CA-G") }));
    await client.request("POST", `/api/v1/namespaces/${ns}/secrets`, secret("registry", "kubernetes.io/dockerconfigjson", { ".dockerconfigjson": b64("{}") }));
    const first = await eventually("the TLS Secret in the store", () => store.get(ns, "shop-cert"));
    assert.deepEqual({ ...first, origin: undefined }, { namespace: ns, name: "shop-cert", certificateChain: "CERT-1", privateKey: "KEY-1", caCertificates: "CA-1", origin: undefined });
    assert.match(first.origin, new RegExp(`^k8s://Kubernetes/v1/Secret ${ns}/shop-cert$`));
    const generic = await eventually("the generic Secret", () => store.get(ns, "generic"));
    assert.deepEqual([generic.certificateChain, generic.privateKey, generic.caCertificates], ["CERT-G", "KEY-G", "CA-G"]);
    assert.equal(store.get(ns, "registry"), undefined, "a Secret without a certificate is not a credential");

    await client.request("PUT", `/api/v1/namespaces/${ns}/secrets/shop-cert`, secret("shop-cert", "kubernetes.io/tls", { "tls.crt": b64("CERT-2"), "tls.key": b64("KEY-2") }));
    await eventually("the rotated certificate", () => (store.get(ns, "shop-cert")?.certificateChain === "CERT-2" ? true : undefined));
    assert.equal(store.get(ns, "shop-cert")?.caCertificates, undefined, "the removed ca.crt is gone too");
    assert.ok(changed.filter((c) => c === `${ns}/shop-cert`).length >= 2, "each change is announced for the SDS side");

    await client.request("DELETE", `/api/v1/namespaces/${ns}/secrets/shop-cert`);
    await eventually("the deletion", () => (store.get(ns, "shop-cert") === undefined ? true : undefined));
  });
});
