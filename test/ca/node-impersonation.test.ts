// Node-scoped issuance over real gRPC (Istio's ImpersonatedIdentity, as ztunnel asks): a node agent
// authenticated as its node gets certificates for the pods scheduled on that node, and for nothing
// else; a quarantined pod (the risk stage's real EnforcementSet) is refused until it is released.
import * as grpc from "@grpc/grpc-js";
import assert from "node:assert/strict";
import { generateKeyPairSync, X509Certificate } from "node:crypto";
import * as path from "node:path";
import { CaClient } from "../../src/ca/ca-api.js";
import { createCsr } from "../../src/ca/csr-builder.js";
import {
  IMPERSONATED_IDENTITY, IMPERSONATED_POD, staticPodPlacement, TrustedNodeAccounts, type ScheduledPod,
} from "../../src/ca/node-impersonation.js";
import { ManualClock } from "../../src/risk/clock.js";
import { EnforcementSet, MemoryEnforcementStore } from "../../src/risk/quarantine.js";
import { uriSans } from "../../src/security/certificate-authenticator.js";
import { MeshwardTokenAuthenticator } from "../../src/security/token-authenticator.js";
import { TokenKey } from "../../src/security/token-key.js";
import { NODE_NAMESPACE, nodeServiceAccount } from "../../src/signals/node-identity.js";
import { newCa, startCaServer, tempDir, TRUST_DOMAIN, type RunningCaServer } from "./helpers.js";

const PODS: ScheduledPod[] = [
  { namespace: "shop", name: "cart-1", serviceAccount: "cart", node: "node-a", uid: "11111111-1111-1111-1111-111111111111", ip: "10.0.0.1" },
  { namespace: "shop", name: "cart-2", serviceAccount: "cart", node: "node-b", uid: "22222222-2222-2222-2222-222222222222", ip: "10.0.0.2" },
  { namespace: "shop", name: "pay-1", serviceAccount: "pay", node: "node-b", uid: "33333333-3333-3333-3333-333333333333", ip: "10.0.0.3" },
];

const CART = `spiffe://${TRUST_DOMAIN}/ns/shop/sa/cart`;
const PAY = `spiffe://${TRUST_DOMAIN}/ns/shop/sa/pay`;

function csr(): string {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  return createCsr(privateKey, publicKey);
}

async function refused(p: Promise<unknown>, details: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    const err = e as { code: grpc.status; details: string };
    assert.equal(err.code, grpc.status.PERMISSION_DENIED, `${grpc.status[err.code]}: ${err.details}`);
    assert.match(err.details, details);
    return true;
  });
}

describe("node-scoped issuance (ImpersonatedIdentity from a node agent)", function () {
  let fixture: Awaited<ReturnType<typeof tempDir>>;
  let key: TokenKey;
  let server: RunningCaServer;
  let client: CaClient;
  const clock = new ManualClock(1_700_000_000_000);
  const enforcement = new EnforcementSet(new MemoryEnforcementStore(), clock);
  const nodeToken = (node: string): string => key.mint({ namespace: NODE_NAMESPACE, serviceAccount: nodeServiceAccount(node) });
  const ask = (node: string, identity: string, pod?: string): Promise<string[]> =>
    client.createCertificate({
      csrPem: csr(),
      token: nodeToken(node),
      metadata: { [IMPERSONATED_IDENTITY]: identity, ...(pod !== undefined ? { [IMPERSONATED_POD]: pod } : {}) },
    });

  before(async () => {
    fixture = await tempDir("ca-impersonation");
    const dataDir = path.join(fixture.dir, "data");
    const ca = await newCa(dataDir, "ecdsa-p256", {
      policy: (id, _caller, pods) => enforcement.issuanceDecision(id, { ips: [] }, pods),
    });
    key = await TokenKey.loadOrCreate(dataDir);
    server = await startCaServer(
      ca,
      [new MeshwardTokenAuthenticator({ trustDomain: TRUST_DOMAIN, publicKeys: [key.publicKey] })],
      grpc.ServerCredentials.createInsecure(),
      { trusted: TrustedNodeAccounts.parse("meshward-system/node-node-a,meshward-system/node-node-b", "test"), placement: staticPodPlacement(PODS) },
    );
    client = new CaClient(server.address, grpc.credentials.createInsecure());
  });

  after(async () => {
    client.close();
    await server.stop();
    await fixture.cleanup();
  });

  it("issues the pod's identity, not the node's, to the agent of the node the pod is scheduled on", async () => {
    const chain = await ask("node-a", CART, "shop/cart-1");
    assert.deepEqual(uriSans(new X509Certificate(chain[0])), [CART]);
    assert.equal(server.decisions.at(-1)?.outcome, "issued");
    assert.match(server.decisions.at(-1)?.identity ?? "", /ns\/shop\/sa\/cart \(for spiffe:\/\/cluster.local\/ns\/meshward-system\/sa\/node-node-a\)/);
  });

  it("refuses an agent asking for a pod scheduled on another node, and says which node", async () => {
    await refused(ask("node-a", PAY), /no pod of spiffe:\/\/cluster.local\/ns\/shop\/sa\/pay is scheduled on node "node-a"/);
    await refused(ask("node-a", CART, "shop/cart-2"), /pod shop\/cart-2 with identity .* is scheduled on node "node-a"/);
  });

  it("refuses a node account that is not trusted to impersonate", async () => {
    await refused(ask("node-c", CART), /not a trusted node account \(trusted: meshward-system\/node-node-a,meshward-system\/node-node-b\)/);
  });

  it("refuses a workload that asks for another identity", async () => {
    const token = key.mint({ namespace: "shop", serviceAccount: "pay" });
    await refused(
      client.createCertificate({ csrPem: csr(), token, metadata: { [IMPERSONATED_IDENTITY]: CART } }),
      /ns\/shop\/sa\/pay may not request a certificate for .*cart: not a trusted node account/,
    );
  });

  it("refuses a quarantined pod, keeps serving another pod of the same service account, and issues again after release", async () => {
    const cart2 = PODS[1];
    enforcement.apply({
      id: "sig-1#0", signalId: "sig-1", policy: "test", rule: "escape", action: "quarantine", scope: "pod",
      pod: { uid: cart2.uid ?? "", namespace: cart2.namespace, name: cart2.name, serviceAccount: "cart", labels: {}, ip: cart2.ip ?? "" },
      identity: { trustDomain: TRUST_DOMAIN, namespace: "shop", serviceAccount: "cart" }, riskScore: 100, reason: "nsenter", decidedAtMs: clock.nowMs(),
    });
    await refused(ask("node-b", CART, "shop/cart-2"), /certificates are withheld: quarantine .*nsenter/);
    // Without naming the pod (ztunnel's request) the identity's pods on node-b include the quarantined one: fail closed.
    await refused(ask("node-b", CART), /certificates are withheld/);
    const other = await ask("node-a", CART, "shop/cart-1");
    assert.deepEqual(uriSans(new X509Certificate(other[0])), [CART]);
    assert.equal(enforcement.release("shop/cart-2", "test").length, 1);
    const again = await ask("node-b", CART, "shop/cart-2");
    assert.deepEqual(uriSans(new X509Certificate(again[0])), [CART]);
  });

  it("parses trusted node accounts like CA_TRUSTED_NODE_ACCOUNTS and names a bad entry", () => {
    const t = TrustedNodeAccounts.parse("meshward-system/node-*, istio-system/ztunnel", "--trusted-node-accounts");
    assert.equal(t.allows({ trustDomain: TRUST_DOMAIN, namespace: "meshward-system", serviceAccount: "node-x" }), true);
    assert.equal(t.allows({ trustDomain: TRUST_DOMAIN, namespace: "meshward-system", serviceAccount: "controller" }), false);
    assert.equal(t.allows({ trustDomain: TRUST_DOMAIN, namespace: "istio-system", serviceAccount: "ztunnel" }), true);
    assert.throws(() => TrustedNodeAccounts.parse("ztunnel", "--trusted-node-accounts"), /--trusted-node-accounts: "ztunnel" is not <namespace>\/<service-account>/);
    assert.equal(TrustedNodeAccounts.parse("", "env").toString(), "(none)");
  });
});
