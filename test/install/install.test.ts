// `meshward manifest generate`, `install` and `uninstall` against a real kube-apiserver: every
// generated object is accepted; the control plane then runs as its ServiceAccount with nothing but
// the generated RBAC (a token from the TokenRequest API) and does its Kubernetes work; uninstall
// leaves none of the objects behind. No kubelet runs here, so the test plays the Deployment
// controller: it marks the Deployment available, which `install` waits for.
import { strict as assert } from "node:assert";
import { spawn, type ChildProcess } from "node:child_process";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { KubeConfig } from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import { KubeApiError, KubeClient } from "../../src/kube/client.js";
import { objectPath } from "../../src/install/apply.js";
import { installManifest, installValues, type KubeObject } from "../../src/install/manifest.js";
import { DEFAULT_LEASE_NAME } from "../../src/kube/leader.js";
import { ROOT_CERT_CONFIGMAP } from "../../src/kube/root-cert-publisher.js";
import { SELF_SIGNED_CA_SECRET } from "../../src/ca/kube-signer-store.js";
import { eventually } from "../support/eventually.js";
import type { KubeApiserver } from "../support/kube-apiserver.js";
import { privateApiserverWithIstio } from "../support/kube-mesh.js";
import { MESHWARD_BIN, runMeshward } from "../support/meshward-cli.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));

describe("meshward manifest generate", function () {
  this.timeout(60_000);

  it("prints the control plane's objects in apply order, each as its own YAML document", async () => {
    const r = await runMeshward("manifest", "generate");
    assert.equal(r.code, 0, r.stderr);
    const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as KubeObject);
    assert.deepEqual(
      docs.map((d) => `${d.kind}/${d.metadata.name}`),
      [
        "Namespace/istio-system",
        "CustomResourceDefinition/runtimepolicies.meshward.io",
        "CustomResourceDefinition/workloadenforcements.meshward.io",
        "ServiceAccount/meshward",
        "ClusterRole/meshward-istio-system",
        "ClusterRoleBinding/meshward-istio-system",
        "Role/meshward",
        "RoleBinding/meshward",
        "Deployment/meshward",
        "Service/istiod",
        "ServiceAccount/meshward-agent",
        "ClusterRole/meshward-agent-istio-system",
        "ClusterRoleBinding/meshward-agent-istio-system",
        "DaemonSet/meshward-agent",
        "ValidatingWebhookConfiguration/meshward-validator-istio-system",
        "MutatingWebhookConfiguration/meshward-sidecar-injector-istio-system",
      ],
    );
    const svc = docs.find((d) => d.kind === "Service")! as unknown as { spec: { ports: { port: number }[] } };
    assert.deepEqual(svc.spec.ports.map((p) => p.port), [15010, 15012, 15014, 443]);
    // The CRDs carry the wire names of schema keywords, not client-node's model names.
    assert.doesNotMatch(r.stdout, /x_kubernetes_|_enum/);
  });

  it("--set changes the namespace, image and replicas, and refuses unknown keys and bad values by name", async () => {
    const r = await runMeshward("manifest", "generate", "--set", "namespace=mesh", "--set", "image=registry.local/meshward:dev", "--set", "replicas=3");
    assert.equal(r.code, 0, r.stderr);
    const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as KubeObject & { spec?: { replicas?: number; template?: { spec: { containers: { image: string; args: string[] }[] } } } });
    const d = docs.find((x) => x.kind === "Deployment")!;
    assert.equal(d.metadata.namespace, "mesh");
    assert.equal(d.spec!.replicas, 3);
    assert.equal(d.spec!.template!.spec.containers[0]!.image, "registry.local/meshward:dev");
    assert.ok(d.spec!.template!.spec.containers[0]!.args.includes("--namespace=mesh"));
    const unknown = await runMeshward("manifest", "generate", "--set", "replica=2");
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /--set replica: unknown value \(known: namespace, image/);
    const bad = await runMeshward("manifest", "generate", "--set", "replicas=0");
    assert.match(bad.stderr, /--set replicas=0: want a whole number of at least 1/);
  });

  it("xdsWorkers=N runs N stream workers serving xDS over TLS on 15013, exposed by the Service; 0 (the default) none", () => {
    const container = (objects: KubeObject[]) =>
      (objects.find((o) => o.kind === "Deployment") as unknown as { spec: { template: { spec: { containers: { args: string[]; ports: { containerPort: number }[] }[] } } } }).spec.template.spec.containers[0]!;
    const servicePorts = (objects: KubeObject[]) => (objects.find((o) => o.kind === "Service") as unknown as { spec: { ports: { port: number }[] } }).spec.ports.map((p) => p.port);
    const none = installManifest(installValues([]));
    assert.ok(!container(none).args.some((a) => a.startsWith("--xds-workers")));
    assert.ok(!servicePorts(none).includes(15013));
    const two = installManifest(installValues(["xdsWorkers=2"]));
    assert.ok(container(two).args.includes("--xds-workers=2"));
    assert.ok(container(two).args.includes("--xds-workers-tls-address=0.0.0.0:15013"));
    assert.ok(container(two).ports.some((p) => p.containerPort === 15013));
    assert.ok(servicePorts(two).includes(15013));
    assert.throws(() => installValues(["xdsWorkers=-1"]), /--set xdsWorkers=-1: want a whole number of at least 0/);
  });

  it("gives the control plane write access to its Secrets and Lease by name only, no Secrets across the cluster, and no write access to Istio's config", () => {
    const objects = installManifest(installValues([]));
    const role = objects.find((o) => o.kind === "Role")! as unknown as { rules: { resources: string[]; resourceNames?: string[]; verbs: string[] }[] };
    // Written by name (create cannot be); read in the namespace for remote clusters' Secrets.
    const readOnly = (r: { verbs: string[] }): boolean => r.verbs.every((v) => ["get", "list", "watch"].includes(v));
    for (const r of role.rules.filter((x) => x.resources.includes("secrets") || x.resources.includes("leases"))) {
      assert.ok(r.resourceNames !== undefined || (r.verbs.length === 1 && r.verbs[0] === "create") || (r.resources.includes("secrets") && readOnly(r)), JSON.stringify(r));
    }
    const cr = objects.find((o) => o.kind === "ClusterRole")! as unknown as { rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] };
    const istioWrites = cr.rules.filter((r) => r.apiGroups.some((g) => g.endsWith("istio.io")) && !r.resources.every((x) => x.endsWith("/status")) && r.verbs.some((v) => !["get", "list", "watch"].includes(v)));
    assert.deepEqual(istioWrites, []);
    assert.ok(!cr.rules.some((r) => r.resources.includes("secrets")), "no Secrets across the cluster");
  });
});

describe("meshward install and uninstall (real apiserver)", function () {
  this.timeout(180_000);
  let kas: KubeApiserver | undefined;
  let client: KubeClient;
  let dir: string;
  let serve: ChildProcess | undefined;
  let output = "";
  const ns = "mesh-install";
  const objects = installManifest(installValues([`namespace=${ns}`]));

  before(async function () {
    const k = await privateApiserverWithIstio(this);
    kas = k.kas;
    const kc = k.kc;
    client = k.client;
    dir = mkdtempSync(join(tmpdir(), "meshward-install-"));
    cpSync(join(root, "mesh-config"), join(dir, "config"), { recursive: true });
  });

  after(() => {
    if (serve && serve.exitCode === null) serve.kill("SIGKILL");
    kas?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  const exists = async (o: KubeObject): Promise<boolean> => {
    try {
      await client.request("GET", objectPath(o));
      return true;
    } catch (e) {
      if (e instanceof KubeApiError && e.status === 404) return false;
      throw e;
    }
  };

  it("applies every object, waits for the Deployment to be available, and reports it", async () => {
    const install = runMeshward("install", "--kubeconfig", kas!.kubeconfig, "--set", `namespace=${ns}`, "--timeout", "90s");
    // The Deployment controller's part: the Deployment is marked available once it exists.
    const deployment = objects.find((o) => o.kind === "Deployment")!;
    await eventually("the Deployment to be applied", () => exists(deployment).then((x) => x || undefined), 60_000);
    const r0 = await runMeshwardDone(install, 300);
    assert.equal(r0, undefined, "install must wait for the Deployment");
    await client.request("PATCH", `${objectPath(deployment)}/status`, { status: { observedGeneration: 1, replicas: 1, readyReplicas: 1, availableReplicas: 1 } }, "application/merge-patch+json");
    const r = await install;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`Deployment ${ns}/meshward is available`));
    assert.match(r.stdout, new RegExp(`meshward installed in namespace ${ns}: ${objects.length} objects`));
    for (const o of objects) assert.ok(await exists(o), `${o.kind} ${o.metadata.name} exists`);
  });

  it("the control plane runs as its ServiceAccount with only the generated RBAC", async () => {
    const tr = await client.request<{ status: { token: string } }>("POST", `/api/v1/namespaces/${ns}/serviceaccounts/meshward/token`, { spec: { expirationSeconds: 600 } });
    const kubeconfig = join(dir, "meshward-sa.kubeconfig");
    writeFileSync(kubeconfig, `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "${kas!.url}", certificate-authority: ${kas!.caFile}}}]
users: [{name: meshward, user: {token: ${tr.status.token}}}]
contexts: [{name: c, context: {cluster: c, user: meshward}}]
current-context: c
`);
    serve = spawn(process.execPath, [MESHWARD_BIN, "serve", "--config-dir", join(dir, "config"), "--xds-address", "127.0.0.1:0", "--tls-address", "none",
      "--monitoring-address", "127.0.0.1:0", "--console-address", "127.0.0.1:0", "--data-dir", join(dir, "data"), "--kubeconfig", kubeconfig, "--namespace", ns, "--replica-id", "installed", "--webhook-address", "127.0.0.1:0"], { stdio: ["ignore", "pipe", "pipe"] });
    serve.stdout!.on("data", (d: Buffer) => (output += d.toString()));
    serve.stderr!.on("data", (d: Buffer) => (output += d.toString()));
    const fail = (e: Error): never => {
      throw new Error(`${e.message}\n${output}`);
    };
    await eventually("serve to take the Lease", () => exists({ apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name: DEFAULT_LEASE_NAME, namespace: ns } }).then((x) => x || undefined), 60_000).catch(fail);
    await eventually("the root Secret", () => exists({ apiVersion: "v1", kind: "Secret", metadata: { name: SELF_SIGNED_CA_SECRET, namespace: ns } }).then((x) => x || undefined), 60_000).catch(fail);
    await eventually("istio-ca-root-cert in default", () => exists({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: ROOT_CERT_CONFIGMAP, namespace: "default" } }).then((x) => x || undefined), 60_000).catch(fail);
    // The Lease holder keeps both webhook configurations current with only the generated RBAC.
    for (const kind of ["validatingwebhookconfigurations", "mutatingwebhookconfigurations"]) {
      const name = objects.find((o) => `${o.kind.toLowerCase()}s` === kind)!.metadata.name;
      await eventually(`${kind}/${name} caBundle`, async () => {
        const c = await client.request<{ webhooks: { clientConfig: { caBundle?: string }; failurePolicy: string }[] }>("GET", `/apis/admissionregistration.k8s.io/v1/${kind}/${name}`);
        return c.webhooks.every((w) => (w.clientConfig.caBundle ?? "") !== "" && w.failurePolicy === "Fail") ? true : undefined;
      }, 60_000).catch(fail);
    }
    const refused = output.split("\n").filter((l) => /forbidden/i.test(l));
    assert.deepEqual(refused, [], "nothing the control plane does is refused by RBAC");
    serve.kill("SIGTERM");
    await new Promise((r) => serve!.once("exit", r));
  });

  it("uninstall removes every object it applied and keeps the namespace", async () => {
    const r = await runMeshward("uninstall", "--kubeconfig", kas!.kubeconfig, "--set", `namespace=${ns}`);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`${objects.length - 1} objects removed`));
    for (const o of objects) {
      if (o.kind === "Namespace") assert.ok(await exists(o), "the namespace is kept");
      else await eventually(`${o.kind} ${o.metadata.name} to be gone`, () => exists(o).then((x) => (x ? undefined : true)), 30_000);
    }
    const again = await runMeshward("uninstall", "--kubeconfig", kas!.kubeconfig, "--set", `namespace=${ns}`);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /0 objects removed/);
  });
});

/** The promise's value if it settles within `ms`, else undefined (it keeps running). */
async function runMeshwardDone<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  return Promise.race([p, new Promise<undefined>((r) => setTimeout(() => r(undefined), ms))]);
}
