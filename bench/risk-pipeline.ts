// The risk stage's share of the syscall -> last ACK budget: handling one signal (record with an
// fsync'd commit, evaluate, enforce, commit), building the overlay with many active quarantines,
// and the audit bookkeeping of one enforcement's pushes and ACKs across N proxies.
// Usage: npm run bench:risk-pipeline -- [--signals N] [--proxies N]
// Last stdout line: {"signals","handleP50Ms","handleP99Ms","overlayMs","activeEnforcements","proxies","pushAckBookkeepingMs"}
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { RiskService } from "../src/risk/risk-service.js";
import type { ConfigObject } from "../src/model/config.js";
import type { RuntimeSignal } from "../src/risk/signal.js";
import { percentile } from "./stats.js";

const { values } = parseArgs({ options: { signals: { type: "string", default: "2000" }, proxies: { type: "string", default: "1000" } } });
const signals = Number(values.signals);
const proxies = Number(values.proxies);

const policy: ConfigObject = {
  apiVersion: "meshward.io/v1alpha1",
  kind: "RuntimePolicy",
  metadata: { name: "escapes", namespace: "istio-system", labels: {}, annotations: {} },
  spec: { rules: [{ name: "escape", trigger: { detections: ["escape.*"] }, action: "QUARANTINE", duration: "1h" }] },
  origin: { file: "bench" },
};

function signal(i: number): RuntimeSignal {
  const now = performance.timeOrigin + performance.now();
  return {
    id: `bench-${i}`,
    node: "node-1",
    pod: { uid: `uid-${i}`, namespace: `ns-${i % 50}`, name: `pod-${i}`, serviceAccount: `sa-${i % 200}`, labels: { app: `app-${i % 200}` }, ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` },
    container: { id: "c", name: "app" },
    process: { pid: 1000 + i, binary: "/usr/bin/nsenter", args: ["nsenter", "-t", "1", "-m"], uid: 0 },
    detection: { id: "escape.setns-host-mnt", severity: "high", technique: "T1611" },
    eventTimeNs: BigInt(Math.round(now * 1000)) * 1000n,
    receivedAtMs: now,
  };
}

const dir = mkdtempSync(join(tmpdir(), "meshward-bench-risk-"));
try {
  const svc = new RiskService({ dataDir: dir });
  svc.setPolicies([policy]);
  const handle: number[] = [];
  for (let i = 0; i < signals; i++) {
    const s = signal(i);
    const t = performance.now();
    svc.handleSignal(s);
    handle.push(performance.now() - t);
  }
  handle.sort((a, b) => a - b);
  const t0 = performance.now();
  const overlay = svc.overlay();
  const overlayMs = performance.now() - t0;

  const cause = "bench-0";
  const proxyIds = Array.from({ length: proxies }, (_, i) => `sidecar~10.9.${i >> 8}.${i & 255}~p${i}.ns~ns.svc.cluster.local`);
  const t1 = performance.now();
  const at = () => performance.timeOrigin + performance.now();
  svc.audit.recordTranslation([cause], proxyIds, at());
  for (const p of proxyIds) svc.audit.recordPush({ signalIds: [cause], proxyId: p, typeUrl: "lds", version: "v2", nonce: "n", atMs: at() });
  for (const p of proxyIds) svc.audit.recordAck({ proxyId: p, typeUrl: "lds", nonce: "n", atMs: at() });
  const bookkeepingMs = performance.now() - t1;
  const active = svc.enforcement.active().length;
  svc.close();

  console.log(`handleSignal (record + evaluate + enforce, one fsync'd commit): p50 ${percentile(handle, 50).toFixed(3)} ms, p99 ${percentile(handle, 99).toFixed(3)} ms over ${signals} signals`);
  console.log(`overlay with ${active} active quarantines: ${overlay.length} policies in ${overlayMs.toFixed(1)} ms`);
  console.log(`audit bookkeeping of one enforcement pushed to and ACKed by ${proxies} proxies: ${bookkeepingMs.toFixed(1)} ms`);
  console.log(JSON.stringify({
    signals,
    handleP50Ms: Number(percentile(handle, 50).toFixed(3)),
    handleP99Ms: Number(percentile(handle, 99).toFixed(3)),
    overlayMs: Number(overlayMs.toFixed(2)),
    activeEnforcements: active,
    proxies,
    pushAckBookkeepingMs: Number(bookkeepingMs.toFixed(2)),
  }));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
