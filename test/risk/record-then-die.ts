// Child process for the crash-safety test: hands signals to the RiskService as fast as it can
// (every tenth one an escape that the policy quarantines) and prints each id only after
// handleSignal returned, which is the moment the signal service acknowledges it to the agent.
// The parent SIGKILLs it mid-stream.
import { systemClock } from "../../src/risk/clock.js";
import { RiskService } from "../../src/risk/risk-service.js";
import { ESCAPE_QUARANTINE_POLICY, configObjects, podA, signal } from "./fixtures.js";

const dir = process.argv[2];
if (dir === undefined) throw new Error("usage: record-then-die <data-dir>");
const svc = new RiskService({ dataDir: dir });
svc.setPolicies(configObjects(ESCAPE_QUARANTINE_POLICY));
for (let i = 0; i < 1_000_000; i++) {
  const id = `crash-${i}`;
  const pod = { ...podA, uid: `uid-${i}`, name: `pod-${i}`, ip: `10.2.${(i >> 8) & 255}.${i & 255}` };
  const escape = i % 10 === 0;
  const out = svc.handleSignal(signal({ id, pod, detection: escape ? "escape.setns-host-mnt" : "exec.interactive-shell", receivedAtMs: systemClock.nowMs() }));
  const enforced = out.changes.map((c) => c.enforcement.id);
  process.stdout.write(`signal ${id}${enforced.length > 0 ? ` enforced ${enforced.join(",")}` : ""}\n`);
}
