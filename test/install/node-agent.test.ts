// The node agent as its DaemonSet runs it, against a real apiserver and the real kernel: the
// generated DaemonSet, ServiceAccount and RBAC are accepted; a token of the agent's ServiceAccount
// bound to a pod on a node authenticates to the signal API as that node (the node comes from the
// apiserver's TokenReview, never from the agent), other accounts and unbound tokens are refused;
// the agent's apiserver pod source sees only its node's pods; and `meshward agent` started with the
// DaemonSet's arguments and environment (mounts replaced by files of the same content) connects to
// the control plane over TLS as its node. No kubelet or DaemonSet controller runs here, so the test
// creates the pod the controller would, on a node that exists only in its spec.nodeName.
import { strict as assert } from "node:assert";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Metadata } from "@grpc/grpc-js";
import type { ControlPlane } from "../../src/mesh/control-plane.js";
import { KubeClient, loadKubeConfig } from "../../src/kube/client.js";
import { applyInstall } from "../../src/install/apply.js";
import { installManifest, installValues, type KubeObject } from "../../src/install/manifest.js";
import { watchNodePods } from "../../src/agent/attribution/apiserver-pods.js";
import type { PodInfo } from "../../src/agent/attribution/pod-directory.js";
import { TokenReviewAuthenticator } from "../../src/security/tokenreview.js";
import { AGENT_SERVICE_ACCOUNT, nodeIdentityOfAgentToken, SIGNALS_AUDIENCE } from "../../src/signals/node-identity.js";
import { skipUnlessRoot } from "../agent/fixture.js";
import { startTestControlPlane } from "../support/control-plane.js";
import { eventually } from "../support/eventually.js";
import type { KubeApiserver } from "../support/kube-apiserver.js";
import { privateApiserverWithIstio } from "../support/kube-mesh.js";
import { MESHWARD_BIN, meshwardOk } from "../support/meshward-cli.js";
import { localArg, localMounts, publishedRoot } from "../support/pod-mounts.js";

interface Container { args: string[]; env: { name: string; valueFrom?: { fieldRef: { fieldPath: string } } }[]; volumeMounts: { name: string; mountPath: string }[] }
interface PodSpec { nodeName?: string; serviceAccountName: string; containers: Container[] }

describe("the node agent as its DaemonSet runs it (real apiserver)", function () {
  this.timeout(240_000);
  let kas: KubeApiserver | undefined;
  let client: KubeClient;
  let cp: ControlPlane | undefined;
  let agent: ChildProcess | undefined;
  let agentLog = "";
  let dir: string;
  const ns = "mesh-agents";
  const v = installValues([`namespace=${ns}`]);
  const daemonSet = installManifest(v).find((o) => o.kind === "DaemonSet")! as KubeObject & { spec: { template: { metadata: { labels: Record<string, string> }; spec: PodSpec } } };

  /** The pod the DaemonSet controller would create on `node`. */
  const agentPod = async (name: string, node: string, serviceAccount = AGENT_SERVICE_ACCOUNT): Promise<{ name: string; uid: string }> => {
    const spec = { ...structuredClone(daemonSet.spec.template.spec), nodeName: node, serviceAccountName: serviceAccount };
    const got = await client.request<{ metadata: { uid: string } }>("POST", `/api/v1/namespaces/${ns}/pods`, { apiVersion: "v1", kind: "Pod", metadata: { name, labels: daemonSet.spec.template.metadata.labels }, spec });
    return { name, uid: got.metadata.uid };
  };
  /** A token from the TokenRequest API, bound to `pod` when given (as the kubelet's projected token is). */
  const tokenFor = async (serviceAccount: string, audience: string, pod?: { name: string; uid: string }): Promise<string> => {
    const r = await client.request<{ status: { token: string } }>("POST", `/api/v1/namespaces/${ns}/serviceaccounts/${serviceAccount}/token`, {
      spec: { audiences: [audience], expirationSeconds: 3600, ...(pod !== undefined ? { boundObjectRef: { apiVersion: "v1", kind: "Pod", name: pod.name, uid: pod.uid } } : {}) },
    });
    return r.status.token;
  };
  const authenticate = (authn: TokenReviewAuthenticator, token: string) => {
    const md = new Metadata();
    md.set("authorization", `Bearer ${token}`);
    return authn.authenticate({ metadata: md, peer: "127.0.0.1:1" });
  };

  before(async function () {
    skipUnlessRoot(this);
    const k = await privateApiserverWithIstio(this);
    kas = k.kas;
    client = k.client;
    await applyInstall(client, v, { wait: false });
    dir = mkdtempSync(join(tmpdir(), "meshward-agent-ds-"));
    cp = await startTestControlPlane(dir, {
      kube: { kubeConfig: k.kc, namespace: ns, replicaId: "agents", leaseDurationMs: 4000, renewDeadlineMs: 2000, retryPeriodMs: 700 },
      kubernetes: { kubeconfig: kas.kubeconfig },
      tlsAddress: "127.0.0.1:0",
      caDnsNames: [`istiod.${ns}.svc`],
    });
  });

  after(async () => {
    if (agent && agent.exitCode === null) {
      agent.kill("SIGTERM");
      await new Promise((r) => agent!.once("exit", r));
    }
    await cp?.stop();
    kas?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it("a bound token of the agent's ServiceAccount is its pod's node; other accounts and unbound tokens are refused", async () => {
    const authn = new TokenReviewAuthenticator({ client, clusterId: "Kubernetes", trustDomain: "cluster.local", audiences: [SIGNALS_AUDIENCE], mapIdentity: (id, extra) => nodeIdentityOfAgentToken(id, extra, ns) });
    const onA = await agentPod("meshward-agent-a", "node-a");
    const ok = await authenticate(authn, await tokenFor(AGENT_SERVICE_ACCOUNT, SIGNALS_AUDIENCE, onA));
    assert.deepEqual(ok, { ok: true, identity: { trustDomain: "cluster.local", namespace: "meshward-system", serviceAccount: "node-node-a" }, method: "kubernetes-tokenreview", cluster: "Kubernetes" });
    const unbound = await authenticate(authn, await tokenFor(AGENT_SERVICE_ACCOUNT, SIGNALS_AUDIENCE));
    assert.equal(unbound.ok, false);
    assert.match(unbound.ok ? "" : unbound.reason, /not bound to a pod on a node/);
    const other = await agentPod("not-the-agent", "node-a", "meshward");
    const wrong = await authenticate(authn, await tokenFor("meshward", SIGNALS_AUDIENCE, other));
    assert.equal(wrong.ok, false);
    assert.match(wrong.ok ? "" : wrong.reason, /is not the node agent's ServiceAccount/);
    const caToken = await authenticate(authn, await tokenFor(AGENT_SERVICE_ACCOUNT, "istio-ca", onA));
    assert.equal(caToken.ok, false, "a token for another audience is not a signals token");
  });

  it("the agent's apiserver pod source, with the agent's RBAC, sees exactly its node's pods", async () => {
    const sa = join(dir, "agent-sa.kubeconfig");
    writeFileSync(sa, kubeconfigWithToken(kas!, await tokenFor(AGENT_SERVICE_ACCOUNT, "https://kubernetes.default.svc.cluster.local")));
    await agentPod("meshward-agent-b", "node-b");
    let seen: PodInfo[] = [];
    const informer = watchNodePods({ client: new KubeClient(loadKubeConfig({ kubeconfig: sa })), node: "node-b", onPods: (p) => (seen = p), log: () => undefined });
    try {
      await eventually("node-b's pod", async () => (seen.some((p) => p.name === "meshward-agent-b") ? true : undefined), 30_000);
      await agentPod("meshward-agent-b2", "node-b");
      await eventually("the second pod through the watch", async () => (seen.some((p) => p.name === "meshward-agent-b2") ? true : undefined), 30_000);
      assert.deepEqual(seen.map((p) => p.node).filter((n) => n !== "node-b"), [], "no other node's pods");
      assert.equal(seen.length, 2);
    } finally {
      informer.stop();
    }
  });

  it("meshward agent started with the DaemonSet's arguments connects over TLS as its node", async () => {
    const pod = await agentPod("meshward-agent-c", "node-c");
    const container = daemonSet.spec.template.spec.containers[0]!;
    // The mounts, as files of the same content: the projected token, the root ConfigMap the
    // control plane published in this namespace, the data directory.
    const mounts = localMounts(join(dir, "mounts"), container.volumeMounts);
    writeFileSync(join(mounts.get("/var/run/secrets/istio")!, "root-cert.pem"), await publishedRoot(client, ns));
    writeFileSync(join(mounts.get("/var/run/secrets/tokens")!, "meshward-token"), await tokenFor(AGENT_SERVICE_ACCOUNT, SIGNALS_AUDIENCE, pod));
    const env: Record<string, string> = {};
    for (const e of container.env) env[e.name] = e.valueFrom?.fieldRef.fieldPath === "spec.nodeName" ? "node-c" : "";
    const controlPlane = `istiod.${ns}.svc:15012`;
    // No cluster DNS on loopback: the Service's address is the control plane's TLS port; the
    // certificate is still checked against the Service name (--tls-server-name).
    const args = container.args.map((a) => (a === `--control-plane=${controlPlane}` ? `--control-plane=${cp!.tlsAddress}` : localArg(a, env, mounts)));
    assert.ok(args.includes("--kube-pods") && args.includes("--node=node-c"), args.join(" "));
    // The in-cluster ServiceAccount configuration, as a kubeconfig with the agent's token.
    const sa = join(dir, "agent-c.kubeconfig");
    writeFileSync(sa, kubeconfigWithToken(kas!, await tokenFor(AGENT_SERVICE_ACCOUNT, "https://kubernetes.default.svc.cluster.local")));
    agent = spawn(process.execPath, [MESHWARD_BIN, ...args, "--kubeconfig", sa], { cwd: dir, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    agent.stdout!.on("data", (d: Buffer) => (agentLog += d.toString()));
    agent.stderr!.on("data", (d: Buffer) => (agentLog += d.toString()));
    const reader = join(dir, "reader.token");
    writeFileSync(reader, (await meshwardOk("token", "create", "--data-dir", join(dir, ".data"), "--namespace", "meshward-system", "--service-account", "reader", "--audience", SIGNALS_AUDIENCE)).trim());
    await eventually("node-c among the connected agents", async () => {
      if (agent!.exitCode !== null) throw new Error(`the agent exited with ${agent!.exitCode}`);
      const out = await meshwardOk("events", "--server", cp!.xdsAddress, "--agents", "--token-file", reader);
      return /^node-c connected/m.test(out) ? true : undefined;
    }, 60_000).catch((e: Error) => {
      throw new Error(`${e.message}\nagent:\n${agentLog}`);
    });
    assert.doesNotMatch(agentLog, /forbidden|unauthenticated/i, "nothing the agent does is refused");
  });
});

function kubeconfigWithToken(kas: KubeApiserver, token: string): string {
  return `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "${kas.url}", certificate-authority: ${kas.caFile}}}]
users: [{name: agent, user: {token: ${token}}}]
contexts: [{name: c, context: {cluster: c, user: agent}}]
current-context: c
`;
}
