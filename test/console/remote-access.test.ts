// The read API from another machine, for real: a console listening on a non-loopback address inside
// a network namespace the test makes (root; skipped outside CI without it) is HTTPS with a
// certificate from meshward's CA, refuses requests without a console token, takes an admin token,
// refuses a workload token, and serves the CLI given the mesh root and the token; in chromium there,
// the page asks for the token and then shows the mesh.
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { skipUnlessRoot } from "../agent/fixture.js";

type BrowserResult = { login: string; workloads: number; status: string } | { skipped: string };

describe("read API from another address: HTTPS and a console token", function () {
  this.timeout(120_000);
  const netns = `mwcon-${randomBytes(3).toString("hex")}`;
  const address = `10.${200 + (randomBytes(1)[0]! % 50)}.${randomBytes(1)[0]!}.1`;
  let made = false;
  let result: Record<string, unknown> = {};

  before(function () {
    skipUnlessRoot(this);
    execFileSync("ip", ["netns", "add", netns]);
    made = true;
    // A veth pair with both ends in the namespace: an interface with a non-loopback address.
    for (const args of [["link", "set", "lo", "up"], ["link", "add", "v0", "type", "veth", "peer", "name", "v1"], ["addr", "add", `${address}/32`, "dev", "v0"], ["link", "set", "v0", "up"], ["link", "set", "v1", "up"]]) {
      execFileSync("ip", ["-n", netns, ...args]);
    }
    const out = execFileSync("ip", ["netns", "exec", netns, process.execPath, join(process.cwd(), "dist", "test", "console", "remote-child.js"), address], { encoding: "utf8", timeout: 100_000 });
    result = JSON.parse(out.trim().split("\n").pop()!) as typeof result;
  });
  after(() => {
    if (made) execFileSync("ip", ["netns", "del", netns]);
  });

  it("listens with HTTPS on a non-loopback address and serves the page to anyone", () => {
    assert.match(String(result["url"]), new RegExp(`^https://${address.replaceAll(".", "\\.")}:\\d+$`));
    assert.equal(result["page"], 200);
    assert.doesNotMatch(String(result["plaintext"]), /^HTTP 200/, "no API over plaintext");
  });

  it("refuses a caller without a token and a workload token; takes an admin console token", () => {
    const noToken = result["noToken"] as { status: number; body: string };
    assert.equal(noToken.status, 401);
    assert.match(noToken.body, new RegExp(`read API from ${address.replaceAll(".", "\\.")}:\\d+: no credentials`));
    const workload = result["workloadToken"] as { status: number; body: string };
    assert.equal(workload.status, 401);
    assert.match(workload.body, /does not include meshward-console/);
    const admin = result["admin"] as { status: number; body: string };
    assert.equal(admin.status, 200, admin.body);
    assert.equal((JSON.parse(admin.body) as { who: string }).who, "istio-system/oncall");
  });

  it("serves the CLI with --tls-ca and --token-file, and the CLI refuses a server it cannot verify", () => {
    const cli = result["cli"] as { code: number; stdout: string; stderr: string };
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal(cli.stdout.trim(), "no active enforcement");
    const noCa = result["cliNoCa"] as { code: number; stdout: string; stderr: string };
    assert.equal(noCa.code, 1);
    assert.match(noCa.stderr, /certificate/);
  });

  it("in chromium there, the page asks for a console token, and with it shows the mesh", function () {
    const b = result["browser"] as BrowserResult;
    if ("skipped" in b) {
      if (process.env["CI"] === "true") assert.fail(`the console's browser tests must run in CI: ${b.skipped}`);
      console.log(`      skipping: ${b.skipped}`);
      return this.skip();
    }
    assert.match(b.login, /meshward token create --namespace istio-system --service-account <you> --audience meshward-console/);
    assert.equal(b.workloads, 3);
    assert.match(b.status, /config generation \d+ · 0 proxies/);
  });
});
