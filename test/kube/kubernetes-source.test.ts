// End to end on a real kube-apiserver: Istio's CRDs applied; a Service, its Pods (IPs set through
// the status subresource, as a kubelet would), an EndpointSlice and an AuthorizationPolicy created
// with @kubernetes/client-node; meshward serving from the cluster; real grpc-js-xds workloads
// listening on their Pods' IPs. Edits are pushed, deletes removed, not-ready endpoints left out.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CoreV1Api, CustomObjectsApi, DiscoveryV1Api, type V1EndpointSlice, type V1Pod } from "@kubernetes/client-node";
import { KubeClient } from "../../src/kube/client.js";
import type { ControlPlane } from "../../src/mesh/control-plane.js";
import { kubeApiserverOrSkip, uniqueName, type KubeApiserver } from "../support/kube-apiserver.js";
import { applyIstioCrds, LocalPodAddresses } from "../support/kube-mesh.js";
import { startTestControlPlane } from "../support/control-plane.js";
import { eventually, freePort } from "../support/proxyless.js";
import { callOutcome, RbacWorkloads } from "../support/rbac-workloads.js";
import { skipUnlessRoot } from "../agent/fixture.js";

const security = { group: "security.istio.io", version: "v1", plural: "authorizationpolicies" };

describe("Kubernetes source end to end (real kube-apiserver, grpc-js-xds workloads)", function () {
  let kas: KubeApiserver;
  let core: CoreV1Api;
  let discovery: DiscoveryV1Api;
  let custom: CustomObjectsApi;
  let addresses: LocalPodAddresses | undefined;
  let cp: ControlPlane | undefined;
  let dir: string;
  let workloads: RbacWorkloads | undefined;
  const ns = uniqueName("k8s-e2e");
  const host = `echo.${ns}.svc.cluster.local`;
  const ports = new Map<string, number>();
  const ips = new Map<string, string>();
  const serving = new Map<string, Promise<void>>();

  const pod = async (name: string, hostNumber: number): Promise<void> => {
    const ip = addresses!.add(hostNumber);
    const port = await freePort();
    ips.set(name, ip);
    ports.set(name, port);
    const created = await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name, labels: { app: "echo", pod: name } },
        spec: { serviceAccountName: "echo", containers: [{ name: "echo", image: "echo", ports: [{ name: "grpc-echo", containerPort: port }] }] },
      },
    });
    // No kubelet: play it, through the status subresource.
    await core.replaceNamespacedPodStatus({ name, namespace: ns, body: { ...created, status: { phase: "Running", podIP: ip, podIPs: [{ ip }] } } as V1Pod });
  };

  const sliceEndpoint = (name: string, ready: boolean): NonNullable<V1EndpointSlice["endpoints"]>[number] => ({
    addresses: [ips.get(name)!],
    conditions: { ready },
    targetRef: { kind: "Pod", name, namespace: ns },
  });

  const setSlice = async (endpoints: V1EndpointSlice["endpoints"]): Promise<void> => {
    const current = await discovery.readNamespacedEndpointSlice({ name: "echo-abc", namespace: ns });
    // Every endpoint listens on its own port: the slice names it per port name, as the controller does per pod group.
    await discovery.replaceNamespacedEndpointSlice({ name: "echo-abc", namespace: ns, body: { ...current, endpoints } });
  };

  before(async function () {
    kas = kubeApiserverOrSkip(this);
    skipUnlessRoot(this);
    this.timeout(180_000);
    const kubeClient = new KubeClient({ kubeconfig: kas.kubeconfig });
    await applyIstioCrds(kubeClient);
    core = kubeClient.config.makeApiClient(CoreV1Api);
    discovery = kubeClient.config.makeApiClient(DiscoveryV1Api);
    custom = kubeClient.config.makeApiClient(CustomObjectsApi);
    addresses = new LocalPodAddresses();
    await core.createNamespace({ body: { metadata: { name: ns } } });
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: "echo" } } });
    await core.createNamespacedService({
      namespace: ns,
      body: { metadata: { name: "echo" }, spec: { selector: { app: "echo" }, ports: [{ name: "grpc-echo", port: 7070, targetPort: "grpc-echo" }] } },
    });
    await pod("echo-1", 11);
    await pod("echo-2", 12);
    // Both pods listen on different ports; a slice names one port per name, so each pod gets a slice of its own.
    for (const name of ["echo-1", "echo-2"]) {
      await discovery.createNamespacedEndpointSlice({
        namespace: ns,
        body: {
          metadata: { name: name === "echo-1" ? "echo-abc" : "echo-def", labels: { "kubernetes.io/service-name": "echo" } },
          addressType: "IPv4",
          endpoints: name === "echo-1" ? [sliceEndpoint(name, true)] : [],
          ports: [{ name: "grpc-echo", port: ports.get(name)!, protocol: "TCP" }],
        },
      });
    }
    dir = mkdtempSync(join(tmpdir(), "meshward-k8s-e2e-"));
    writeFileSync(join(dir, "mesh.yaml"), "trustDomain: cluster.local\nrootNamespace: istio-system\n");
    cp = await startTestControlPlane(dir, { kubernetes: { kubeconfig: kas.kubeconfig }, ...(process.env["MESHWARD_TEST_LOG"] === "1" ? { log: (l: string) => console.log(l) } : {}) });
    // grpc-js-xds with its RBAC enabled, in a child process (the flag is read at load).
    workloads = new RbacWorkloads();
    for (const name of ["echo-1", "echo-2"]) {
      const node = { ip: ips.get(name)!, pod: name, namespace: ns, serviceAccount: "echo", labels: { app: "echo", pod: name } };
      // A server serves once meshward sends its listener: echo-2's comes when it joins the Service.
      serving.set(name, workloads.startServer(name, `${ips.get(name)!}:${ports.get(name)!}`, cp.xdsAddress, node));
    }
    await serving.get("echo-1");
    await workloads.startClient("client", `${host}:7070`, cp.xdsAddress, { ip: addresses.add(100), pod: "client", namespace: ns });
  });

  after(async () => {
    workloads?.stop();
    await cp?.stop();
    addresses?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  /** `echo-1`, `echo-2` (the answering pod), `denied`, or `error:<code>:<details>`. */
  const outcome = async (): Promise<string> => callOutcome(await workloads!.call("client", { timeoutMs: 2000 })).replace(/^ok:/, "");

  it("a grpc-js-xds workload calls a Kubernetes Service by its host, reaching its ready Pod", async function () {
    this.timeout(60_000);
    assert.equal(await eventually("a call through the Service", async () => ((await outcome()) === "echo-1" ? "echo-1" : undefined), 30_000), "echo-1");
    const service = cp!.provider.snapshot.services.find((s) => s.hostname === host);
    assert.ok(service !== undefined, "the Service is in the model");
    assert.equal(service.source, `Service ${ns}/echo`);
    assert.deepEqual(service.endpoints.map((e) => [e.address, e.identity.serviceAccount, e.labels["pod"]]), [[ips.get("echo-1"), "echo", "echo-1"]]);
    assert.equal(cp!.provider.snapshot.pods.get(`${ns}/echo-1`)?.ips[0], ips.get("echo-1"), "the pod's address comes from its Pod");
  });

  it("an EndpointSlice edit is pushed: a new ready endpoint joins and a not-ready one leaves", async function () {
    this.timeout(60_000);
    const other = await discovery.readNamespacedEndpointSlice({ name: "echo-def", namespace: ns });
    await discovery.replaceNamespacedEndpointSlice({ name: "echo-def", namespace: ns, body: { ...other, endpoints: [sliceEndpoint("echo-2", true)] } });
    await serving.get("echo-2");
    await setSlice([sliceEndpoint("echo-1", false)]);
    await eventually("only echo-2 answering", async () => {
      const answers = new Set<string>();
      for (let i = 0; i < 6; i++) answers.add(await outcome());
      return answers.size === 1 && answers.has("echo-2") ? true : undefined;
    }, 30_000);
    await setSlice([sliceEndpoint("echo-1", true)]);
    await eventually("echo-1 back", async () => ((await outcome()) === "echo-1" ? true : undefined), 30_000);
  });

  it("an AuthorizationPolicy created, edited and deleted in the apiserver is pushed each time", async function () {
    this.timeout(90_000);
    const policy = (path: string): object => ({
      apiVersion: "security.istio.io/v1",
      kind: "AuthorizationPolicy",
      metadata: { name: "deny-echo", namespace: ns },
      spec: { selector: { matchLabels: { app: "echo" } }, action: "DENY", rules: [{ to: [{ operation: { paths: [path] } }] }] },
    });
    await custom.createNamespacedCustomObject({ ...security, namespace: ns, body: policy("/meshward.test.Echo/Echo") });
    await eventually("the DENY policy enforced", async () => ((await outcome()) === "denied" ? true : undefined), 30_000);

    const current = (await custom.getNamespacedCustomObject({ ...security, namespace: ns, name: "deny-echo" })) as { metadata: { resourceVersion: string } };
    const edited = policy("/some.Other/Method") as { metadata: object };
    await custom.replaceNamespacedCustomObject({ ...security, namespace: ns, name: "deny-echo", body: { ...edited, metadata: { ...edited.metadata, resourceVersion: current.metadata.resourceVersion } } });
    await eventually("the edit (another path) allowing echo again", async () => (["echo-1", "echo-2"].includes(await outcome()) ? true : undefined), 30_000);

    const again = (await custom.getNamespacedCustomObject({ ...security, namespace: ns, name: "deny-echo" })) as { metadata: { resourceVersion: string } };
    const back = policy("/meshward.test.Echo/Echo") as { metadata: object };
    await custom.replaceNamespacedCustomObject({ ...security, namespace: ns, name: "deny-echo", body: { ...back, metadata: { ...back.metadata, resourceVersion: again.metadata.resourceVersion } } });
    await eventually("denied again", async () => ((await outcome()) === "denied" ? true : undefined), 30_000);

    await custom.deleteNamespacedCustomObject({ ...security, namespace: ns, name: "deny-echo" });
    await eventually("the delete removing the policy", async () => (["echo-1", "echo-2"].includes(await outcome()) ? true : undefined), 30_000);
    assert.equal((cp!.provider.snapshot.others.get("AuthorizationPolicy") ?? []).filter((a) => a.object.metadata.namespace === ns).length, 0);
  });

  it("a VirtualService created in the apiserver routes the Service's calls to one subset, and its delete restores both", async function () {
    this.timeout(90_000);
    const networking = (plural: string) => ({ group: "networking.istio.io", version: "v1", plural, namespace: ns });
    await custom.createNamespacedCustomObject({
      ...networking("destinationrules"),
      body: { apiVersion: "networking.istio.io/v1", kind: "DestinationRule", metadata: { name: "echo", namespace: ns }, spec: { host, subsets: [{ name: "one", labels: { pod: "echo-1" } }, { name: "two", labels: { pod: "echo-2" } }] } },
    });
    // A short host name resolves in the VirtualService's namespace, as istiod resolves it.
    await custom.createNamespacedCustomObject({
      ...networking("virtualservices"),
      body: { apiVersion: "networking.istio.io/v1", kind: "VirtualService", metadata: { name: "echo", namespace: ns }, spec: { hosts: ["echo"], http: [{ route: [{ destination: { host: "echo", subset: "two" } }] }] } },
    });
    await eventually("every call routed to subset two (echo-2)", async () => {
      const answers = new Set<string>();
      for (let i = 0; i < 8; i++) answers.add(await outcome());
      return answers.size === 1 && answers.has("echo-2") ? true : undefined;
    }, 30_000);
    await custom.deleteNamespacedCustomObject({ ...networking("virtualservices"), name: "echo" });
    await eventually("echo-1 answering again", async () => ((await outcome()) === "echo-1" ? true : undefined), 30_000);
    await custom.deleteNamespacedCustomObject({ ...networking("destinationrules"), name: "echo" });
  });

  it("a rejected AuthorizationPolicy is reported with its apiserver resource and field path, the rest keeps serving", async function () {
    this.timeout(30_000);
    await custom.createNamespacedCustomObject({
      ...security,
      namespace: ns,
      body: { apiVersion: "security.istio.io/v1", kind: "AuthorizationPolicy", metadata: { name: "bad", namespace: ns }, spec: { action: "DENY", rules: [{ to: [{ operation: { ports: ["not-a-port"] } }] }] } },
    });
    const error = await eventually("the rejection", () => cp!.provider.snapshot.errors.find((e) => e.object === `AuthorizationPolicy ${ns}/bad` && e.severity === "error" && e.path !== ""));
    assert.equal(error.file, `k8s://Kubernetes/security.istio.io/v1/AuthorizationPolicy ${ns}/bad`);
    assert.match(error.path, /^spec\.rules\[0\]\.to\[0\]\.operation\.ports/);
    assert.ok(["echo-1", "echo-2"].includes(await outcome()), "the mesh keeps serving");
    await custom.deleteNamespacedCustomObject({ ...security, namespace: ns, name: "bad" });
  });
});
