// End to end: AuthorizationPolicies on peer identities, enforced by a real grpc-js-xds server
// (RBAC enabled) over STRICT mTLS. Each client identity has its own certificates from a real
// `meshward workload-certs` process and its own bootstrap; the server's RBAC matches the SPIFFE ID
// in the client's certificate against what meshward translated from `principals`, `namespaces`
// and `serviceAccounts`.
import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ControlPlane } from "../../src/mesh/control-plane.js";
import { startTestControlPlane } from "../support/control-plane.js";
import { grpcXdsBootstrap } from "../../src/ca/grpc-bootstrap.js";
import type { XdsNackEvent } from "../../src/xds/server.js";
import { eventually, freePort, type NodeSpec } from "../support/proxyless.js";
import { echoHost, mtlsEchoConfig } from "../support/echo-config.js";
import { RbacWorkloads, callOutcome as outcome } from "../support/rbac-workloads.js";
import { WorkloadCertAgents } from "../support/workload-certs.js";

/** Client identities: two service accounts in the server's namespace, and a namesake elsewhere. */
const CLIENTS = [
  { name: "alice", namespace: "default", sa: "alice", ip: "127.0.0.101" },
  { name: "bob", namespace: "default", sa: "bob", ip: "127.0.0.102" },
  { name: "alice-b", namespace: "team-b", sa: "alice", ip: "127.0.0.103" },
] as const;
type ClientName = (typeof CLIENTS)[number]["name"];

const allowFrom = (source: string): string =>
  `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: allow-from, namespace: default}\nspec:\n  selector: {matchLabels: {app: echo}}\n  action: ALLOW\n  rules:\n  - from: [{source: ${source}}]\n`;

describe("e2e: AuthorizationPolicy on peer identities over STRICT mTLS (grpc-js-xds RBAC, meshward workload-certs)", function () {
  this.timeout(120_000);
  let dir: string;
  let cp: ControlPlane;
  let agents: WorkloadCertAgents | undefined;
  let workloads: RbacWorkloads | undefined;
  const nacks: XdsNackEvent[] = [];

  const writePolicy = (doc = ""): void => writeFileSync(join(dir, "authz.yaml"), doc);
  const outcomes = async (): Promise<Record<ClientName, string>> => {
    const entries = await Promise.all(CLIENTS.map(async (c) => [c.name, outcome(await workloads!.call(c.name))] as const));
    return Object.fromEntries(entries) as Record<ClientName, string>;
  };
  /** Waits until every client sees `want` (the policy reached the server), then returns what they saw. */
  const until = (what: string, want: Record<ClientName, string>): Promise<Record<ClientName, string>> =>
    eventually(what, async () => {
      const got = await outcomes();
      if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`saw ${JSON.stringify(got)}`);
      return got;
    }, 20_000);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "meshward-authz-mtls-e2e-"));
    const port = await freePort();
    writeFileSync(join(dir, "mesh.yaml"), "trustDomain: cluster.local\nrootNamespace: istio-system\n");
    writeFileSync(join(dir, "echo.yaml"), mtlsEchoConfig(port, "STRICT", "echo", "istio-system"));
    writePolicy();
    cp = await startTestControlPlane(dir);
    cp.xds.on("nack", (e) => nacks.push(e));
    agents = new WorkloadCertAgents(dir, join(dir, ".data"), cp.xdsAddress);
    const bootstrapOf = (node: NodeSpec & { serviceAccount: string }, certDir: string): string =>
      JSON.stringify(grpcXdsBootstrap({ xdsAddress: cp.xdsAddress, certDir, namespace: node.namespace, serviceAccount: node.serviceAccount, podName: node.pod, podIp: node.ip, labels: node.labels ?? {}, refreshInterval: "1s" }));

    workloads = new RbacWorkloads();
    const server = { ip: "127.0.0.1", pod: "echo-0", namespace: "default", serviceAccount: "echo", labels: { app: "echo" } };
    await workloads.startServer("echo-0", `127.0.0.1:${port}`, cp.xdsAddress, server, bootstrapOf(server, await agents.start("default", "echo")));
    for (const c of CLIENTS) {
      const node = { ip: c.ip, pod: `${c.name}-0`, namespace: c.namespace, serviceAccount: c.sa, labels: { app: c.name } };
      await workloads.startClient(c.name, `${echoHost}:7070`, cp.xdsAddress, node, bootstrapOf(node, await agents.start(c.namespace, c.sa)));
    }
  });

  after(async () => {
    workloads?.stop();
    agents?.stop();
    await cp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("without a policy every identity is admitted over mTLS", async () => {
    await until("all mTLS calls to succeed", { alice: "ok:echo-0", bob: "ok:echo-0", "alice-b": "ok:echo-0" });
  });

  it("an ALLOW on a principal admits that identity and rejects the others with PERMISSION_DENIED", async () => {
    writePolicy(allowFrom(`{principals: ["cluster.local/ns/default/sa/alice"]}`));
    await until("only default/alice to be admitted", { alice: "ok:echo-0", bob: "denied", "alice-b": "denied" });
    // The same policy naming the other identity swaps the outcomes: the match is on the certificate.
    writePolicy(allowFrom(`{principals: ["cluster.local/ns/default/sa/bob"]}`));
    await until("only default/bob to be admitted", { alice: "denied", bob: "ok:echo-0", "alice-b": "denied" });
  });

  it("an ALLOW on serviceAccounts (default namespace = the policy's) admits only that namespace's account", async () => {
    writePolicy(allowFrom(`{serviceAccounts: ["alice"]}`));
    await until("default/alice only to be admitted", { alice: "ok:echo-0", bob: "denied", "alice-b": "denied" });
    writePolicy(allowFrom(`{serviceAccounts: ["team-b/alice"]}`));
    await until("team-b/alice only to be admitted", { alice: "denied", bob: "denied", "alice-b": "ok:echo-0" });
  });

  it("an ALLOW on namespaces admits every identity of that namespace and nobody else", async () => {
    writePolicy(allowFrom(`{namespaces: ["def*"]}`));
    await until("identities of namespaces matching def* to be admitted", { alice: "ok:echo-0", bob: "ok:echo-0", "alice-b": "denied" });
    writePolicy(allowFrom(`{namespaces: ["team-b"]}`));
    await until("team-b identities only to be admitted", { alice: "denied", bob: "denied", "alice-b": "ok:echo-0" });
    writePolicy();
    await until("every identity to be admitted once the policy is gone", { alice: "ok:echo-0", bob: "ok:echo-0", "alice-b": "ok:echo-0" });
  });

  it("nothing meshward sent was NACKed", () => {
    assert.deepEqual(nacks.map((e) => `${e.proxyId} ${e.typeUrl}: ${e.error}`), []);
  });
});
