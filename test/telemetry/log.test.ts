// Structured logs: every config problem is logged once, as a record carrying its level, stage,
// file, object and field path, and not again while it stays; `meshward serve` writes them as JSON
// lines (pino) on stderr.
import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LogFields } from "../../src/telemetry/log.js";
import { startTestControlPlane } from "../support/control-plane.js";
import { eventually } from "../support/eventually.js";
import { repoRoot } from "../support/grpc-go-peer.js";
import { MESHWARD_BIN } from "../support/meshward-cli.js";

const BROKEN = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: broken, namespace: default}
spec:
  rules: [{from: [{source: {ipBlocks: ["not-an-ip"]}}]}]
`;

describe("structured logs", function () {
  this.timeout(60_000);
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "meshward-log-"));
    cpSync(join(repoRoot(), "mesh-config"), join(dir, "config"), { recursive: true });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("logs a rejected object once with its object and field path, again only after it was fixed and broken anew", async () => {
    const records: { message: string; fields: LogFields }[] = [];
    writeFileSync(join(dir, "config", "broken.yaml"), BROKEN);
    const cp = await startTestControlPlane(join(dir, "config"), { dataDir: join(dir, "data"), log: (message, fields = {}) => records.push({ message, fields }) });
    try {
      const aboutBroken = (): typeof records => records.filter((r) => r.fields.object === "AuthorizationPolicy default/broken" && r.fields.path !== undefined);
      await eventually("the broken policy logged", () => (aboutBroken().length > 0 ? true : undefined));
      const [first] = aboutBroken();
      assert.equal(first!.fields.level, "error");
      assert.equal(first!.fields.stage, "model");
      assert.equal(first!.fields.path, "spec.rules[0].from[0].source.ipBlocks[0]");
      assert.match(first!.fields.file ?? "", /broken\.yaml$/);
      const generation = cp.provider.snapshot.generation;
      // An unrelated change rebuilds the model: the unchanged problem is not logged again.
      writeFileSync(join(dir, "config", "other.yaml"), "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: default}\nspec: {mtls: {mode: PERMISSIVE}}\n");
      await eventually("the rebuild", () => (cp.provider.snapshot.generation > generation ? true : undefined));
      const count = aboutBroken().filter((r) => r.fields.level === "error").length;
      assert.equal(count, 1, "logged once, not again on the unrelated rebuild");
      writeFileSync(join(dir, "config", "broken.yaml"), BROKEN.replace("not-an-ip", "10.0.0.0/8"));
      await eventually("the fix", () => (cp.provider.snapshot.errors.every((e) => e.object !== "AuthorizationPolicy default/broken") ? true : undefined));
      writeFileSync(join(dir, "config", "broken.yaml"), BROKEN);
      await eventually("broken again, logged again", () => (aboutBroken().filter((r) => r.fields.level === "error").length > count ? true : undefined));
      assert.equal(aboutBroken().filter((r) => r.fields.level === "error").length, 2 * count, "once per time it was broken");
    } finally {
      await cp.stop();
    }
  });

  it("meshward serve writes JSON records with level, stage, object and path on stderr", async () => {
    writeFileSync(join(dir, "config", "broken.yaml"), BROKEN);
    const child = spawn(process.execPath, [MESHWARD_BIN, "serve", "--config-dir", join(dir, "config"), "--data-dir", join(dir, "data"), "--xds-address", "127.0.0.1:0",
      "--tls-address", "none", "--monitoring-address", "127.0.0.1:0", "--console-address", "127.0.0.1:0"], { stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    try {
      await eventually("serve to start", () => (/serving xDS on/.test(err) ? true : undefined), 30_000);
      const records = err.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
      const problem = records.find((r) => r["object"] === "AuthorizationPolicy default/broken");
      assert.ok(problem, err);
      assert.equal(problem["level"], "error");
      assert.equal(problem["stage"], "model");
      assert.equal(problem["path"], "spec.rules[0].from[0].source.ipBlocks[0]");
      assert.equal(problem["service"], "meshward");
      assert.match(String(problem["time"]), /^\d{4}-\d\d-\d\dT/);
      const started = records.find((r) => /serving xDS on/.test(String(r["msg"])));
      assert.equal(started?.["stage"], "serve");
      assert.equal(started?.["level"], "info");
    } finally {
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
    }
  });
});
