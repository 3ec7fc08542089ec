// Two control-plane replicas on one cluster: `meshward serve --kubeconfig` as a user runs it (a child
// process, killed with SIGKILL as a crashed pod would be) and one in this process. Both sign with the
// one root in istio-ca-secret; the Lease holder keeps istio-ca-root-cert current; when the holder is
// killed, the other takes over within the lease duration and the ConfigMaps stay correct.
import { strict as assert } from "node:assert";
import { spawn, type ChildProcess } from "node:child_process";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { eventually } from "../support/eventually.js";
import { kubeApiserverOrSkip, uniqueName, type KubeApiserver } from "../support/kube-apiserver.js";
import { MESHWARD_BIN } from "../support/meshward-cli.js";
import { startTestControlPlane } from "../support/control-plane.js";
import type { ControlPlane } from "../../src/mesh/control-plane.js";
import { ROOT_CERT_CONFIGMAP, ROOT_CERT_KEY } from "../../src/kube/root-cert-publisher.js";
import { SELF_SIGNED_CA_SECRET } from "../../src/ca/kube-signer-store.js";
import { leaseHolder } from "../support/kube-lease.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const LEASE_S = 4;

describe("kube: two control-plane replicas with one Lease", function () {
  this.timeout(120_000);
  let kas: KubeApiserver;
  let kc: KubeConfig;
  let core: CoreV1Api;
  let dir: string;
  let ns: string;
  let child: ChildProcess | undefined;
  let output = "";
  let b: ControlPlane | undefined;

  before(async function () {
    kas = kubeApiserverOrSkip(this);
    kc = new KubeConfig();
    kc.loadFromFile(kas.kubeconfig);
    core = kc.makeApiClient(CoreV1Api);
    ns = uniqueName("meshward");
    await core.createNamespace({ body: { metadata: { name: ns } } });
    dir = mkdtempSync(join(tmpdir(), "meshward-replicas-"));
    cpSync(join(root, "mesh-config"), join(dir, "config"), { recursive: true });
  });

  after(async () => {
    if (child && child.exitCode === null) child.kill("SIGKILL");
    await b?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const rootPem = async (): Promise<string> => {
    const s = await core.readNamespacedSecret({ name: SELF_SIGNED_CA_SECRET, namespace: ns });
    return Buffer.from(s.data!["root-cert.pem"]!, "base64").toString();
  };
  const configMapRoot = async (namespace: string): Promise<string | undefined> => {
    try {
      return (await core.readNamespacedConfigMap({ name: ROOT_CERT_CONFIGMAP, namespace })).data?.[ROOT_CERT_KEY];
    } catch {
      return undefined;
    }
  };
  /** replica-b's meshward_leader_election_leading on /metrics. */
  const leading = async (): Promise<string | undefined> => {
    const text = await (await fetch(`http://${b!.monitoringAddress}/metrics`)).text();
    return new RegExp(`^meshward_leader_election_leading\\{lease="${ns}/meshward-leader"\\} (\\d)$`, "m").exec(text)?.[1];
  };
  const rootIn = async (namespace: string): Promise<void> => {
    const want = await rootPem();
    await eventually(`${ROOT_CERT_CONFIGMAP} in ${namespace}`, async () => ((await configMapRoot(namespace)) === want ? true : undefined));
  };

  it("starts the first replica, which creates the root and takes the Lease", async () => {
    child = spawn(
      process.execPath,
      [MESHWARD_BIN, "serve", "--config-dir", join(dir, "config"), "--xds-address", "127.0.0.1:0", "--tls-address", "none", "--monitoring-address", "127.0.0.1:0", "--console-address", "127.0.0.1:0",
        "--data-dir", join(dir, "a"), "--kubeconfig", kas.kubeconfig, "--namespace", ns, "--replica-id", "replica-a", "--lease-duration", `${LEASE_S}s`],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
    await eventually("replica-a to serve", () => (/serving xDS on/.test(output) ? true : undefined), 30_000).catch((e: Error) => {
      throw new Error(`${e.message}\n${output}`);
    });
    await eventually("replica-a to hold the Lease", async () => ((await leaseHolder(kc, ns)) === "replica-a" ? true : undefined));
    assert.match(output, new RegExp(`created self-signed root in Secret ${ns}/${SELF_SIGNED_CA_SECRET}`));
    await rootIn("default");
    await rootIn(ns);
  });

  it("starts a second replica that signs with the same root and does not take the Lease", async () => {
    b = await startTestControlPlane(join(dir, "config"), {
      dataDir: join(dir, "b"),
      kube: { kubeConfig: kc, namespace: ns, replicaId: "replica-b", leaseDurationMs: LEASE_S * 1000, renewDeadlineMs: (LEASE_S * 1000) / 2, retryPeriodMs: (LEASE_S * 1000) / 6 },
    });
    assert.equal(b.ca.signer.root, await rootPem(), "replica-b signs under the root replica-a created");
    await new Promise((r) => setTimeout(r, LEASE_S * 1000));
    assert.equal(b.kube!.elector.isLeader, false);
    assert.equal(await leaseHolder(kc, ns), "replica-a");
    assert.equal(await leading(), "0");
  });

  it("takes over after the holder is killed, and keeps every namespace's ConfigMap correct", async () => {
    const before = uniqueName("app");
    await core.createNamespace({ body: { metadata: { name: before } } });
    await rootIn(before);
    const killedAt = Date.now();
    child!.kill("SIGKILL");
    await new Promise((r) => child!.once("exit", r));
    await eventually("replica-b to hold the Lease", () => (b!.kube!.elector.isLeader ? true : undefined), 6 * LEASE_S * 1000);
    console.log(`      replica-b took over ${Date.now() - killedAt} ms after replica-a was killed (lease ${LEASE_S} s)`);
    assert.equal(await leaseHolder(kc, ns), "replica-b");
    assert.equal(await leading(), "1");

    // The new holder repairs what changes after the old one is gone.
    await core.deleteNamespacedConfigMap({ name: ROOT_CERT_CONFIGMAP, namespace: before });
    await rootIn(before);
    const after = uniqueName("app");
    await core.createNamespace({ body: { metadata: { name: after } } });
    await rootIn(after);
    await rootIn("default");
  });
});
