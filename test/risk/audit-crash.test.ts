import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { AuditStore } from "../../src/risk/audit.js";
import { systemClock } from "../../src/risk/clock.js";
import { EnforcementSet } from "../../src/risk/quarantine.js";

const CHILD = fileURLToPath(new URL("./record-then-die.js", import.meta.url));

/** Runs the child until it has acknowledged `atLeast` signals, SIGKILLs it, returns what it acknowledged. */
function recordThenKill(dir: string, atLeast: number): Promise<{ signals: string[]; enforcements: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, dir], { stdio: ["ignore", "pipe", "pipe"] });
    const signals: string[] = [];
    const enforcements: string[] = [];
    let buf = "";
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.stdout.on("data", (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split("\n");
      buf = lines.pop() ?? "";
      for (const l of lines) {
        const m = /^signal (\S+)(?: enforced (\S+))?$/.exec(l);
        if (!m) continue;
        signals.push(m[1] as string);
        if (m[2]) enforcements.push(...m[2].split(","));
      }
      if (signals.length >= atLeast && child.exitCode === null && !child.killed) child.kill("SIGKILL");
    });
    child.on("exit", (code, sig) => {
      if (sig === "SIGKILL") resolve({ signals, enforcements });
      else reject(new Error(`child exited ${code}: ${stderr}`));
    });
  });
}

describe("audit store crash safety", function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "meshward-crash-"))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("loses no acknowledged signal, verdict or quarantine when the control plane is SIGKILLed mid-stream", async () => {
    const acked = await recordThenKill(dir, 300);
    assert.ok(acked.signals.length >= 300);
    const store = AuditStore.open(dir);
    try {
      const stored = new Set(store.query.signals({ limit: 1_000_000 }).map((s) => s.id));
      const lost = acked.signals.filter((id) => !stored.has(id));
      assert.deepEqual(lost, []);
      // The child may have committed one more than it printed before dying, never fewer.
      assert.ok(stored.size >= acked.signals.length && stored.size <= acked.signals.length + 1, `stored ${stored.size}, acked ${acked.signals.length}`);
      const active = new Set(new EnforcementSet(store.enforcementStore(), systemClock).active().map((e) => e.id));
      assert.ok(acked.enforcements.length >= 30);
      assert.deepEqual(acked.enforcements.filter((id) => !active.has(id)), []);
      // Recorded and evaluated are one transaction: no stored signal lacks its verdict stage.
      const unevaluated = store.db.prepare("SELECT COUNT(*) AS n FROM chains WHERE verdict_us IS NULL").get() as { n: number };
      assert.equal(unevaluated.n, 0);
      assert.equal(store.db.pragma("integrity_check", { simple: true }), "ok");
    } finally {
      store.close();
    }
  });
});
