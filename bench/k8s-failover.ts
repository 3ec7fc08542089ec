// How fast another replica leads after the Lease holder goes, against a real kube-apiserver (a
// private one, test/kube/start.sh): per round two candidates on a fresh Lease, the holder either
// crashes (stops renewing, the Lease left as is) or stops cleanly (hands the Lease over), and the
// time until the other one leads is measured. Also the time a quarantine's WorkloadEnforcement takes
// from the deciding replica's decision to the other replica's enforcement set.
// Figures only, never pass/fail. Last stdout line: one JSON object.
//
//   npm run bench:k8s-failover -- --rounds 5 --lease-ms 3000
import { KubeConfig, CoreV1Api } from "@kubernetes/client-node";
import { startKubeApiserver } from "../test/support/kube-apiserver.js";
import { KubeEnforcementSync } from "../src/kube/enforcement-store.js";
import { ensureCrd, WORKLOAD_ENFORCEMENT_DEFINITION } from "../src/kube/crds.js";
import { LeaderElector } from "../src/kube/leader.js";
import { EnforcementSet, MemoryEnforcementStore, type Enforcement } from "../src/risk/quarantine.js";
import { systemClock } from "../src/risk/clock.js";
import { intFlag } from "./args.js";
import { percentile } from "./stats.js";

const rounds = intFlag("rounds", 5);
const leaseMs = intFlag("lease-ms", 3000, 1000);

function until(what: string, probe: () => boolean, timeoutMs: number): Promise<number> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const t = setInterval(() => {
      if (probe()) {
        clearInterval(t);
        resolve(Date.now() - start);
      } else if (Date.now() - start > timeoutMs) {
        clearInterval(t);
        reject(new Error(`timed out waiting for ${what}`));
      }
    }, 5);
  });
}

const median = (xs: number[]): number => percentile([...xs].sort((a, b) => a - b), 50);

const kas = startKubeApiserver();
try {
  const kc = new KubeConfig();
  kc.loadFromFile(kas.kubeconfig);
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: "bench" } } });
  const crash: number[] = [];
  const clean: number[] = [];
  for (let i = 0; i < rounds; i++) {
    for (const how of ["crash", "clean"] as const) {
      const lease = { kubeConfig: kc, namespace: "bench", leaseName: `lease-${how}-${i}`, leaseDurationMs: leaseMs, renewDeadlineMs: leaseMs / 2, retryPeriodMs: leaseMs / 6 };
      const a = new LeaderElector({ ...lease, identity: "a" });
      const b = new LeaderElector({ ...lease, identity: "b" });
      a.start();
      await until("a to lead", () => a.isLeader, 10 * leaseMs);
      b.start();
      // b sees a renew at least once before a goes.
      await new Promise((r) => setTimeout(r, leaseMs / 2));
      const gone = a.stop({ release: how === "clean" });
      const ms = await until("b to lead", () => b.isLeader, 10 * leaseMs);
      await gone;
      (how === "crash" ? crash : clean).push(ms);
      await b.stop();
      console.log(`round ${i + 1}: ${how} handover ${ms} ms`);
    }
  }

  // A decision on replica "a" reaching replica "b"'s enforcement set through the apiserver.
  await ensureCrd(kc, WORKLOAD_ENFORCEMENT_DEFINITION);
  const a = new KubeEnforcementSync(kc, () => undefined);
  const b = new KubeEnforcementSync(kc, () => undefined);
  await Promise.all([a.start(), b.start()]);
  const setA = new EnforcementSet(a.storeOver(new MemoryEnforcementStore()), systemClock);
  const setB = new EnforcementSet(b.storeOver(new MemoryEnforcementStore()), systemClock);
  const share: number[] = [];
  for (let i = 0; i < rounds * 4; i++) {
    const pod = { uid: `uid-${i}`, namespace: "bench", name: `pod-${i}`, serviceAccount: "sa", labels: {}, ip: `10.244.1.${i + 1}` };
    const t = Date.now();
    const change = setA.apply({
      id: `v-${i}`, signalId: `s-${i}`, policy: "bench/p", rule: "r", action: "quarantine", scope: "pod", pod,
      identity: { trustDomain: "cluster.local", namespace: "bench", serviceAccount: "sa" }, riskScore: 80, reason: "bench", decidedAtMs: t,
    });
    const id = (change!.enforcement as Enforcement).id;
    await until("b to see it", () => (setB.reload(), setB.active().some((e) => e.id === id)), 30_000);
    share.push(Date.now() - t);
  }
  await Promise.all([a.stop(), b.stop()]);

  const sorted = [...share].sort((x, y) => x - y);
  console.log(`lease ${leaseMs} ms: crash takeover median ${median(crash)} ms (max ${Math.max(...crash)}), clean handover median ${median(clean)} ms`);
  console.log(`quarantine decision -> other replica's enforcement set: median ${median(share)} ms, p90 ${percentile(sorted, 90)} ms over ${share.length}`);
  console.log(JSON.stringify({ rounds, leaseMs, crashTakeoverMsP50: median(crash), crashTakeoverMsMax: Math.max(...crash), cleanHandoverMsP50: median(clean), shareMsP50: median(share), shareMsP90: percentile(sorted, 90) }));
} finally {
  kas.stop();
}
