// bench:node-identity: the node agent's identity socket with N pods on one node (real eBPF agent,
// kubelet-shaped cgroups, meshward's CA in its own process). Prints:
//  - SVID fetch latency through the socket (FetchX509SVID to the first SVID, from a process in each
//    pod, all pods at once, or with --one-by-one 1 one pod after another, which leaves out the
//    contention of N client processes on a small machine): the first fetch of each pod (the agent
//    issues: key, CSR, CA round trip) and the later ones (from the agent's cache), p50/p99;
//  - the agent's CPU (user+system of its process) and wall time to rotate every pod's certificate;
//  - the time from a real detection (nsenter in a pod; the signal's kernel timestamp) to that pod's
//    Workload API stream being closed, as the workload sees it, per run and median.
// Needs root (eBPF, cgroups). Figures only, never pass/fail; the last line is one JSON object.
//   npm run bench:node-identity -- --pods 20 [--fetches 5] [--cuts 5] [--one-by-one 1]
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { CaClient } from "../src/ca/ca-api.js";
import { caPodIssuer, isCaRefusal } from "../src/agent/identity/ca-issuer.js";
import { NodeIdentity } from "../src/agent/identity/node-identity.js";
import { AgentFixture } from "../test/agent/fixture.js";
import { runInPod, type TestPod } from "../test/agent/kube-cgroup.js";
import { intFlag as flag } from "./args.js";
import { percentile } from "./stats.js";

const round = (x: number): number => Math.round(x * 100) / 100;
const here = (f: string): string => fileURLToPath(new URL(f, import.meta.url));

/** Runs `argv` inside the pod's cgroup and collects its JSON lines; `onLine` sees each as it comes. */
function inPod<T>(pod: TestPod, argv: string[], onLine?: (l: T) => void): { done: Promise<T[]>; kill: () => void; go: () => void } {
  const child = spawn("/bin/sh", ["-c", `echo $$ > "${pod.cgroupDir}/cgroup.procs" && exec "$@"`, "sh", ...argv], { stdio: ["pipe", "pipe", "inherit"] });
  const lines: T[] = [];
  createInterface({ input: child.stdout }).on("line", (l) => {
    const v = JSON.parse(l) as T;
    lines.push(v);
    onLine?.(v);
  });
  return { done: new Promise((resolve) => child.on("close", () => resolve(lines))), kill: () => child.kill("SIGKILL"), go: () => child.stdin.write("go\n") };
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("bench:node-identity needs root (eBPF agent, cgroups)");
  const pods = flag("pods", 20);
  const fetches = flag("fetches", 5);
  const cuts = flag("cuts", 5);
  const oneByOne = flag("one-by-one", 0, 0) === 1;
  const fx = new AgentFixture();
  await fx.start();
  const agent = fx.agent!;
  const all = Array.from({ length: pods }, (_, i) => fx.newPod(`bench${i}`));
  const work = mkdtempSync(join(tmpdir(), "meshward-bench-identity-"));
  const podsFile = join(work, "pods.json");
  const placement = (list: TestPod[]): void =>
    writeFileSync(podsFile, JSON.stringify(list.map((p) => ({ namespace: p.namespace, name: p.name, uid: p.uid, serviceAccount: `${p.containerName}-sa`, node: fx.node }))));
  // The cut runs use pods of their own; the CA knows them all from the start.
  const cutPods = Array.from({ length: cuts }, (_, i) => fx.newPod(`cut${i}`));
  placement([...all, ...cutPods]);
  const caProcess = spawn(process.execPath, [here("./node-identity-ca.js"), podsFile, fx.node, join(work, "ca")], { stdio: ["ignore", "pipe", "inherit"] });
  const ca = await new Promise<{ address: string; nodeToken: string }>((resolve) =>
    createInterface({ input: caProcess.stdout }).once("line", (l) => resolve(JSON.parse(l) as { address: string; nodeToken: string })),
  );
  const client = new CaClient(ca.address, grpc.credentials.createInsecure());
  const socketPath = join(work, "identity.sock");
  const identity = new NodeIdentity({
    node: fx.node, trustDomain: "cluster.local", socketPath, pods: agent.pods,
    issuer: caPodIssuer(client, () => ca.nodeToken), isRefusal: isCaRefusal, cutHoldMs: 3_600_000,
  });
  let signalAt = new Map<string, number>();
  agent.onSignal((s) => {
    identity.onSignal(s);
    const uid = s.pod?.uid;
    if (uid && s.eventTime && !signalAt.has(uid)) signalAt.set(uid, Number(s.eventTime.seconds) * 1000 + s.eventTime.nanos / 1e6);
  });
  await identity.start();

  // 1. Fetch latency: `fetches` sequential fetches from each pod, every pod at once (once all are
  // connected) or one pod after another.
  const fetchFrom = async (group: TestPod[]): Promise<number[][]> => {
    let readyCount = 0;
    let allReady: () => void = () => undefined;
    const ready = new Promise<void>((r) => (allReady = r));
    const clients = group.map((p) =>
      inPod<{ ms?: number[]; ready?: boolean }>(p, [process.execPath, here("./node-identity-client.js"), socketPath, "fetch", String(fetches)], (l) => {
        if (l.ready && ++readyCount === group.length) allReady();
      }),
    );
    await ready;
    for (const c of clients) c.go();
    return (await Promise.all(clients.map((c) => c.done))).map((lines) => lines.find((l) => l.ms !== undefined)?.ms ?? []);
  };
  const results: number[][] = [];
  if (oneByOne) for (const p of all) results.push(...(await fetchFrom([p])));
  else results.push(...(await fetchFrom(all)));
  const cold = results.map((ms) => ms[0] ?? NaN).sort((a, b) => a - b);
  const warm = results.flatMap((ms) => ms.slice(1)).sort((a, b) => a - b);
  if (cold.some((x) => Number.isNaN(x))) throw new Error("a pod got no SVID");
  console.log(`node-identity: ${pods} pods, ${fetches} fetches each, ${oneByOne ? "one pod after another" : "all pods at once"}: first fetch (issuance) p50 ${round(percentile(cold, 50))} ms p99 ${round(percentile(cold, 99))} ms; cached p50 ${round(percentile(warm, 50))} ms p99 ${round(percentile(warm, 99))} ms (${warm.length} fetches)`);

  // 2. Rotation of every held certificate: the agent's CPU and wall time.
  const rotations: { cpuMs: number; wallMs: number }[] = [];
  for (let i = 0; i < 3; i++) {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const n = await identity.certificates.rotateAll();
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    rotations.push({ cpuMs: (cpu.user + cpu.system) / 1000, wallMs });
    console.log(`node-identity: rotation ${i + 1} of ${n} certificates: agent CPU ${round((cpu.user + cpu.system) / 1000)} ms, wall ${round(wallMs)} ms`);
  }
  const cpuMed = percentile(rotations.map((r) => r.cpuMs).sort((a, b) => a - b), 50);
  const wallMed = percentile(rotations.map((r) => r.wallMs).sort((a, b) => a - b), 50);

  // 3. Detection -> the pod's stream closed, as the workload sees it.
  const cutMs: number[] = [];
  for (const pod of cutPods) {
    signalAt = new Map();
    let ready: () => void = () => undefined;
    const gotSvid = new Promise<void>((r) => (ready = r));
    const watch = inPod<{ svidAt?: number; closedAt?: number; code?: string }>(pod, [process.execPath, here("./node-identity-client.js"), socketPath, "watch"], (l) => {
      if (l.svidAt !== undefined) ready();
    });
    await gotSvid;
    await runInPod(pod, ["nsenter", "--net=/proc/self/ns/net", "true"]);
    const lines = await watch.done;
    const closed = lines.find((l) => l.closedAt !== undefined);
    const at = signalAt.get(pod.uid);
    if (closed?.closedAt === undefined || at === undefined) throw new Error(`no cut seen for ${pod.name}: ${JSON.stringify(lines)}`);
    cutMs.push(closed.closedAt - at);
  }
  const cutSorted = [...cutMs].sort((a, b) => a - b);
  console.log(`node-identity: detection (kernel timestamp of nsenter's setns) -> the pod's stream closed: ${cutMs.map(round).join(" ")} ms; median ${round(percentile(cutSorted, 50))} ms`);

  await identity.stop();
  client.close();
  caProcess.kill("SIGTERM");
  await fx.stop();
  rmSync(work, { recursive: true, force: true });
  console.log(JSON.stringify({
    pods,
    fetchMode: oneByOne ? "one-by-one" : "all-at-once",
    fetchFirstP50Ms: round(percentile(cold, 50)), fetchFirstP99Ms: round(percentile(cold, 99)),
    fetchCachedP50Ms: round(percentile(warm, 50)), fetchCachedP99Ms: round(percentile(warm, 99)),
    rotationAgentCpuMsMedian: round(cpuMed), rotationWallMsMedian: round(wallMed),
    detectionToStreamClosedMsMedian: round(percentile(cutSorted, 50)),
  }));
  process.exit(0);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : String(err));
  process.exit(1);
});
