// What one compromised node agent can make the control plane write (issue 15 item 5): it streams
// `--signals` valid signals about a pod on its node as fast as serve answers, reconnecting at
// once whenever serve ends its stream (no backoff, unlike an honest agent), for at most
// `--seconds`. Reported per run: signals offered and stored, audit.db growth (with its WAL), and
// the control plane's event-loop delay (the blocking SQLite work shows there). `--unlimited`
// lifts the per-node limits to show what an unbounded node does on the same machine.
//   npm run bench:signal-flood -- [--signals 20000] [--seconds 10] [--runs 3] [--unlimited]
// Figures only, never pass/fail; the last stdout line is one JSON object with the medians.
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import * as grpc from "@grpc/grpc-js";
import { startControlPlane } from "../src/mesh/control-plane.js";
import { SIGNALS_AUDIENCE } from "../src/signals/node-identity.js";
import { DEFAULT_SIGNAL_LIMITS } from "../src/signals/rate-limit.js";
import { TokenKey } from "../src/security/token-key.js";
import { TypeUrl } from "../src/xds/types.js";
import { AdsClient } from "../test/support/ads-client.js";
import { AgentStream, escapeSignal } from "../test/support/agent-stream.js";
import { intFlag } from "./args.js";
import { percentile } from "./stats.js";

const SIGNALS = intFlag("signals", 20_000);
const SECONDS = intFlag("seconds", 10);
const RUNS = intFlag("runs", 3);
const UNLIMITED = process.argv.includes("--unlimited");
const BATCH = 100;

interface RunFigures {
  readonly offered: number;
  readonly stored: number;
  readonly seconds: number;
  readonly dbMiB: number;
  readonly loopDelayP99Ms: number;
  readonly loopDelayMaxMs: number;
  readonly streamsEnded: number;
}

const fileBytes = (f: string): number => {
  try {
    return statSync(f).size;
  } catch {
    return 0;
  }
};

async function run(): Promise<RunFigures> {
  const dir = mkdtempSync(join(tmpdir(), "meshward-signal-flood-"));
  writeFileSync(join(dir, "mesh.yaml"), "trustDomain: cluster.local\nrootNamespace: istio-system\n");
  const dataDir = join(dir, ".data");
  const cp = await startControlPlane({
    configDir: dir,
    xdsAddress: "127.0.0.1:0",
    monitoringAddress: "127.0.0.1:0",
    dataDir,
    log: () => undefined,
    ...(UNLIMITED ? { signalLimits: { signalsPerSecond: 1e9, burst: 1e9, maxSignalBytes: DEFAULT_SIGNAL_LIMITS.maxSignalBytes } } : {}),
  });
  const ads = new AdsClient(cp.xdsAddress);
  const proxy = ads.sotw({ id: "sidecar~10.1.0.41~cart-a.shop~shop.svc.cluster.local", metadata: { NAMESPACE: "shop", SERVICE_ACCOUNT: "cart", NODE_NAME: "node-1" } });
  proxy.subscribe(TypeUrl.Listener, []);
  await proxy.next();
  const token = (await TokenKey.loadOrCreate(dataDir)).mint({ namespace: "meshward-system", serviceAccount: "node-node-1", audiences: [SIGNALS_AUDIENCE] });
  const client = new grpc.Client(cp.xdsAddress, grpc.credentials.createInsecure());
  const pod = { uid: "uid-cart-a", namespace: "shop", name: "cart-a", serviceAccount: "cart" };
  const db = join(dataDir, "audit.db");
  const bytesBefore = fileBytes(db) + fileBytes(`${db}-wal`);
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  const started = performance.now();
  const deadline = started + SECONDS * 1000;
  let offered = 0;
  let stored = 0;
  let streamsEnded = 0;
  try {
    while (offered < SIGNALS && performance.now() < deadline) {
      const agent = new AgentStream(client, token);
      for (;;) {
        if (offered >= SIGNALS || performance.now() >= deadline) break;
        const batch = Array.from({ length: Math.min(BATCH, SIGNALS - offered) }, (_, i) => escapeSignal(`flood-${offered + i}`, "node-1", pod));
        offered += batch.length;
        agent.send(batch);
        const r = await agent.next(Math.max(1, deadline - performance.now()));
        if (r !== undefined) stored += r.acceptedIds.length;
        if (r === undefined || r.acceptedIds.length < batch.length) break; // throttled: the stream is ending
      }
      agent.close();
      await agent.status;
      streamsEnded++;
    }
  } finally {
    loop.disable();
    client.close();
    proxy.cancel();
    ads.close();
  }
  const seconds = (performance.now() - started) / 1000;
  cp.risk.risk.audit.flush();
  const dbMiB = (fileBytes(db) + fileBytes(`${db}-wal`) - bytesBefore) / 2 ** 20;
  await cp.stop();
  rmSync(dir, { recursive: true, force: true });
  return {
    offered,
    stored,
    seconds,
    dbMiB,
    loopDelayP99Ms: loop.percentile(99) / 1e6,
    loopDelayMaxMs: loop.max / 1e6,
    streamsEnded,
  };
}

const median = (xs: readonly number[]): number => percentile([...xs].sort((a, b) => a - b), 50);

const runs: RunFigures[] = [];
const limits = UNLIMITED ? "unlimited" : `${DEFAULT_SIGNAL_LIMITS.signalsPerSecond}/s, burst ${DEFAULT_SIGNAL_LIMITS.burst}`;
console.log(`signal flood: one node, ${SIGNALS} signals or ${SECONDS} s, limits ${limits}, ${RUNS} runs`);
for (let i = 0; i < RUNS; i++) {
  const f = await run();
  runs.push(f);
  console.log(
    `run ${i + 1}: offered ${f.offered}, stored ${f.stored} in ${f.seconds.toFixed(1)} s, audit.db +${f.dbMiB.toFixed(1)} MiB, ` +
      `event-loop delay p99 ${f.loopDelayP99Ms.toFixed(1)} ms max ${f.loopDelayMaxMs.toFixed(1)} ms, streams ended ${f.streamsEnded}`,
  );
}
const summary = {
  bench: "signal-flood",
  limits,
  signals: SIGNALS,
  seconds: SECONDS,
  runs: RUNS,
  medianOffered: median(runs.map((r) => r.offered)),
  medianStored: median(runs.map((r) => r.stored)),
  medianSeconds: Number(median(runs.map((r) => r.seconds)).toFixed(2)),
  medianDbMiB: Number(median(runs.map((r) => r.dbMiB)).toFixed(2)),
  medianLoopDelayP99Ms: Number(median(runs.map((r) => r.loopDelayP99Ms)).toFixed(1)),
  medianLoopDelayMaxMs: Number(median(runs.map((r) => r.loopDelayMaxMs)).toFixed(1)),
};
console.log(`median: stored ${summary.medianStored} of ${summary.medianOffered} offered, audit.db +${summary.medianDbMiB} MiB, event-loop delay p99 ${summary.medianLoopDelayP99Ms} ms`);
console.log(JSON.stringify(summary));
