// Node-scoped issuance in `meshward serve` (the real control plane): a pod is "scheduled on a node"
// while its proxy is connected, authenticated as the pod's identity, with NODE_NAME naming that
// node. The node's agent gets that pod's certificate; another node's agent, a pod whose proxy only
// claims the node without credentials, and a pod whose proxy has gone get nothing. (Quarantined
// pods: test/ca/node-impersonation.test.ts, with the risk stage's EnforcementSet.)
import * as grpc from "@grpc/grpc-js";
import { strict as assert } from "node:assert";
import { generateKeyPairSync, X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CaClient } from "../../src/ca/ca-api.js";
import { createCsr } from "../../src/ca/csr-builder.js";
import { IMPERSONATED_IDENTITY, IMPERSONATED_POD } from "../../src/ca/node-impersonation.js";
import type { ControlPlane } from "../../src/mesh/control-plane.js";
import { uriSans } from "../../src/security/certificate-authenticator.js";
import { TokenKey } from "../../src/security/token-key.js";
import { NODE_NAMESPACE, nodeServiceAccount } from "../../src/signals/node-identity.js";
import { AdsClient, bearer, type SotwClientStream } from "../support/ads-client.js";
import { startTestControlPlane } from "../support/control-plane.js";
import { eventually } from "../support/eventually.js";
import { TypeUrl } from "../../src/xds/types.js";

const CART = "spiffe://cluster.local/ns/shop/sa/cart";

describe("node-scoped issuance in meshward serve (pods placed by their authenticated proxies)", function () {
  this.timeout(60_000);
  let dir: string;
  let cp: ControlPlane;
  let tokens: TokenKey;
  let ads: AdsClient;
  let ca: CaClient;
  const streams: SotwClientStream[] = [];

  const proxy = (pod: string, node: string, token?: string): SotwClientStream => {
    const s = ads.sotw(
      { id: `sidecar~10.1.0.${streams.length + 1}~${pod}.shop~shop.svc.cluster.local`, metadata: { NAMESPACE: "shop", SERVICE_ACCOUNT: "cart", NODE_NAME: node } },
      undefined,
      token !== undefined ? bearer(token) : undefined,
    );
    s.subscribe(TypeUrl.Cluster, []);
    streams.push(s);
    return s;
  };
  const ask = (node: string, pod: string): Promise<string[]> => {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    return ca.createCertificate({
      csrPem: createCsr(privateKey, publicKey),
      token: tokens.mint({ namespace: NODE_NAMESPACE, serviceAccount: nodeServiceAccount(node) }),
      metadata: { [IMPERSONATED_IDENTITY]: CART, [IMPERSONATED_POD]: `shop/${pod}` },
    });
  };
  const refused = async (p: Promise<unknown>, details: RegExp): Promise<void> =>
    assert.rejects(p, (e: grpc.ServiceError) => {
      assert.equal(e.code, grpc.status.PERMISSION_DENIED, e.details);
      assert.match(e.details, details);
      return true;
    });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "meshward-impersonation-serve-"));
    writeFileSync(join(dir, "mesh.yaml"), "trustDomain: cluster.local\n");
    cp = await startTestControlPlane(dir);
    tokens = await TokenKey.loadOrCreate(join(dir, ".data"));
    ads = new AdsClient(cp.xdsAddress);
    ca = new CaClient(cp.xdsAddress, grpc.credentials.createInsecure());
  });

  after(async () => {
    for (const s of streams) s.cancel();
    ads?.close();
    ca?.close();
    await cp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("the agent of the node an authenticated proxy runs on gets its pod's certificate; another node's agent is refused", async () => {
    proxy("cart-1", "n1", tokens.mint({ namespace: "shop", serviceAccount: "cart" }));
    const chain = await eventually("the pod placed on n1", () => ask("n1", "cart-1").catch(() => undefined));
    assert.deepEqual(uriSans(new X509Certificate(chain[0])), [CART]);
    await refused(ask("n2", "cart-1"), /pod shop\/cart-1 with identity .* is scheduled on node "n2" \(authenticated proxies' NODE_NAME\)/);
  });

  it("a proxy that claims a node without credentials places nothing", async () => {
    const s = proxy("cart-9", "n1");
    await s.next(5000);
    await refused(ask("n1", "cart-9"), /pod shop\/cart-9 with identity .* is scheduled on node "n1"/);
  });

  it("a pod whose proxy disconnected is no longer scheduled anywhere", async () => {
    const s = proxy("cart-2", "n1", tokens.mint({ namespace: "shop", serviceAccount: "cart" }));
    await eventually("the pod placed on n1", () => ask("n1", "cart-2").catch(() => undefined));
    s.cancel();
    await eventually("the pod gone", () => ask("n1", "cart-2").then(() => undefined, (e: grpc.ServiceError) => (/is scheduled on node/.test(e.details) ? true : undefined)));
  });
});
