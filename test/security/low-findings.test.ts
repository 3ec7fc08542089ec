// Issue 15 item 8, the low-severity findings, each reproduced: a data dir or key file anyone could
// have written was used as is, a presented but unverifiable client certificate counted as no
// certificate, a proxy claiming another namespace's IP received that workload's inbound config,
// `token create` took any name and lifetime and the authenticator any lifetime, and audit.db was
// created with the default mode before being tightened.
import { strict as assert } from "node:assert";
import { generateKeyPairSync, sign } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { Metadata } from "@grpc/grpc-js";
import type { ControlPlane } from "../../src/mesh/control-plane.js";
import { CaClient } from "../../src/ca/ca-api.js";
import { createCsr } from "../../src/ca/csr-builder.js";
import { ISTIOD_DNS_NAMES } from "../../src/ca/serving-credentials.js";
import { openAuditDatabase } from "../../src/risk/audit-schema.js";
import { MeshwardTokenAuthenticator } from "../../src/security/token-authenticator.js";
import { CA_AUDIENCE, TOKEN_ISSUER, TokenKey } from "../../src/security/token-key.js";
import { TypeUrl } from "../../src/xds/types.js";
import { AdsClient, type TestNode } from "../support/ads-client.js";
import { startTestControlPlane } from "../support/control-plane.js";
import { runMeshward } from "../support/meshward-cli.js";
import { makeTestPki } from "../support/test-pki.js";

const tmp = (name: string): string => mkdtempSync(join(tmpdir(), `meshward-${name}-`));

describe("security (low): data dir and key files", function () {
  this.timeout(30_000);
  let dir: string;
  beforeEach(() => {
    dir = tmp("private-files");
    writeFileSync(join(dir, "mesh.yaml"), "trustDomain: cluster.local\n");
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("refuses to serve from a data dir group or others may write, naming it", async () => {
    const data = join(dir, "data");
    mkdirSync(data);
    chmodSync(data, 0o777);
    await assert.rejects(startTestControlPlane(dir, { dataDir: data }), (e: Error) => e.message.includes(data) && /mode 0777.*group or others write/.test(e.message));
  });

  it("refuses a token key that is a symbolic link or readable by others", async () => {
    const data = join(dir, "data");
    await TokenKey.loadOrCreate(data);
    const key = join(data, "token-key.pem");
    chmodSync(key, 0o644);
    await assert.rejects(TokenKey.loadOrCreate(data), /token-key\.pem: mode 0644 gives group or others access/);
    chmodSync(key, 0o600);
    renameSync(key, join(dir, "elsewhere.pem"));
    symlinkSync(join(dir, "elsewhere.pem"), key);
    await assert.rejects(TokenKey.loadOrCreate(data), /token-key\.pem: is a symbolic link/);
  });

  it("creates audit.db 0600 even under an empty umask, and refuses an existing one others may write", () => {
    const data = join(dir, "audit");
    const old = process.umask(0);
    try {
      openAuditDatabase(data).close();
    } finally {
      process.umask(old);
    }
    assert.equal(statSync(join(data, "audit.db")).mode & 0o777, 0o600);
    chmodSync(join(data, "audit.db"), 0o666);
    assert.throws(() => openAuditDatabase(data), /audit\.db: mode 0666/);
  });
});

describe("security (low): the TLS port and proxies' claims", function () {
  this.timeout(30_000);
  let dir: string;
  let cp: ControlPlane;
  let tokens: TokenKey;
  before(async () => {
    dir = tmp("low-tls");
    writeFileSync(join(dir, "mesh.yaml"), "trustDomain: cluster.local\n");
    writeFileSync(
      join(dir, "cart.yaml"),
      `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: cart, namespace: shop}
spec:
  hosts: [cart.shop.svc.cluster.local]
  ports: [{number: 7070, name: grpc, protocol: GRPC}]
  location: MESH_INTERNAL
  resolution: STATIC
  endpoints: [{address: 10.1.0.61, serviceAccount: cart}]
`,
    );
    cp = await startTestControlPlane(dir, { tlsAddress: "127.0.0.1:0" });
    tokens = await TokenKey.loadOrCreate(join(dir, ".data"));
  });
  after(async () => {
    await cp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("answers UNAUTHENTICATED to a client certificate it cannot verify, even with a valid token", async () => {
    const foreign = makeTestPki("spiffe://cluster.local/ns/shop/sa/cart");
    const root = Buffer.from(cp.ca.bundle.pem());
    const ca = new CaClient(cp.tlsAddress!, grpc.credentials.createSsl(root, foreign.clientKey, foreign.clientCert), {
      "grpc.ssl_target_name_override": ISTIOD_DNS_NAMES[0],
    });
    try {
      const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
      await assert.rejects(
        ca.createCertificate({ csrPem: createCsr(privateKey, publicKey), token: tokens.mint({ namespace: "shop", serviceAccount: "cart" }) }),
        (e: grpc.ServiceError) => e.code === grpc.status.UNAUTHENTICATED && /client certificate/.test(e.details),
      );
    } finally {
      ca.close();
    }
  });

  it("gives a proxy no inbound config of another namespace's workload whose IP it claims", async () => {
    const ads = new AdsClient(cp.xdsAddress);
    const inbound = async (n: TestNode): Promise<boolean> => {
      const s = ads.sotw(n);
      s.subscribe(TypeUrl.Listener, []);
      const r = await s.next();
      s.cancel();
      return r.resources.some((a) => Buffer.from(a.value).includes("inbound|7070|"));
    };
    try {
      const node = (ns: string): TestNode => ({ id: `sidecar~10.1.0.61~cart-0.${ns}~${ns}.svc.cluster.local`, metadata: { NAMESPACE: ns, SERVICE_ACCOUNT: "cart" } });
      assert.equal(await inbound(node("shop")), true, "the workload's own proxy gets its inbound chain");
      assert.equal(await inbound(node("evil")), false, "a proxy of another namespace claiming its IP gets none");
    } finally {
      ads.close();
    }
  });
});

describe("security (low): token names and lifetimes", function () {
  this.timeout(30_000);
  it("token create refuses malformed names and lifetimes past 24h, naming the flag", async () => {
    const data = tmp("token-cli");
    try {
      const bad = await runMeshward("token", "create", "--namespace", "Shop_1", "--service-account", "web", "--data-dir", data);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /namespace "Shop_1" is not a DNS-1123 label/);
      const long = await runMeshward("token", "create", "--namespace", "shop", "--service-account", "web", "--ttl", "48h", "--data-dir", data);
      assert.equal(long.code, 2);
      assert.match(long.stderr, /ttl 172800s is outside 1s to 86400s/);
      const ok = await runMeshward("token", "create", "--namespace", "shop", "--service-account", "web.api", "--ttl", "24h", "--data-dir", data);
      assert.equal(ok.code, 0, ok.stderr);
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  });

  it("the authenticator refuses a validly signed token whose lifetime exceeds its maximum", async () => {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    const now = Math.floor(Date.now() / 1000);
    const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString("base64url");
    const jwt = (lifetime: number): string => {
      const input = `${b64({ alg: "ES256", typ: "JWT" })}.${b64({ iss: TOKEN_ISSUER, sub: "system:serviceaccount:shop:web", aud: [CA_AUDIENCE], iat: now, nbf: now, exp: now + lifetime })}`;
      return `${input}.${sign("sha256", Buffer.from(input), { key: privateKey, dsaEncoding: "ieee-p1363" }).toString("base64url")}`;
    };
    const authn = new MeshwardTokenAuthenticator({ trustDomain: "cluster.local", publicKeys: [publicKey] });
    const call = (token: string) => {
      const metadata = new Metadata();
      metadata.set("authorization", `Bearer ${token}`);
      return authn.authenticate({ metadata, peer: "127.0.0.1:1" });
    };
    assert.equal((await call(jwt(3600))).ok, true);
    const r = await call(jwt(365 * 24 * 3600));
    assert.equal(r.ok, false);
    assert.match(r.ok ? "" : r.reason, /lifetime 31536000s exceeds the 86400s accepted/);
  });
});
