// The child of remote-access.test.ts, run inside a network namespace of the test's own (`ip netns
// exec`) where <address> is a non-loopback address: a control plane whose console listens there,
// and requests to it from that address as another machine's would arrive. Prints one JSON object.
import { request } from "node:https";
import { request as plainRequest } from "node:http";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { chromium } from "playwright-core";
import { CHROMIUM, SCREENSHOT_DIR } from "../support/browser.js";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkServerIdentity } from "node:tls";
import { CONSOLE_AUDIENCE } from "../../src/console/access.js";
import { TokenKey } from "../../src/security/token-key.js";
import { startTestControlPlane } from "../support/control-plane.js";
import { runMeshward } from "../support/meshward-cli.js";
import { SHOP_MESH } from "./fixtures.js";

const address = process.argv[2]!;
const dir = mkdtempSync(join(tmpdir(), "meshward-console-remote-"));
writeFileSync(join(dir, "mesh.yaml"), "trustDomain: cluster.local\nrootNamespace: istio-system\n");
writeFileSync(join(dir, "shop.yaml"), SHOP_MESH);
const cp = await startTestControlPlane(dir, { consoleAddress: `${address}:0` });
try {
  const root = cp.ca.bundle.pem();
  writeFileSync(join(dir, "root.pem"), root);
  const key = await TokenKey.loadOrCreate(join(dir, ".data"));
  const admin = key.mint({ namespace: "istio-system", serviceAccount: "oncall", audiences: [CONSOLE_AUDIENCE] });
  writeFileSync(join(dir, "admin.token"), admin);
  const get = (path: string, token?: string): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const req = request(`${cp.console!.url}${path}`, {
        ca: root,
        checkServerIdentity: (_h, cert) => checkServerIdentity("istiod.istio-system.svc", cert),
        headers: token !== undefined ? { authorization: `Bearer ${token}` } : {},
      }, (res) => {
        let body = "";
        res.on("data", (d: Buffer) => (body += d.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on("error", reject);
      req.end();
    });
  const plaintext = await new Promise<string>((resolve) => {
    const req = plainRequest(`http://${cp.console!.address}/api/v1/session`, { headers: { authorization: `Bearer ${admin}` } }, (res) => resolve(`HTTP ${res.statusCode}`));
    req.on("error", (e) => resolve(`error: ${e.message}`));
    req.end();
  });
  const cli = await runMeshward("quarantine", "list", "--console", cp.console!.address, "--tls-ca", join(dir, "root.pem"), "--token-file", join(dir, "admin.token"), "--data-dir", join(dir, "elsewhere"));
  const cliNoCa = await runMeshward("quarantine", "list", "--console", cp.console!.address, "--token-file", join(dir, "admin.token"));
  // A browser on that address: the page asks for a token, and with it shows the mesh.
  let browser: { login: string; workloads: number; status: string } | { skipped: string };
  if (!existsSync(CHROMIUM)) browser = { skipped: `${CHROMIUM} not found` };
  else {
    const b = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
    try {
      // The browser does not trust the mesh root; the test checks the certificate above.
      const page = await b.newPage({ ignoreHTTPSErrors: true, viewport: { width: 1400, height: 900 } });
      await page.goto(cp.console!.url);
      await page.waitForSelector("#login:not([hidden])");
      const login = (await page.textContent("#login")) ?? "";
      await page.fill("#token", admin);
      await page.click("#login button[type=submit]");
      await page.waitForSelector("[data-testid=workloads] tr[data-workload]");
      await page.waitForSelector("#login[hidden]", { state: "attached" });
      mkdirSync(SCREENSHOT_DIR, { recursive: true });
      await page.screenshot({ path: join(SCREENSHOT_DIR, "4-remote-after-login.png"), fullPage: true });
      browser = { login, workloads: await page.locator("[data-testid=workloads] tr[data-workload]").count(), status: (await page.textContent("#status")) ?? "" };
    } finally {
      await b.close();
    }
  }
  console.log(JSON.stringify({
    browser,
    url: cp.console!.url,
    noToken: await get("/api/v1/session"),
    admin: await get("/api/v1/session", admin),
    workloadToken: await get("/api/v1/session", key.mint({ namespace: "istio-system", serviceAccount: "oncall" })),
    page: (await get("/")).status,
    plaintext,
    cli,
    cliNoCa,
  }));
} finally {
  await cp.stop();
  rmSync(dir, { recursive: true, force: true });
}
