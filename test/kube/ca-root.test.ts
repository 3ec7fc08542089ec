// The CA root kept in Kubernetes (istio-ca-secret created once whoever races, cacerts plugged in)
// and its distribution (istio-ca-root-cert in every namespace, repaired after edits and deletes),
// against a real kube-apiserver.
import { strict as assert } from "node:assert";
import { X509Certificate } from "node:crypto";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { eventually } from "../support/eventually.js";
import { kubeApiserverOrSkip, uniqueName, type KubeApiserver } from "../support/kube-apiserver.js";
import { CA_SECRET_TYPE, loadOrCreateKubeSigner, SELF_SIGNED_CA_SECRET } from "../../src/ca/kube-signer-store.js";
import { generateRoot } from "../../src/ca/signer-store.js";
import { ISTIO_CONFIG_LABEL, ROOT_CERT_CONFIGMAP, ROOT_CERT_KEY, RootCertPublisher } from "../../src/kube/root-cert-publisher.js";

function kubeConfigOf(kas: KubeApiserver): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(kas.kubeconfig);
  return kc;
}

async function createNamespace(core: CoreV1Api, name: string): Promise<void> {
  await core.createNamespace({ body: { metadata: { name } } });
}

describe("kube: the CA root in Secrets and istio-ca-root-cert in every namespace", function () {
  this.timeout(60_000);
  let kas: KubeApiserver;
  let core: CoreV1Api;

  before(function () {
    kas = kubeApiserverOrSkip(this);
    core = kubeConfigOf(kas).makeApiClient(CoreV1Api);
  });

  it("creates one self-signed root when two replicas race for it, and both sign with it", async () => {
    const namespace = uniqueName("cp");
    await createNamespace(core, namespace);
    // Two replicas: separate clients, started together, neither sees a Secret at first.
    const replicas = await Promise.all([0, 1, 2].map(() => loadOrCreateKubeSigner({ kubeConfig: kubeConfigOf(kas), namespace, trustDomain: "cluster.local" })));
    assert.equal(replicas.filter((r) => r.created).length, 1, "exactly one replica created the Secret");
    const fingerprints = new Set(replicas.map((r) => r.signer.certificate.fingerprint256));
    assert.equal(fingerprints.size, 1, "every replica signs with the same root");
    const secret = await core.readNamespacedSecret({ name: SELF_SIGNED_CA_SECRET, namespace });
    assert.equal(secret.type, CA_SECRET_TYPE);
    const stored = new X509Certificate(Buffer.from(secret.data!["ca-cert.pem"]!, "base64").toString());
    assert.equal(stored.fingerprint256, [...fingerprints][0]);
    for (const key of ["ca-key.pem", "cert-chain.pem", "root-cert.pem"]) assert.ok(secret.data![key], `Secret has ${key}`);
    // A later start reads it and creates nothing.
    const later = await loadOrCreateKubeSigner({ kubeConfig: kubeConfigOf(kas), namespace, trustDomain: "cluster.local" });
    assert.equal(later.created, false);
    assert.equal(later.signer.certificate.fingerprint256, stored.fingerprint256);
  });

  it("signs with a plugged-in cacerts Secret instead of creating istio-ca-secret", async () => {
    const namespace = uniqueName("cp");
    await createNamespace(core, namespace);
    const { keyPem, certPem } = generateRoot("cluster.local", "ecdsa-p256");
    const b64 = (s: string): string => Buffer.from(s).toString("base64");
    await core.createNamespacedSecret({
      namespace,
      body: { metadata: { name: "cacerts" }, data: { "ca-cert.pem": b64(certPem), "ca-key.pem": b64(keyPem), "root-cert.pem": b64(certPem), "cert-chain.pem": b64(certPem) } },
    });
    const r = await loadOrCreateKubeSigner({ kubeConfig: kubeConfigOf(kas), namespace, trustDomain: "cluster.local" });
    assert.equal(r.secret, "cacerts");
    assert.equal(r.signer.certificate.fingerprint256, new X509Certificate(certPem).fingerprint256);
    await assert.rejects(core.readNamespacedSecret({ name: SELF_SIGNED_CA_SECRET, namespace }), /404|not found/i);
  });

  it("names the Secret and key when a cacerts Secret's key does not match its certificate", async () => {
    const namespace = uniqueName("cp");
    await createNamespace(core, namespace);
    const a = generateRoot("cluster.local", "ecdsa-p256");
    const b = generateRoot("cluster.local", "ecdsa-p256");
    const b64 = (s: string): string => Buffer.from(s).toString("base64");
    await core.createNamespacedSecret({ namespace, body: { metadata: { name: "cacerts" }, data: { "ca-cert.pem": b64(a.certPem), "ca-key.pem": b64(b.keyPem), "root-cert.pem": b64(a.certPem) } } });
    await assert.rejects(loadOrCreateKubeSigner({ kubeConfig: kubeConfigOf(kas), namespace, trustDomain: "cluster.local" }), new RegExp(`Secret ${namespace}/cacerts key ca-key.pem: key does not match`));
  });

  describe("istio-ca-root-cert", () => {
    let publisher: RootCertPublisher;
    let roots = generateRoot("cluster.local", "ecdsa-p256").certPem;

    before(async () => {
      publisher = new RootCertPublisher({ kubeConfig: kubeConfigOf(kas), rootsPem: () => roots });
      await publisher.start();
      publisher.setActive(true);
    });
    after(async () => publisher?.stop());

    const configMapIn = async (namespace: string): Promise<string | undefined> => {
      try {
        const cm = await core.readNamespacedConfigMap({ name: ROOT_CERT_CONFIGMAP, namespace });
        return cm.metadata?.labels?.[ISTIO_CONFIG_LABEL] === "true" ? cm.data?.[ROOT_CERT_KEY] : undefined;
      } catch {
        return undefined;
      }
    };
    const current = (namespace: string) => eventually(`${ROOT_CERT_CONFIGMAP} in ${namespace} with the roots`, async () => ((await configMapIn(namespace)) === roots ? true : undefined));

    it("writes the roots into every namespace, existing and new", async () => {
      await current("default");
      await current("kube-system");
      const fresh = uniqueName("app");
      await createNamespace(core, fresh);
      await current(fresh);
    });

    it("repairs an edited ConfigMap, a deleted one and one that lost its label, keeping other keys", async () => {
      const namespace = uniqueName("app");
      await createNamespace(core, namespace);
      await current(namespace);
      const cm = await core.readNamespacedConfigMap({ name: ROOT_CERT_CONFIGMAP, namespace });
      await core.replaceNamespacedConfigMap({ name: ROOT_CERT_CONFIGMAP, namespace, body: { ...cm, data: { [ROOT_CERT_KEY]: "tampered", extra: "kept" } } });
      await current(namespace);
      assert.equal((await core.readNamespacedConfigMap({ name: ROOT_CERT_CONFIGMAP, namespace })).data?.["extra"], "kept");

      await core.deleteNamespacedConfigMap({ name: ROOT_CERT_CONFIGMAP, namespace });
      await current(namespace);

      const again = await core.readNamespacedConfigMap({ name: ROOT_CERT_CONFIGMAP, namespace });
      await core.replaceNamespacedConfigMap({ name: ROOT_CERT_CONFIGMAP, namespace, body: { ...again, metadata: { ...again.metadata, labels: {} }, data: { [ROOT_CERT_KEY]: "stale" } } });
      await current(namespace);
    });

    it("rewrites every namespace when the roots change", async () => {
      const namespace = uniqueName("app");
      await createNamespace(core, namespace);
      await current(namespace);
      roots = roots + generateRoot("cluster.local", "ecdsa-p256").certPem;
      publisher.resyncAll();
      await current(namespace);
      await current("default");
    });

    it("writes nothing while it does not hold the Lease", async () => {
      publisher.setActive(false);
      try {
        const namespace = uniqueName("app");
        await createNamespace(core, namespace);
        // The informer has seen the namespace (it is in its cache) and still nothing was written.
        await eventually("the namespace in the publisher's cache", () => (publisher.knowsNamespace(namespace) ? true : undefined));
        await publisher.idle();
        assert.equal(await configMapIn(namespace), undefined);
        publisher.setActive(true);
        await current(namespace);
      } finally {
        publisher.setActive(true);
      }
    });
  });
});
