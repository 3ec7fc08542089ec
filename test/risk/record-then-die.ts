// Child process for the crash-safety test: records signals (and every tenth, a quarantine) as
// fast as it can and prints each id only after the store returned, which is the moment the
// signal service would acknowledge it to the agent. The parent SIGKILLs it mid-stream.
import { AuditStore } from "../../src/risk/audit.js";
import { systemClock } from "../../src/risk/clock.js";
import { EnforcementSet } from "../../src/risk/quarantine.js";
import { podA } from "./fixtures.js";
import { signal } from "./fixtures.js";

const dir = process.argv[2];
if (dir === undefined) throw new Error("usage: record-then-die <data-dir>");
const store = AuditStore.open(dir);
const set = new EnforcementSet(store.enforcementStore(), systemClock);
for (let i = 0; i < 1_000_000; i++) {
  const id = `crash-${i}`;
  const pod = { ...podA, uid: `uid-${i}`, name: `pod-${i}`, ip: `10.2.${i >> 8 & 255}.${i & 255}` };
  const s = signal({ id, pod, receivedAtMs: systemClock.nowMs() });
  store.recordSignal(s);
  let line = `signal ${id}`;
  if (i % 10 === 0) {
    const c = set.apply({
      id: `${id}#0`, signalId: id, policy: "RuntimePolicy istio-system/p", rule: "r", action: "quarantine", scope: "pod",
      pod, identity: { trustDomain: "cluster.local", namespace: pod.namespace, serviceAccount: pod.serviceAccount },
      riskScore: 40, reason: "test", decidedAtMs: s.receivedAtMs,
    });
    line += ` enforced ${c?.enforcement.id ?? "?"}`;
  }
  process.stdout.write(line + "\n");
}
