// End to end on the real kernel, with meshward's own commands: `meshward serve` (the control
// plane: CA with node-scoped issuance, pods placed by their authenticated proxies' NODE_NAME) and
// `meshward agent` (eBPF agent + identity socket) run as a user runs them. A pod's proxy connects
// as the pod with NODE_NAME = the agent's node; `meshward workload-certs --from-node-agent`, run in
// the pod's cgroup with no token, writes the pod's certificate; after a real nsenter in the pod the
// agent has cut its identity and the same command gets nothing.
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
  let agent: ChildProcess | undefined;
  let agentLog = "";
  let ads: AdsClient | undefined;
  let proxy: SotwClientStream | undefined;
  const socket = (): string => join(dir, "run", "identity.sock");
  const certsFromAgent = (out: string): Promise<{ code: number | null; stderr: string }> =>
    runInPod(pod, [process.execPath, MESHWARD_BIN, "workload-certs", "--from-node-agent", "--socket", socket(), "--out", out, "--once"]);

  before(async function () {
    skipUnlessRoot(this);
    dir = mkdtempSync(join(tmpdir(), "meshward-e2e-identity-"));
    writeFileSync(join(dir, "mesh.yaml"), "trustDomain: cluster.local\n");
    cp = await startTestControlPlane(dir);
    const tokens = await TokenKey.loadOrCreate(join(dir, ".data"));
    pod = createTestPod("vouched");
    const podsFile = join(dir, "pods.yaml");
    writePodsFile(podsFile, node, [{ ...pod, serviceAccount: "vouched-sa", labels: {} }]);
    writeFileSync(join(dir, "rules.yaml"), "rules: []\n");
    // The pod's proxy: authenticated as the pod's identity, on the agent's node.
    ads = new AdsClient(cp.xdsAddress);
    proxy = ads.sotw(
      { id: `sidecar~10.3.0.1~${pod.name}.${pod.namespace}~${pod.namespace}.svc.cluster.local`, metadata: { NAMESPACE: pod.namespace, SERVICE_ACCOUNT: "vouched-sa", NODE_NAME: node } },
      undefined,
      bearer(tokens.mint({ namespace: pod.namespace, serviceAccount: "vouched-sa" })),
    );
    proxy.subscribe(TypeUrl.Cluster, []);
    await proxy.next(10_000);
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
    proxy?.cancel();
    ads?.close();
    await cp?.stop();
    if (pod !== undefined) await removeTestPod(pod);
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
});
