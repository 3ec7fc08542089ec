// The sidecar injector: judged alone (which pods are injected, with what, and which are left as
// sent), then called by a real apiserver over TLS on loopback with the manifest's
// MutatingWebhookConfiguration (Istio's selectors): a pod created in an injection-enabled namespace
// comes back injected as the golden pod specs under test/golden/inject/ say (regenerate with
// UPDATE_GOLDEN=1 and review the diff), an already injected pod, an opted-out pod and a hostNetwork
// pod come back as sent, and a pod meshward cannot inject is admitted unchanged and counted.
import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse, stringify } from "yaml";
import type { ControlPlane } from "../../src/mesh/control-plane.js";
import { KubeClient } from "../../src/kube/client.js";
import { installValues } from "../../src/install/manifest.js";
import { mutatingWebhook } from "../../src/install/injector.js";
import { injectorName } from "../../src/webhook/ca-bundle.js";
import { injectPod, injectReview } from "../../src/webhook/inject.js";
import { DEFAULT_PROXY_IMAGE, STATUS_ANNOTATION, type InjectionValues, type Pod } from "../../src/webhook/inject-templates.js";
import { startTestControlPlane } from "../support/control-plane.js";
import { eventually } from "../support/eventually.js";
import type { KubeApiserver } from "../support/kube-apiserver.js";
import { privateApiserverWithIstio } from "../support/kube-mesh.js";
import { freePort } from "../support/proxyless.js";
import { MESHWARD_BIN } from "../support/meshward-cli.js";
import { localArg, localMounts, publishedRoot } from "../support/pod-mounts.js";
import { echoHost, mtlsEchoConfig } from "../support/echo-config.js";
import { grpcXdsBootstrap } from "../../src/ca/grpc-bootstrap.js";
import { RbacWorkloads, callOutcome } from "../support/rbac-workloads.js";
import { WorkloadCertAgents } from "../support/workload-certs.js";

const goldenDir = fileURLToPath(new URL("../../../test/golden/inject/", import.meta.url));
const update = process.env["UPDATE_GOLDEN"] === "1";

const values = (ns: string, over: Partial<InjectionValues> = {}): InjectionValues => ({
  namespace: ns, domain: "cluster.local", clusterId: "Kubernetes", proxyImage: DEFAULT_PROXY_IMAGE, agentImage: "meshward:0.1.0", cni: false, revision: "default", ...over,
});

const appPod = (name: string, extra: { labels?: Record<string, string>; annotations?: Record<string, string>; hostNetwork?: boolean; containerName?: string } = {}): Pod & { apiVersion: string; kind: string } => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, labels: { app: "shop", ...(extra.labels ?? {}) }, ...(extra.annotations !== undefined ? { annotations: extra.annotations } : {}) },
  spec: {
    // The ServiceAccount admission plugin (off in the test apiserver) would set it; the projected token needs it.
    serviceAccountName: "shop",
    automountServiceAccountToken: false,
    ...(extra.hostNetwork === true ? { hostNetwork: true } : {}),
    containers: [{ name: extra.containerName ?? "app", image: "registry.local/shop:1", ports: [{ containerPort: 8080, name: "grpc" }] }],
  },
});

const applyPatch = (pod: Pod, patch: { path: string; value: unknown }[]): Pod => {
  const out = structuredClone(pod) as Record<string, Record<string, unknown>>;
  for (const op of patch) {
    const [, top, field] = op.path.split("/") as [string, string, string | undefined];
    if (field === undefined) out[top] = op.value as Record<string, unknown>;
    else (out[top] ??= {})[field] = op.value;
  }
  return out as Pod;
};

describe("sidecar injector: one pod judged alone", () => {
  it("gives a pod Istio's istio-init and istio-proxy with meshward as discovery address and CA, the token and the root", () => {
    const r = injectPod(appPod("a"), values("mesh"));
    assert.equal(r.result, "injected");
    const pod = applyPatch(appPod("a"), r.result === "injected" ? r.patch : []);
    assert.deepEqual(pod.spec!.initContainers!.map((c) => c.name), ["istio-init"]);
    assert.deepEqual(pod.spec!.containers!.map((c) => c.name), ["istio-proxy", "app"]);
    const env = Object.fromEntries(pod.spec!.containers![0]!.env!.map((e) => [e["name"], e["value"] ?? e["valueFrom"]]));
    assert.equal(env["CA_ADDR"], "istiod.mesh.svc:15012");
    assert.deepEqual(JSON.parse(String(env["PROXY_CONFIG"])), { discoveryAddress: "istiod.mesh.svc:15012" });
    assert.deepEqual(env["SERVICE_ACCOUNT"], { fieldRef: { fieldPath: "spec.serviceAccountName" } });
    const token = pod.spec!.volumes!.find((v) => v["name"] === "istio-token") as { projected: { sources: { serviceAccountToken: { audience: string } }[] } };
    assert.equal(token.projected.sources[0]!.serviceAccountToken.audience, "istio-ca");
    assert.ok(pod.spec!.volumes!.some((v) => (v["configMap"] as { name?: string } | undefined)?.name === "istio-ca-root-cert"));
    assert.ok(pod.metadata!.annotations![STATUS_ANNOTATION]);
  });

  it("with CNI, gives the redirection annotations instead of istio-init", () => {
    const r = injectPod(appPod("a"), values("mesh", { cni: true }));
    assert.equal(r.result, "injected");
    const pod = applyPatch(appPod("a"), r.result === "injected" ? r.patch : []);
    assert.equal(pod.spec!.initContainers, undefined);
    assert.equal(pod.metadata!.annotations!["sidecar.istio.io/interceptionMode"], "REDIRECT");
  });

  it("gives a grpc-agent pod meshward's workload-certs agent and points its app at the bootstrap", () => {
    const r = injectPod(appPod("g", { annotations: { "inject.istio.io/templates": "grpc-agent" } }), values("mesh"));
    assert.equal(r.result, "injected");
    const pod = applyPatch(appPod("g"), r.result === "injected" ? r.patch : []);
    const [agent, app] = pod.spec!.containers!;
    assert.equal(agent!.image, "meshward:0.1.0");
    assert.equal(agent!.args![0], "workload-certs");
    assert.ok(agent!.args!.includes("--ca-address=istiod.mesh.svc:15012"));
    assert.deepEqual(app!.env!.map((e) => e["name"]), ["GRPC_XDS_BOOTSTRAP", "GRPC_XDS_EXPERIMENTAL_SECURITY_SUPPORT"]);
  });

  it("with stream workers (discoveryPort 15013), points xDS at the workers' TLS port and keeps the CA on 15012", () => {
    const sidecar = injectPod(appPod("w"), values("mesh", { discoveryPort: 15013 }));
    const pod = applyPatch(appPod("w"), sidecar.result === "injected" ? sidecar.patch : []);
    const env = Object.fromEntries(pod.spec!.containers![0]!.env!.map((e) => [e["name"], e["value"] ?? e["valueFrom"]]));
    assert.equal(env["CA_ADDR"], "istiod.mesh.svc:15012");
    assert.deepEqual(JSON.parse(String(env["PROXY_CONFIG"])), { discoveryAddress: "istiod.mesh.svc:15013" });
    const grpc = injectPod(appPod("g", { annotations: { "inject.istio.io/templates": "grpc-agent" } }), values("mesh", { discoveryPort: 15013 }));
    const agent = applyPatch(appPod("g"), grpc.result === "injected" ? grpc.patch : []).spec!.containers![0]!;
    assert.ok(agent.args!.includes("--ca-address=istiod.mesh.svc:15012"), agent.args!.join(" "));
    assert.ok(agent.args!.includes("--xds-address=istiod.mesh.svc:15013"), agent.args!.join(" "));
  });

  it("leaves an injected pod, a hostNetwork pod and an opted-out pod as sent", () => {
    const r = injectPod(appPod("a"), values("mesh"));
    const injected = applyPatch(appPod("a"), r.result === "injected" ? r.patch : []);
    assert.deepEqual(injectPod(injected, values("mesh")), { result: "skipped", reason: "already injected" });
    assert.deepEqual(injectPod(appPod("h", { hostNetwork: true }), values("mesh")), { result: "skipped", reason: "hostNetwork pod" });
    assert.equal(injectPod(appPod("o", { labels: { "sidecar.istio.io/inject": "false" } }), values("mesh")).result, "skipped");
  });

  it("admits a pod it cannot inject unchanged, saying why", () => {
    const review = (pod: Pod) => ({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", request: { uid: "u", kind: { group: "", version: "v1", kind: "Pod" }, resource: { group: "", version: "v1", resource: "pods" }, operation: "CREATE", namespace: "shop", object: pod } });
    const unknown = injectReview(review(appPod("t", { annotations: { "inject.istio.io/templates": "gateway" } })), values("mesh"));
    assert.deepEqual(unknown.response, { apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response: { uid: "u", allowed: true } });
    assert.equal(unknown.report.outcome.result, "failed");
    assert.match(unknown.report.outcome.result === "failed" ? unknown.report.outcome.reason : "", /unknown template "gateway"/);
    const clash = injectReview(review(appPod("c", { containerName: "istio-proxy" })), values("mesh"));
    assert.equal(clash.report.outcome.result, "failed");
  });
});

/** The parts of a stored pod the injector decides, for comparing with a golden file. */
function injectedParts(pod: Pod): unknown {
  return { metadata: { labels: pod.metadata?.labels, annotations: pod.metadata?.annotations }, spec: { initContainers: pod.spec?.initContainers, containers: pod.spec?.containers, volumes: pod.spec?.volumes } };
}

function checkGolden(name: string, pod: Pod): void {
  const file = join(goldenDir, `${name}.yaml`);
  const text = stringify(injectedParts(pod));
  if (update) writeFileSync(file, text);
  assert.deepEqual(parse(text), parse(readFileSync(file, "utf8")), `${file} differs; if intended, regenerate with UPDATE_GOLDEN=1 and review the diff`);
}

describe("sidecar injector called by a real apiserver", function () {
  this.timeout(180_000);
  let kas: KubeApiserver | undefined;
  let client: KubeClient;
  let cp: ControlPlane | undefined;
  let dir: string;
  const ns = "mesh-inject";
  const on = "shop";
  const off = "plain";
  const pods = (n: string) => `/api/v1/namespaces/${n}/pods`;
  const configPath = `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${injectorName(ns)}`;
  let echoPort = 0;
  let workloads: RbacWorkloads | undefined;
  let echoAgent: WorkloadCertAgents | undefined;

  before(async function () {
    const k = await privateApiserverWithIstio(this);
    kas = k.kas;
    client = k.client;
    for (const [name, labels] of [[ns, {}], [on, { "istio-injection": "enabled" }], [off, {}]] as const) {
      await client.request("POST", "/api/v1/namespaces", { metadata: { name, labels } });
    }
    await client.request("POST", `/api/v1/namespaces/${on}/serviceaccounts`, { metadata: { name: "shop" } });
    const port = await freePort();
    const hook = mutatingWebhook(installValues([`namespace=${ns}`]), {}, "istiod") as unknown as { webhooks: { clientConfig: unknown }[] };
    for (const w of hook.webhooks) w.clientConfig = { url: `https://localhost:${port}/inject` };
    await client.request("POST", "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations", hook);
    dir = mkdtempSync(join(tmpdir(), "meshward-inject-"));
    // An echo server in the mesh (STRICT mTLS) for the injected proxyless pod to call.
    echoPort = await freePort();
    writeFileSync(join(dir, "mesh.yaml"), "trustDomain: cluster.local\nrootNamespace: istio-system\n");
    writeFileSync(join(dir, "echo.yaml"), mtlsEchoConfig(echoPort, "STRICT", "echo", "istio-system"));
    cp = await startTestControlPlane(dir, {
      kube: { kubeConfig: k.kc, namespace: ns, replicaId: "inject", leaseDurationMs: 4000, renewDeadlineMs: 2000, retryPeriodMs: 700 },
      kubernetes: { kubeconfig: kas.kubeconfig },
      webhookAddress: `127.0.0.1:${port}`,
      tlsAddress: "127.0.0.1:0",
      caDnsNames: ["localhost", `istiod.${ns}.svc`],
      injection: values(ns),
    });
    const want = Buffer.from(cp.ca.bundle.pem()).toString("base64");
    await eventually("the injector's caBundle and failurePolicy", async () => {
      const c = await client.request<{ webhooks: { clientConfig: { caBundle?: string }; failurePolicy: string }[] }>("GET", configPath);
      return c.webhooks.every((w) => w.clientConfig.caBundle === want && w.failurePolicy === "Fail") ? true : undefined;
    }, 60_000);
  });

  after(async () => {
    workloads?.stop();
    echoAgent?.stop();
    await cp?.stop();
    kas?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it("a pod created in an injection-enabled namespace comes back with the sidecar template", async () => {
    const got = await client.request<Pod>("POST", pods(on), appPod("web"));
    assert.deepEqual(got.spec!.containers!.map((c) => c.name), ["istio-proxy", "app"]);
    checkGolden("sidecar", got);
  });

  it("a pod asking for grpc-agent comes back with meshward's agent and the bootstrap environment", async () => {
    const got = await client.request<Pod>("POST", pods(on), appPod("rpc", { annotations: { "inject.istio.io/templates": "grpc-agent" } }));
    assert.deepEqual(got.spec!.containers!.map((c) => c.name), ["istio-proxy", "app"]);
    checkGolden("grpc-agent", got);
  });

  it("a pod created again from an injected spec is not injected twice", async () => {
    const first = await client.request<Pod>("GET", `${pods(on)}/web`);
    const again = { apiVersion: "v1", kind: "Pod", metadata: { name: "web-again", labels: first.metadata!.labels, annotations: first.metadata!.annotations }, spec: { ...first.spec, nodeName: undefined } };
    const got = await client.request<Pod>("POST", pods(on), again);
    assert.deepEqual(got.spec!.containers!.map((c) => c.name), ["istio-proxy", "app"]);
    assert.deepEqual(got.spec!.initContainers!.map((c) => c.name), ["istio-init"]);
    assert.deepEqual(got.spec!.volumes, first.spec!.volumes);
  });

  it("opted-out, hostNetwork and not-opted-in pods come back as sent; a pod opting in alone is injected", async () => {
    const out = await client.request<Pod>("POST", pods(on), appPod("out", { labels: { "sidecar.istio.io/inject": "false" } }));
    assert.deepEqual(out.spec!.containers!.map((c) => c.name), ["app"]);
    const host = await client.request<Pod>("POST", pods(on), appPod("host", { hostNetwork: true }));
    assert.deepEqual(host.spec!.containers!.map((c) => c.name), ["app"]);
    assert.equal(host.metadata!.annotations?.[STATUS_ANNOTATION], undefined);
    const plain = await client.request<Pod>("POST", pods(off), appPod("plain"));
    assert.deepEqual(plain.spec!.containers!.map((c) => c.name), ["app"]);
    const alone = await client.request<Pod>("POST", pods(off), appPod("alone", { labels: { "sidecar.istio.io/inject": "true" } }));
    assert.deepEqual(alone.spec!.containers!.map((c) => c.name), ["istio-proxy", "app"]);
  });

  it("a pod meshward cannot inject is admitted unchanged and counted", async () => {
    const got = await client.request<Pod>("POST", pods(on), appPod("odd", { annotations: { "inject.istio.io/templates": "gateway" } }));
    assert.deepEqual(got.spec!.containers!.map((c) => c.name), ["app"]);
    assert.match(await cp!.metrics.render(), /meshward_injections_total\{result="failed"\} 1\b/);
  });

  it("the injected grpc-agent pod, its agent and app run with their arguments and environment, joins the mesh over TLS and calls an mTLS server", async () => {
    const pod = await client.request<Pod & { metadata: { uid: string } }>("GET", `${pods(on)}/rpc`);
    const agent = pod.spec!.containers!.find((c) => c.name === "istio-proxy")!;
    const mounts = localMounts(join(dir, "rpc"), agent.volumeMounts as { name: string; mountPath: string }[]);
    // The mounts as the kubelet would fill them: the root ConfigMap meshward published, the projected token.
    writeFileSync(join(mounts.get("/var/run/secrets/istio")!, "root-cert.pem"), await publishedRoot(client, on));
    const tr = await client.request<{ status: { token: string } }>("POST", `/api/v1/namespaces/${on}/serviceaccounts/shop/token`, {
      spec: { audiences: ["istio-ca"], expirationSeconds: 3600, boundObjectRef: { apiVersion: "v1", kind: "Pod", name: "rpc", uid: pod.metadata.uid } },
    });
    writeFileSync(join(mounts.get("/var/run/secrets/tokens")!, "istio-token"), tr.status.token);
    const downward: Record<string, string> = { "metadata.name": "rpc", "metadata.namespace": on, "status.podIP": "10.244.0.9", "spec.serviceAccountName": "shop", "status.hostIP": "10.0.0.1", "spec.nodeName": "node-a" };
    const env: Record<string, string> = {};
    for (const e of agent.env as { name: string; value?: string; valueFrom?: { fieldRef: { fieldPath: string } } }[]) env[e.name] = e.value ?? downward[e.valueFrom!.fieldRef.fieldPath] ?? "";
    // No cluster DNS on loopback: the Service's address is the control plane's TLS port; the
    // certificate is still checked against the Service name (--ca-server-name).
    const args = agent.args!.map((a) => localArg(a, env, mounts).replace(`=istiod.${ns}.svc:15012`, `=${cp!.tlsAddress}`));
    let log = "";
    const child = spawn(process.execPath, [MESHWARD_BIN, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout!.on("data", (d: Buffer) => (log += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (log += d.toString()));
    try {
      const certDir = mounts.get("/var/lib/istio/data")!;
      const bootstrap = join(mounts.get("/etc/istio/proxy")!, "grpc-bootstrap.json");
      await eventually("the pod's certificate and bootstrap", () => (existsSync(join(certDir, "cert-chain.pem")) && existsSync(bootstrap) ? true : undefined), 60_000).catch((e: Error) => {
        throw new Error(`${e.message}\n${log}`);
      });
      const leaf = new X509Certificate(readFileSync(join(certDir, "cert-chain.pem")));
      assert.match(leaf.subjectAltName ?? "", /URI:spiffe:\/\/cluster\.local\/ns\/shop\/sa\/shop/);
      const b = JSON.parse(readFileSync(bootstrap, "utf8")) as { node: { id: string }; xds_servers: { server_uri: string }[] };
      assert.match(b.node.id, /10\.244\.0\.9~rpc\.shop~/);
      // The app container's environment names the bootstrap on the shared volume; its xDS server is
      // the agent's relay (a unix socket there), which reaches meshward over TLS with the pod's token.
      const app = pod.spec!.containers!.find((c) => c.name === "app")!;
      const appEnv = Object.fromEntries((app.env as { name: string; value: string }[]).map((e) => [e.name, e.value]));
      assert.equal(appEnv["GRPC_XDS_EXPERIMENTAL_SECURITY_SUPPORT"], "true");
      const appBootstrap = localArg(`=${appEnv["GRPC_XDS_BOOTSTRAP"]!}`, {}, mounts).slice(1);
      assert.equal(appBootstrap, bootstrap);
      assert.match(b.xds_servers[0]!.server_uri, /^unix:\/\//);
      // The server side: a mesh workload as the existing e2e tests run it.
      echoAgent = new WorkloadCertAgents(dir, join(dir, ".data"), cp!.xdsAddress);
      workloads = new RbacWorkloads();
      const server = { ip: "127.0.0.1", pod: "echo-0", namespace: "default", serviceAccount: "echo", labels: { app: "echo" } };
      const serverCerts = await echoAgent.start("default", "echo");
      await workloads.startServer("echo-0", `127.0.0.1:${echoPort}`, cp!.xdsAddress, server, JSON.stringify(grpcXdsBootstrap({ xdsAddress: cp!.xdsAddress, certDir: serverCerts, namespace: "default", serviceAccount: "echo", podName: "echo-0", podIp: "127.0.0.1", labels: { app: "echo" } })));
      await workloads.startClient("rpc", `${echoHost}:7070`, b.xds_servers[0]!.server_uri, { ip: "10.244.0.9", pod: "rpc", namespace: on, serviceAccount: "shop" }, readFileSync(appBootstrap, "utf8"));
      await eventually("the injected pod's mTLS call to the echo server", async () => {
        const got = callOutcome(await workloads!.call("rpc"));
        if (got !== "ok:echo-0") throw new Error(`saw ${got}`);
        return got;
      }, 30_000).catch((e: Error) => {
        throw new Error(`${e.message}\nagent:\n${log}`);
      });
    } finally {
      child.kill("SIGTERM");
    }
  });
});
