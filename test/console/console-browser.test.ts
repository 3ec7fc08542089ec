// Issue 14 item 4: the web console in a real browser (Debian's chromium through playwright-core),
// against the real control plane: the mesh and who may call whom; a node agent's escape signal
// makes a quarantine appear live, with its chain from syscall to the last proxy's ACK in the
// timeline; releasing it from the page ends it (recorded as released by the console's caller).
// Screenshots are saved under test-artifacts/console/.
import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import type { Browser, Page } from "playwright-core";
import type { ControlPlane } from "../../src/mesh/control-plane.js";
import { SIGNALS_AUDIENCE } from "../../src/signals/node-identity.js";
import { TokenKey } from "../../src/security/token-key.js";
import { AdsClient, type SotwClientStream } from "../support/ads-client.js";
import { AgentStream, escapeSignal } from "../support/agent-stream.js";
import { chromiumOrSkip, SCREENSHOT_DIR } from "../support/browser.js";
import { startTestControlPlane } from "../support/control-plane.js";
import { ESCAPE_QUARANTINE_POLICY } from "../risk/fixtures.js";
import { SHOP_MESH, shopProxy } from "./fixtures.js";

describe("web console: in chromium against a running control plane", function () {
  this.timeout(120_000);
  let dir: string;
  let cp: ControlPlane;
  let browser: Browser | undefined;
  let page: Page;
  let ads: AdsClient;
  let client: grpc.Client;
  const proxies: SotwClientStream[] = [];
  const cart = { uid: "uid-cart-0", namespace: "shop", name: "cart-0", serviceAccount: "cart" };

  before(async function () {
    browser = await chromiumOrSkip(this);
    dir = mkdtempSync(join(tmpdir(), "meshward-console-"));
    writeFileSync(join(dir, "mesh.yaml"), "trustDomain: cluster.local\nrootNamespace: istio-system\n");
    writeFileSync(join(dir, "policy.yaml"), ESCAPE_QUARANTINE_POLICY);
    writeFileSync(join(dir, "shop.yaml"), SHOP_MESH);
    cp = await startTestControlPlane(dir, { consoleAddress: "127.0.0.1:0" });
    ads = new AdsClient(cp.xdsAddress);
    proxies.push(shopProxy(ads, "cart-0", "10.1.0.41", "cart"), shopProxy(ads, "frontend-0", "10.1.0.42", "frontend"));
    client = new grpc.Client(cp.xdsAddress, grpc.credentials.createInsecure());
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await page.goto(cp.console!.url);
  });

  after(async () => {
    await browser?.close();
    for (const p of proxies) p.cancel();
    ads?.close();
    client?.close();
    await cp?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it("shows the services, the workloads' identity, mTLS mode and authorization, and who may call whom", async () => {
    await page.waitForSelector("[data-testid=workloads] tr[data-workload='WorkloadEntry shop/cart-0']");
    const cartRow = await page.textContent("[data-testid=workloads] tr[data-workload='WorkloadEntry shop/cart-0']");
    assert.match(cartRow ?? "", /spiffe:\/\/cluster\.local\/ns\/shop\/sa\/cart/);
    assert.match(cartRow ?? "", /STRICT/);
    assert.match(cartRow ?? "", /ALLOW: shop\/cart-callers/);
    const cell = (from: string, to: string) => page.textContent(`[data-testid=calls] td[data-from='WorkloadEntry shop/${from}'][data-to='WorkloadEntry shop/${to}']`);
    assert.equal(await cell("frontend-0", "cart-0"), "allowed · mTLS");
    assert.equal(await cell("batch-0", "cart-0"), "denied · mTLS");
    assert.match(await page.textContent("[data-testid=services]") ?? "", /cart\.shop\.svc\.cluster\.local/);
    await page.waitForSelector("[data-testid=proxies] tr[data-proxy^='sidecar~10.1.0.41~cart-0']");
    await page.screenshot({ path: join(SCREENSHOT_DIR, "1-mesh.png"), fullPage: true });
  });

  it("shows a quarantine live, with its chain from syscall to the last ACK in the timeline, and releases it from the page", async () => {
    const tokens = await TokenKey.loadOrCreate(join(dir, ".data"));
    const agent = new AgentStream(client, tokens.mint({ namespace: "meshward-system", serviceAccount: "node-node-1", audiences: [SIGNALS_AUDIENCE] }));
    try {
      agent.send([escapeSignal("escape-1", "node-1", cart)]);
      const r = await agent.next();
      assert.deepEqual(r?.acceptedIds, ["escape-1"], JSON.stringify(r?.rejected));
    } finally {
      agent.close();
    }
    // No reload: the page polls.
    const row = await page.waitForSelector("[data-testid=quarantines] tr[data-enforcement]", { timeout: 30_000 });
    const id = await row.getAttribute("data-enforcement");
    assert.ok(id !== null && id.startsWith("q-"), `enforcement id ${id}`);
    assert.match(await row.textContent() ?? "", /quarantine.*shop\/cart-0.*10\.1\.0\.41/);
    // Both proxies ACK: the chain completes and its latency shows on the quarantine and the timeline.
    await page.waitForFunction(() => /\d+\.\d ms over 2 proxies \(2 ACK, 0 NACK\)/.test(document.querySelector("[data-testid=quarantines] td[data-chain='escape-1']")?.textContent ?? ""), undefined, { timeout: 30_000 });
    const chain = await page.textContent("[data-testid=timeline] li[data-kind=chain][data-signal='escape-1']");
    assert.match(chain ?? "", /syscall → last ACK \d+\.\d ms/);
    assert.match(chain ?? "", /received [\d.-]+ ms · verdict [\d.-]+ ms · translated [\d.-]+ ms · first push [\d.-]+ ms · last ACK [\d.-]+ ms/);
    const kinds = await page.$$eval("[data-testid=timeline] li", (lis) => lis.map((li) => li.getAttribute("data-kind")));
    for (const k of ["signal", "verdict", "action", "chain"]) assert.ok(kinds.includes(k), `timeline has a ${k}: ${kinds.join(",")}`);
    // The quarantine's DENY policies are served, so the graph shows the pod cut off.
    await page.waitForFunction(() => document.querySelector("[data-testid=calls] td[data-from='WorkloadEntry shop/frontend-0'][data-to='WorkloadEntry shop/cart-0']")?.textContent === "denied · mTLS");
    // analyze on the running control plane: the quarantine in force (MW0002).
    await page.waitForSelector("[data-testid=analysis] tr[data-code=MW0002]");
    assert.match(await page.textContent("[data-testid=analysis] tr[data-code=MW0002]") ?? "", /Pod shop\/cart-0.*quarantine \(pod\)/);
    await page.screenshot({ path: join(SCREENSHOT_DIR, "2-quarantined.png"), fullPage: true });

    await page.click(`button[data-release='${id}']`);
    await page.waitForSelector(`[data-testid=quarantines] tr[data-enforcement='${id}']`, { state: "detached", timeout: 30_000 });
    assert.deepEqual(cp.risk.risk.enforcement.active(), []);
    const released = cp.risk.risk.audit.query.actions({}).filter((a) => a.event === "released");
    assert.deepEqual(released.map((a) => [a.enforcementId, a.by]), [[id, "console:loopback"]]);
    await page.waitForFunction(() => document.querySelector("[data-testid=calls] td[data-from='WorkloadEntry shop/frontend-0'][data-to='WorkloadEntry shop/cart-0']")?.textContent === "allowed · mTLS");
    assert.match(await page.textContent("[data-testid=timeline]") ?? "", /released quarantine/);
    await page.waitForSelector("[data-testid=analysis] tr[data-code=MW0002]", { state: "detached" });
    await page.screenshot({ path: join(SCREENSHOT_DIR, "3-released.png"), fullPage: true });
  });
});
