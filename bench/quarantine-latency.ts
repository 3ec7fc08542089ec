// Quarantine latency: from a real syscall in a pod to the last affected proxy's ACK of the
// quarantine, through the whole of `meshward serve` (startControlPlane on a temp mesh-config).
// N simulated Envoy sidecars (raw HTTP/2 ADS clients in worker processes, as bench:xds-push) and
// two real proxyless gRPC workloads (grpc-js-xds servers and clients, RBAC on) are connected;
// one of the sidecars stands for a pod in a kubelet-shaped cgroup on this kernel, watched by
// the real node agent (eBPF). Each iteration that pod runs `nsenter --mount` into the node's mount
// namespace (setns, a container escape); the agent reports it, a RuntimePolicy quarantines the pod,
// the overlay reaches every proxy; the chain's time is read from the audit database (kernel event
// time -> last ACK), both to the cut off (the last ACK of the resources that cut the pod off, sent
// first) and to the end of the round. Then the quarantine is released the way `meshward quarantine release` does it
// (through the database) and the mesh settles before the next iteration.
// The first --warmup iterations (default 2: JIT and first translations of the enforcement path)
// are reported apart and left out of the percentiles.
// --xds-workers W: the control plane serves xDS from W stream worker processes (serve's
// --xds-workers; default 0: in its own process); the sidecars and workloads connect there.
// Usage: npm run bench:quarantine-latency -- [--proxies N] [--services S] [--iterations K] [--warmup W] [--workers W] [--xds-workers W]
// Needs root (eBPF, cgroups). QBENCH_DEBUG=1 prints each chain and its deliveries. Prints figures;
// the last line is one JSON object. Never pass/fail on time.
import { fork, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { startControlPlane } from "../src/mesh/control-plane.js";
import { openAuditDatabase } from "../src/risk/audit-schema.js";
import { SqliteEnforcementStore } from "../src/risk/enforcement-store.js";
import { EnforcementSet } from "../src/risk/quarantine.js";
import { systemClock } from "../src/risk/clock.js";
import { createTestPod, removeTestPod, runInPod } from "../test/agent/kube-cgroup.js";
import { startNodeAgent, type AgentPod } from "../test/support/node-agent.js";
import { freePort } from "../test/support/proxyless.js";
import { RbacWorkloads } from "../test/support/rbac-workloads.js";
import { serviceApp, serviceHost, serviceNamespace, sidecarIp } from "./push-mesh.js";
import { intFlag as flag } from "./args.js";
import { percentile } from "./stats.js";
import { DEFAULT_DEBOUNCE_MS } from "../src/xds/server.js";


const round = (n: number): number => Math.round(n * 10) / 10;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 30_000, everyMs = 5): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/**
 * The push benchmark's services (S HTTP services in ns-0..ns-9) as mesh-config YAML, each served
 * by the sidecars k with k % S = i: every proxy then has inbound listeners, as pods that serve do,
 * and so takes the quarantine's mesh-wide DENY.
 */
function servicesYaml(services: number, proxies: number): string {
  return Array.from({ length: services }, (_, i) =>
    stringify({
      apiVersion: "networking.istio.io/v1",
      kind: "ServiceEntry",
      metadata: { name: serviceApp(i), namespace: serviceNamespace(i) },
      spec: {
        hosts: [serviceHost(i)],
        ports: [{ number: 8080, name: "http", protocol: "HTTP" }],
        location: "MESH_INTERNAL",
        resolution: "STATIC",
        endpoints: Array.from({ length: Math.ceil((proxies - i) / services) }, (_, n) => ({ address: sidecarIp(i + n * services), serviceAccount: serviceApp(i), labels: { app: serviceApp(i) } })),
      },
    }),
  ).join("---\n");
}

/** Two real proxyless services, one endpoint each on loopback. */
function realWorkloadsYaml(ports: readonly number[]): string {
  return ports
    .map((port, k) =>
      stringify({
        apiVersion: "networking.istio.io/v1",
        kind: "ServiceEntry",
        metadata: { name: `real-${k}`, namespace: "real" },
        spec: {
          hosts: [`real-${k}.real.svc.cluster.local`],
          ports: [{ number: 7070, name: "grpc", protocol: "GRPC", targetPort: port }],
          location: "MESH_INTERNAL",
          resolution: "STATIC",
          endpoints: [{ address: "127.0.0.1", serviceAccount: "real", labels: { app: `real-${k}` } }],
        },
      }),
    )
    .join("---\n");
}

const RUNTIME_POLICY = `apiVersion: meshward.io/v1alpha1
kind: RuntimePolicy
metadata: {name: container-escape, namespace: istio-system}
spec:
  rules:
  - {name: quarantine-escapes, trigger: {detections: [namespace-setns]}, action: QUARANTINE}
`;

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("needs root: the node agent loads eBPF programs and the pod is a cgroup");
  const proxies = flag("proxies", 1000);
  const services = flag("services", 100);
  const iterations = flag("iterations", 20);
  const warmup = flag("warmup", 2, 0);
  if (!Number.isInteger(warmup) || warmup < 0) throw new Error("--warmup: want a non-negative integer");
  const workers = Math.min(proxies, flag("workers", proxies <= 2000 ? 2 : 4));
  const node = `bench-node-${process.pid}`;
  const dir = mkdtempSync(join(tmpdir(), "meshward-qbench-"));
  const configDir = join(dir, "mesh-config");
  const dataDir = join(dir, "data");
  mkdirSync(configDir);
  writeFileSync(join(configDir, "mesh.yaml"), "trustDomain: cluster.local\nrootNamespace: istio-system\n");
  writeFileSync(join(configDir, "services.yaml"), servicesYaml(services, proxies));
  writeFileSync(join(configDir, "runtime-policy.yaml"), RUNTIME_POLICY);
  const realPorts = [await freePort(), await freePort()];
  writeFileSync(join(configDir, "real-workloads.yaml"), realWorkloadsYaml(realPorts));
  const xdsWorkers = flag("xds-workers", 0, 0);
  const cp = await startControlPlane({
    configDir,
    xdsAddress: "127.0.0.1:0",
    monitoringAddress: "127.0.0.1:0",
    dataDir,
    log: () => undefined,
    ...(xdsWorkers > 0 ? { xdsWorkers: { count: xdsWorkers, address: "127.0.0.1:0" } } : {}),
  });
  /** Where proxies get xDS: the stream workers' address, or the main port. */
  const xdsAddress = cp.xdsWorkersAddress ?? cp.xdsAddress;
  let nacks = 0;
  cp.xds.on("nack", () => nacks++);

  // Sidecar 1 of the workers is the pod under watch: same name, namespace and service account.
  const index = 1;
  const cgroupPod = createTestPod("qbench", { app: serviceApp(index % services) });
  const pod: AgentPod = { ...cgroupPod, namespace: serviceNamespace(index % services), name: `${serviceApp(index % services)}-${index}`, serviceAccount: serviceApp(index % services) };
  const agent = await startNodeAgent({ dir, node, pods: [pod], address: cp.xdsAddress, dataDir });

  const script = fileURLToPath(new URL("./xds-push-client.js", import.meta.url));
  const children: ChildProcess[] = [];
  const synced = new Map<ChildProcess, number>();
  await new Promise<void>((resolve) => {
    const per = Math.ceil(proxies / workers);
    for (let w = 0; w < workers; w++) {
      const count = Math.min(per, proxies - w * per);
      const child = fork(script, [xdsAddress, String(w * per), String(count), String(services), node], { stdio: ["ignore", "inherit", "inherit", "ipc"], execArgv: [] });
      children.push(child);
      child.on("message", (m: { synced?: number; error?: string }) => {
        if (m.error !== undefined) console.error(`quarantine-latency: client error: ${m.error}`);
        if (m.synced === undefined) return;
        synced.set(child, m.synced);
        if ([...synced.values()].reduce((a, b) => a + b, 0) === proxies) resolve();
      });
    }
  });
  // The real workloads: each serves, and calls the other, through meshward's xDS (loopback).
  const real = new RbacWorkloads();
  for (const [k, port] of realPorts.entries()) {
    await real.startServer(`real-${k}`, `127.0.0.1:${port}`, xdsAddress, { ip: "127.0.0.1", pod: `real-${k}`, namespace: "real", serviceAccount: "real", labels: { app: `real-${k}` } });
  }
  for (const k of [0, 1]) await real.startClient(`real-${k}`, `real-${1 - k}.real.svc.cluster.local:7070`, xdsAddress, { ip: "127.0.0.1", pod: `real-client-${k}`, namespace: "real" });
  for (const k of [0, 1]) {
    const res = await real.call(`real-${k}`, { timeoutMs: 10_000 });
    if (!res.ok) throw new Error(`real workload call failed: ${res.details}`);
  }
  console.log(`quarantine-latency: ${proxies} simulated sidecars of ${services} services over ${workers} workers and 2 real grpc-js-xds workloads connected (${cp.xds.proxies().length} xDS streams); agent hooks ${agent.agent.tracerHello?.attached.length ?? 0}`);

  const audit = cp.risk.risk.audit;
  const overlayActive = (): boolean => (cp.provider.snapshot.others.get("AuthorizationPolicy") ?? []).some((a) => a.object.metadata.name.startsWith("meshward-"));
  const latencies: number[] = [];
  const cutOffs: number[] = [];
  const stages: { received: number; translated: number; firstPush: number; cutOff: number; proxies: number }[] = [];
  const release = openAuditDatabase(dataDir, { mustExist: true });
  const warm: number[] = [];
  for (let i = 0; i < warmup + iterations; i++) {
    const before = new Set(audit.query.signals({ pod: pod.uid }).map((s) => s.id));
    const r = await runInPod(pod, ["nsenter", `--mount=/proc/${process.pid}/ns/mnt`, "true"]);
    if (r.code !== 0) throw new Error(`nsenter: ${r.stderr}`);
    const signal = await until("the signal", () => audit.query.signals({ pod: pod.uid }).find((s) => !before.has(s.id)));
    const chain = await until("the chain to complete", () => {
      const c = audit.query.chain(signal.id);
      return c?.latencyUs !== undefined ? c : undefined;
    }).catch((err: unknown) => {
      // Which streams still owe an answer, by type: what the chain is waiting for.
      const owed = new Map<string, number>();
      for (const st of cp.xds.status()) for (const t of st.types) if (t.pending) owed.set(t.typeUrl, (owed.get(t.typeUrl) ?? 0) + 1);
      console.error(`quarantine-latency: chain ${signal.id} incomplete: ${JSON.stringify(audit.query.chain(signal.id))}; unanswered responses by type: ${JSON.stringify([...owed])}`);
      throw err;
    });
    const cutOffMs = ((chain.cutOffUs ?? chain.lastAckUs ?? NaN) - chain.eventUs) / 1000;
    if (i < warmup) warm.push(chain.latencyUs! / 1000);
    else {
      latencies.push(chain.latencyUs! / 1000);
      cutOffs.push(cutOffMs);
    }
    if (process.env["QBENCH_DEBUG"]) {
      audit.flush();
      const d = audit.query.deliveries(signal.id);
      const ms = (xs: number[]): string => `${round(Math.min(...xs) - chain.eventUs / 1000)}..${round(Math.max(...xs) - chain.eventUs / 1000)} ms`;
      console.log(`  ${d.length} pushes (${[...new Set(d.map((x) => x.typeUrl.split(".").pop()))].join(",")}) sent ${ms(d.map((x) => x.pushedMs))}, answered ${ms(d.map((x) => x.answeredMs ?? NaN))}`);
    }
    const at = (us: number | undefined): number => ((us ?? NaN) - chain.eventUs) / 1000;
    if (i >= warmup) stages.push({ received: at(chain.receivedUs), translated: at(chain.translatedUs), firstPush: at(chain.firstPushUs), cutOff: cutOffMs, proxies: chain.proxies ?? 0 });
    // Release as the CLI does (another connection to the database); serve notices within its tick.
    new EnforcementSet(new SqliteEnforcementStore(release), systemClock).release(`${pod.namespace}/${pod.name}`, "bench");
    await until("the release to reach the snapshot", () => (overlayActive() ? undefined : true), 10_000);
    // The release's round must be answered by every proxy before the next syscall, or the next
    // signal waits behind its ACKs (at 10,000 proxies a fixed pause measured that backlog instead).
    await sleep(DEFAULT_DEBOUNCE_MS + 50);
    await until("the release's pushes to be answered", () => (cp.xds.status().every((st) => st.types.every((t) => !t.pending)) ? true : undefined), 60_000, 250);
    await sleep(200);
  }
  release.close();

  const sorted = [...latencies].sort((a, b) => a - b);
  const cutSorted = [...cutOffs].sort((a, b) => a - b);
  const med = (f: (s: (typeof stages)[number]) => number): number => round(percentile(stages.map(f).sort((a, b) => a - b), 50));
  const stagesMs = { received: med((s) => s.received), translated: med((s) => s.translated), firstPush: med((s) => s.firstPush), cutOff: med((s) => s.cutOff), lastAck: round(percentile(sorted, 50)) };
  console.log(
    `quarantine-latency: ${iterations} quarantines, each reaching ${stages[0]?.proxies ?? 0} proxies; median stages after the syscall: ` +
      `received ${stagesMs.received} ms, translated ${stagesMs.translated} ms, first push ${stagesMs.firstPush} ms, ` +
      `cut off (last ACK of the cutting resources) ${stagesMs.cutOff} ms, last ACK (full round) ${stagesMs.lastAck} ms`,
  );
  console.log(`quarantine-latency: cut off per iteration (ms): ${cutOffs.map(round).join(" ")}`);
  console.log(`quarantine-latency: full round per iteration (ms): ${latencies.map(round).join(" ")}; warm-up (not counted): ${warm.map(round).join(" ") || "none"}; NACKs ${nacks}`);
  for (const c of children) c.send({ stop: true });
  real.stop();
  await agent.stop();
  await cp.stop();
  await removeTestPod(pod);
  rmSync(dir, { recursive: true, force: true });
  // p50Ms/p99Ms: the full round (syscall -> last ACK of everything), as before; cutOff*: syscall ->
  // last ACK of the resources that cut the pod off.
  console.log(
    JSON.stringify({
      proxies,
      p50Ms: round(percentile(sorted, 50)),
      p99Ms: round(percentile(sorted, 99)),
      cutOffP50Ms: round(percentile(cutSorted, 50)),
      cutOffP99Ms: round(percentile(cutSorted, 99)),
      stagesMs,
      nacks,
    }),
  );
  process.exit(0);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : String(err));
  process.exit(1);
});
