// End to end on the real kernel, with meshward's own commands: `meshward serve` (the control
// plane: CA with node-scoped issuance, pods placed by their authenticated proxies' NODE_NAME) and
// `meshward agent` (eBPF agent + identity socket) run as a user runs them. A pod's proxy connects
// as the pod with NODE_NAME = the agent's node; `meshward workload-certs --from-node-agent`, run in
// the pod's cgroup with no token, writes the pod's certificate; after a real nsenter in the pod the
// agent has cut its identity and the same command gets nothing. A quarantine decided by serve
// reaches the agent at once (NodeIdentityService), and its release restores the pod.
import { strict as assert } from "node:assert";
import { spawn, type ChildProcess } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ControlPlane } from "../../src/mesh/control-plane.js";
import { uriSans } from "../../src/security/certificate-authenticator.js";
import { CA_AUDIENCE, TokenKey } from "../../src/security/token-key.js";
import { NODE_NAMESPACE, nodeServiceAccount, SIGNALS_AUDIENCE } from "../../src/signals/node-identity.js";
import { TypeUrl } from "../../src/xds/types.js";
import { skipUnlessRoot } from "../agent/fixture.js";
import { createTestPod, removeTestPod, runInPod, type TestPod } from "../agent/kube-cgroup.js";
import { AdsClient, bearer, type SotwClientStream } from "../support/ads-client.js";
import { startTestControlPlane } from "../support/control-plane.js";
import { eventually } from "../support/eventually.js";
import { MESHWARD_BIN } from "../support/meshward-cli.js";
import { writePodsFile } from "../support/node-agent.js";

describe("e2e: meshward agent vouches for its pods' identity from the kernel (serve + agent + workload-certs)", function () {
  this.timeout(120_000);
  const node = `e2e-node-${process.pid}`;
  let dir: string;
  let cp: ControlPlane;
  let pod: TestPod;
  let held: TestPod;
  let agent: ChildProcess | undefined;
  let agentLog = "";
  let ads: AdsClient | undefined;
  const proxies: SotwClientStream[] = [];
  const socket = (): string => join(dir, "run", "identity.sock");
  const certsFromAgent = (out: string, from = pod): Promise<{ code: number | null; stderr: string }> =>
    runInPod(from, [process.execPath, MESHWARD_BIN, "workload-certs", "--from-node-agent", "--socket", socket(), "--out", out, "--once"]);

  before(async function () {
    skipUnlessRoot(this);
    dir = mkdtempSync(join(tmpdir(), "meshward-e2e-identity-"));
    writeFileSync(join(dir, "mesh.yaml"), "trustDomain: cluster.local\n");
    cp = await startTestControlPlane(dir);
    const tokens = await TokenKey.loadOrCreate(join(dir, ".data"));
    pod = createTestPod("vouched");
    held = createTestPod("held");
    const podsFile = join(dir, "pods.yaml");
    writePodsFile(podsFile, node, [{ ...pod, serviceAccount: "vouched-sa", labels: {} }, { ...held, serviceAccount: "held-sa", labels: {} }]);
    writeFileSync(join(dir, "rules.yaml"), "rules: []\n");
    // Each pod's proxy: authenticated as the pod's identity, on the agent's node.
    ads = new AdsClient(cp.xdsAddress);
    for (const [i, [p, sa]] of ([[pod, "vouched-sa"], [held, "held-sa"]] as const).entries()) {
      const proxy = ads.sotw(
        { id: `sidecar~10.3.0.${i + 1}~${p.name}.${p.namespace}~${p.namespace}.svc.cluster.local`, metadata: { NAMESPACE: p.namespace, SERVICE_ACCOUNT: sa, NODE_NAME: node } },
        undefined,
        bearer(tokens.mint({ namespace: p.namespace, serviceAccount: sa })),
      );
      proxy.subscribe(TypeUrl.Cluster, []);
      await proxy.next(10_000);
      proxies.push(proxy);
    }
    const nodeToken = tokens.mint({ namespace: NODE_NAMESPACE, serviceAccount: nodeServiceAccount(node), audiences: [SIGNALS_AUDIENCE, CA_AUDIENCE] });
    agent = spawn(process.execPath, [
      MESHWARD_BIN, "agent", "--node", node, "--control-plane", cp.xdsAddress, "--data-dir", join(dir, "agent"),
      "--pods", podsFile, "--rules", join(dir, "rules.yaml"), "--identity-socket", socket(),
    ], { env: { ...process.env, MESHWARD_NODE_TOKEN: nodeToken }, stdio: ["ignore", "pipe", "pipe"] });
    agent.stdout?.on("data", (b: Buffer) => (agentLog += b.toString()));
    agent.stderr?.on("data", (b: Buffer) => (agentLog += b.toString()));
    await eventually(`the agent's identity socket (${agentLog})`, () => (/identity socket .* certificates from/.test(agentLog) && existsSync(socket()) ? true : undefined), 30_000);
  });

  after(async () => {
    if (agent !== undefined && agent.exitCode === null) {
      agent.kill("SIGTERM");
      await new Promise((r) => agent?.once("exit", r));
    }
    for (const p of proxies) p.cancel();
    ads?.close();
    await cp?.stop();
    for (const p of [pod, held]) if (p !== undefined) await removeTestPod(p);
    rmSync(dir, { recursive: true, force: true });
  });

  it("a process in the pod gets the pod's certificate through the agent, issued by serve's CA to the node", async () => {
    const out = join(dir, "certs");
    const r = await certsFromAgent(out);
    assert.equal(r.code, 0, `${r.stderr}\n--- agent ---\n${agentLog}`);
    const leaf = new X509Certificate(readFileSync(join(out, "cert-chain.pem")));
    assert.deepEqual(uriSans(leaf), [`spiffe://cluster.local/ns/${pod.namespace}/sa/vouched-sa`]);
    assert.ok(leaf.checkIssued(new X509Certificate(cp.ca.bundle.pem())), "issued by serve's CA");
  });

  it("after nsenter in the pod the agent serves it nothing more", async () => {
    await runInPod(pod, ["nsenter", "--net=/proc/self/ns/net", "true"]);
    await eventually("the agent's cut", () => (/identity of pod .* cut: runtime detection namespace-setns/.test(agentLog) ? true : undefined));
    const r = await certsFromAgent(join(dir, "certs-after"));
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /PERMISSION_DENIED: .*identity of pod .* is cut: runtime detection namespace-setns/);
  });

  it("a quarantine decided by serve cuts the pod at the agent at once, and its release restores it", async () => {
    assert.equal((await certsFromAgent(join(dir, "held-1"), held)).code, 0);
    cp.risk.risk.enforcement.apply({
      id: "e2e#0", signalId: "e2e", policy: "e2e", rule: "e2e", action: "quarantine", scope: "pod",
      pod: { uid: held.uid, namespace: held.namespace, name: held.name, serviceAccount: "held-sa", labels: {}, ip: "" },
      identity: { trustDomain: "cluster.local", namespace: held.namespace, serviceAccount: "held-sa" }, riskScore: 100, reason: "operator", decidedAtMs: Date.now(),
    });
    await eventually("the agent's cut from the control plane", () => (/identity of pod .*held.* cut: the control plane withholds it/.test(agentLog) ? true : undefined));
    const refused = await certsFromAgent(join(dir, "held-2"), held);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /PERMISSION_DENIED: .*the control plane withholds it: quarantine/);
    assert.equal(cp.risk.risk.enforcement.release(`${held.namespace}/${held.name}`, "e2e").length, 1);
    await eventually("the pod served again", async () => ((await certsFromAgent(join(dir, "held-3"), held)).code === 0 ? true : undefined));
  });
});
