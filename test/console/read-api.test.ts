// Issue 14 items 1 and 4: the read API of a real control plane, over HTTP as the console and the
// CLI use it: who may ask (loopback by address and Host, others only with a console token of the
// admin namespace), CSRF protection on the release, bounded bodies, what the views hold
// (certificate expiry after a real CreateCertificate, quarantines with their chain), and the CLI's
// quarantine, risk, events and analyze answering from it.
import { strict as assert } from "node:assert";
import { generateKeyPairSync } from "node:crypto";
import { request } from "node:http";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { CaClient } from "../../src/ca/ca-api.js";
import { createCsr } from "../../src/ca/csr-builder.js";
import { CONSOLE_AUDIENCE } from "../../src/console/access.js";
import type { IdentitiesView } from "../../src/console/identity-view.js";
import type { MeshView } from "../../src/console/mesh-view.js";
import type { EnforcementView, ProxyView } from "../../src/console/risk-view.js";
import type { ControlPlane } from "../../src/mesh/control-plane.js";
import type { AuditTimeline } from "../../src/risk/audit-query.js";
import { SIGNALS_AUDIENCE } from "../../src/signals/node-identity.js";
import { TokenKey } from "../../src/security/token-key.js";
import { AgentStream, escapeSignal } from "../support/agent-stream.js";
import { startTestControlPlane } from "../support/control-plane.js";
import { runMeshward } from "../support/meshward-cli.js";
import { ESCAPE_QUARANTINE_POLICY } from "../risk/fixtures.js";
import { SHOP_MESH, shopProxy } from "./fixtures.js";
import { AdsClient, type SotwClientStream } from "../support/ads-client.js";
import { eventually } from "../support/eventually.js";

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

function http(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const length: Record<string, string> = opts.body !== undefined ? { "content-length": String(Buffer.byteLength(opts.body)) } : {};
    const req = request(url, { method: opts.method ?? "GET", headers: { ...length, ...opts.headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown> }));
    });
    req.on("error", reject);
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

describe("read API: the running control plane's authenticated JSON view", function () {
  this.timeout(60_000);
  let dir: string;
  let cp: ControlPlane;
  let base: string;
  let tokens: TokenKey;
  let client: grpc.Client;
  let ads: AdsClient;
  let proxy: SotwClientStream;
  const cart = { uid: "uid-cart-0", namespace: "shop", name: "cart-0", serviceAccount: "cart" };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "meshward-read-api-"));
    writeFileSync(join(dir, "mesh.yaml"), "trustDomain: cluster.local\nrootNamespace: istio-system\n");
    writeFileSync(join(dir, "policy.yaml"), ESCAPE_QUARANTINE_POLICY);
    writeFileSync(join(dir, "shop.yaml"), SHOP_MESH);
    cp = await startTestControlPlane(dir, { consoleAddress: "127.0.0.1:0" });
    base = cp.console!.url;
    tokens = await TokenKey.loadOrCreate(join(dir, ".data"));
    client = new grpc.Client(cp.xdsAddress, grpc.credentials.createInsecure());
    ads = new AdsClient(cp.xdsAddress);
    proxy = shopProxy(ads, "cart-0", "10.1.0.41", "cart");
  });
  after(async () => {
    proxy?.cancel();
    ads?.close();
    client?.close();
    await cp?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  const bearer = (namespace: string, serviceAccount: string, audiences = [CONSOLE_AUDIENCE]): Record<string, string> => ({
    authorization: `Bearer ${tokens.mint({ namespace, serviceAccount, audiences })}`,
  });

  async function quarantineCart(signalId: string): Promise<string> {
    const stream = new AgentStream(client, tokens.mint({ namespace: "meshward-system", serviceAccount: "node-node-1", audiences: [SIGNALS_AUDIENCE] }));
    try {
      stream.send([escapeSignal(signalId, "node-1", cart)]);
      const r = await stream.next();
      assert.deepEqual(r?.acceptedIds, [signalId], JSON.stringify(r?.rejected));
    } finally {
      stream.close();
    }
    const active = cp.risk.risk.enforcement.active();
    assert.equal(active.length, 1);
    return active[0]!.id;
  }

  it("answers a loopback caller, and refuses a loopback request naming another host (DNS rebinding)", async () => {
    const ok = await http(`${base}/api/v1/session`);
    assert.equal(ok.status, 200);
    assert.equal(ok.body["who"], "loopback");
    assert.equal(typeof ok.body["csrfToken"], "string");
    const rebound = await http(`${base}/api/v1/view`, { headers: { host: "attacker.example:15080" } });
    assert.equal(rebound.status, 403);
    assert.match(String(rebound.body["error"]), /Host "attacker\.example:15080" is not a loopback name/);
  });

  it("takes a console token of the admin namespace, and refuses workload tokens, other namespaces and forged tokens", async () => {
    const admin = await http(`${base}/api/v1/session`, { headers: bearer("istio-system", "admin") });
    assert.equal(admin.status, 200);
    assert.equal(admin.body["who"], "istio-system/admin");
    const workload = await http(`${base}/api/v1/view`, { headers: bearer("istio-system", "admin", ["istio-ca"]) });
    assert.equal(workload.status, 401);
    assert.match(String(workload.body["error"]), /audience .* does not include meshward-console/);
    const shop = await http(`${base}/api/v1/view`, { headers: bearer("shop", "cart") });
    assert.equal(shop.status, 403);
    assert.match(String(shop.body["error"]), /shop\/cart may not read the mesh \(only identities of namespace istio-system\)/);
    const forged = await http(`${base}/api/v1/view`, { headers: { authorization: `Bearer ${TokenKey.generate().mint({ namespace: "istio-system", serviceAccount: "admin", audiences: [CONSOLE_AUDIENCE] })}` } });
    assert.equal(forged.status, 401);
  });

  it("shows who may call whom with the mTLS mode, each workload's authorization, and the proxies' sync state", async () => {
    const mesh = (await http(`${base}/api/v1/mesh`)).body as unknown as MeshView;
    const call = (from: string, to: string) => mesh.calls.find((c) => c.from === `WorkloadEntry shop/${from}` && c.to === `WorkloadEntry shop/${to}`);
    assert.deepEqual(call("frontend-0", "cart-0"), {
      from: "WorkloadEntry shop/frontend-0", to: "WorkloadEntry shop/cart-0", fromIdentity: "spiffe://cluster.local/ns/shop/sa/frontend", via: "cart.shop.svc.cluster.local:7070",
      transport: "mTLS", client: "auto mTLS", mtls: "STRICT", decision: "allowed", by: ["shop/cart-callers"],
    });
    assert.equal(call("batch-0", "cart-0")?.decision, "denied");
    assert.equal(call("cart-0", "frontend-0")?.decision, "allowed");
    assert.equal(call("cart-0", "batch-0"), undefined, "batch serves no service: no call is routed to it");
    const cartWorkload = mesh.workloads.find((w) => w.ref === "WorkloadEntry shop/cart-0");
    assert.deepEqual(cartWorkload?.authorization, { custom: [], deny: [], allow: ["shop/cart-callers"], audit: [] });
    assert.deepEqual(mesh.services.map((s) => s.host), ["cart.shop.svc.cluster.local", "frontend.shop.svc.cluster.local"]);
    // The page's poll leaves the (large) mesh view out while its config generation is current.
    const again = (await http(`${base}/api/v1/view?meshGeneration=${mesh.generation}`)).body;
    assert.equal(again["generation"], mesh.generation);
    assert.equal(again["mesh"], undefined);
    assert.ok(Array.isArray(again["quarantines"]));
    assert.equal(((await http(`${base}/api/v1/view?meshGeneration=${mesh.generation - 1}`)).body["mesh"] as MeshView | undefined)?.generation, mesh.generation);
    await eventually("the proxy's ACKs", async () => {
      const proxies = (await http(`${base}/api/v1/proxies`)).body as unknown as ProxyView[];
      assert.deepEqual(proxies.map((p) => [p.id, p.identity, p.sync["CDS"], p.sync["LDS"], p.sync["RDS"]]), [
        ["sidecar~10.1.0.41~cart-0.shop~shop.svc.cluster.local", "spiffe://cluster.local/ns/shop/sa/cart", "SYNCED", "SYNCED", "NOT SENT"],
      ]);
      return true;
    });
  });

  it("shows the expiry of the certificate the CA issued for an identity", async () => {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    const ca = new CaClient(cp.xdsAddress, grpc.credentials.createInsecure());
    try {
      await ca.createCertificate({ csrPem: createCsr(privateKey, publicKey), token: tokens.mint({ namespace: "shop", serviceAccount: "frontend" }), ttlSeconds: 3600 });
    } finally {
      ca.close();
    }
    const ids = (await http(`${base}/api/v1/identities`)).body as unknown as IdentitiesView;
    const frontend = ids.identities.find((i) => i.spiffeId === "spiffe://cluster.local/ns/shop/sa/frontend");
    assert.ok(frontend?.certificate !== undefined, JSON.stringify(frontend));
    assert.equal(frontend.certificate.issued, 1);
    assert.ok(frontend.certificate.expiresInSeconds > 3500 && frontend.certificate.expiresInSeconds <= 3600, `expires in ${frontend.certificate.expiresInSeconds}s`);
    assert.equal(ids.identities.find((i) => i.spiffeId.endsWith("/sa/batch"))?.certificate, undefined, "batch asked for none");
    assert.equal(ids.ca.trustDomain, "cluster.local");
  });

  it("releases only with the CSRF token, from its own origin, with a small JSON body; the release is recorded with the caller", async () => {
    const id = await quarantineCart("escape-csrf");
    const session = (await http(`${base}/api/v1/session`)).body;
    const csrf = String(session["csrfToken"]);
    const post = (headers: Record<string, string>, body = JSON.stringify({ target: id })) =>
      http(`${base}/api/v1/quarantines/release`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
    const noToken = await post({});
    assert.equal(noToken.status, 403);
    assert.match(String(noToken.body["error"]), /needs the x-meshward-csrf header/);
    assert.equal((await post({ "x-meshward-csrf": "guess" })).status, 403);
    const crossOrigin = await post({ "x-meshward-csrf": csrf, origin: "http://attacker.example" });
    assert.equal(crossOrigin.status, 403);
    assert.match(String(crossOrigin.body["error"]), /Origin http:\/\/attacker\.example is not the console's/);
    const huge = await post({ "x-meshward-csrf": csrf }, JSON.stringify({ target: "x".repeat(8000) }));
    assert.equal(huge.status, 400);
    assert.match(String(huge.body["error"]), /over 4096 bytes/);
    const noTarget = await post({ "x-meshward-csrf": csrf }, "{}");
    assert.equal(noTarget.status, 400);
    assert.match(String(noTarget.body["error"]), /field "target" must be a non-empty string/);
    assert.equal(cp.risk.risk.enforcement.active().length, 1, "still in force after the refused requests");

    const quarantines = (await http(`${base}/api/v1/quarantines`)).body as unknown as EnforcementView[];
    assert.deepEqual(quarantines.map((q) => [q.id, q.pod.name, q.identityId]), [[id, "cart-0", "spiffe://cluster.local/ns/shop/sa/cart"]]);
    const ok = await post({ "x-meshward-csrf": csrf, origin: base });
    assert.equal(ok.status, 200);
    assert.deepEqual((ok.body["released"] as EnforcementView[]).map((e) => e.id), [id]);
    assert.deepEqual(cp.risk.risk.enforcement.active(), [], "ended at once, not at the next reload");
    const released = cp.risk.risk.audit.query.actions({ signal: "escape-csrf" }).filter((a) => a.event === "released");
    assert.deepEqual(released.map((a) => a.by), ["console:loopback"]);
  });

  it("serves the CLI: quarantine list and release, risk, events and analyze answer from the running control plane", async () => {
    const id = await quarantineCart("escape-cli");
    const dataDir = join(dir, ".data");
    const viaApi = ["--console", cp.console!.address, "--data-dir", dataDir];
    const list = await runMeshward("quarantine", "list", ...viaApi, "--json");
    assert.equal(list.code, 0, list.stderr);
    const listed = JSON.parse(list.stdout) as EnforcementView[];
    assert.deepEqual(listed.map((e) => e.id), [id]);
    assert.equal(listed[0]!.signalId, "escape-cli");

    const risk = await runMeshward("risk", ...viaApi);
    assert.equal(risk.code, 0, risk.stderr);
    assert.match(risk.stdout, /shop\/cart-0\s+cart\s+\d+\.\d/);

    const events = await runMeshward("events", ...viaApi, "--signal", "escape-cli", "--json");
    assert.equal(events.code, 0, events.stderr);
    const timeline = JSON.parse(events.stdout) as AuditTimeline;
    assert.deepEqual(timeline.signals.map((s) => s.id), ["escape-cli"]);
    assert.ok(timeline.deliveries !== undefined);
    assert.deepEqual(timeline.actions.map((a) => a.event), ["created"]);

    const analyze = await runMeshward("analyze", ...viaApi, "-o", "json");
    assert.equal(analyze.code, 0, analyze.stderr);
    const findings = JSON.parse(analyze.stdout) as { code: string; object: string; origin: string }[];
    // Its live quarantine, and nothing about the enforcement's own DENY policies.
    assert.deepEqual(findings.map((f) => [f.code, f.object, f.origin]), [["MW0002", "Pod shop/cart-0", "control plane"]]);

    const release = await runMeshward("quarantine", "release", "shop/cart-0", ...viaApi, "--by", "oncall");
    assert.equal(release.code, 0, release.stderr);
    assert.match(release.stdout, new RegExp(`released ${id} \\(quarantine pod shop/cart-0 10\\.1\\.0\\.41\\)`));
    assert.deepEqual(cp.risk.risk.enforcement.active(), []);
    const by = cp.risk.risk.audit.query.actions({ signal: "escape-cli" }).filter((a) => a.event === "released").map((a) => a.by);
    assert.deepEqual(by, ["console:loopback (oncall)"]);
  });

  it("the CLI refuses an explicit --console that does not answer, and --console none keeps the data dir", async () => {
    const gone = await runMeshward("quarantine", "list", "--console", "127.0.0.1:1", "--data-dir", join(dir, ".data"));
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /meshward quarantine: http:\/\/127\.0\.0\.1:1: /);
    const offline = await runMeshward("quarantine", "list", "--console", "none", "--data-dir", join(dir, ".data"));
    assert.equal(offline.code, 0, offline.stderr);
    assert.equal(offline.stdout.trim(), "no active enforcement");
  });
});
