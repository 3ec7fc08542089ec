// Overhead of the node agent on workloads in a container: an exec storm (fork + exec /bin/true),
// a syscall-heavy loop (openat/read/close, which crosses the openat hook every time) and a connect
// loop (the connect hook's inet path), each run without the agent ("off"), with the programs that
// predate issue 17 ("base": the tracer skips the socket, connect and link hooks) and with every
// program ("all"), interleaved in one run (off base all, then all base off: ABBA). The workload runs in a
// kubelet-shaped cgroup so the agent does its full work for every event (no kernel rate limit).
// Workload time is CPU time (user + system of the workload and its children): the eBPF programs
// run in the workload's context, so their cost lands there, while CPU time is far less disturbed
// than wall time by other processes on a shared machine. Wall times are printed as well. The
// agent's own user-space CPU (node process + tracer) is reported separately as agentCpuPct.
// With kernel.bpf_stats_enabled the kernel's own run time per program invocation is printed
// (run_time_ns / run_cnt, "all" runs). Drop onset: sensitive opens (one event each) offered at
// rising rates until the ring buffer drops.
// Prints figures; the last line is {"overheadPct","agentCpuPct","eventsPerSec","drops",
// "overheadBasePct","syscallsOverheadPct","connectOverheadPct","dropOnsetPerSec"}.
import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { findCgroup2Mount } from "../src/agent/attribution/cgroup-index.js";
import { NodeAgent } from "../src/agent/node-agent.js";

const execFileAsync = promisify(execFile);
const EXECS = Number(process.env.BENCH_EXECS ?? 1000);
const SYSCALLS = Number(process.env.BENCH_SYSCALLS ?? 200_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const BURST = Number(process.env.BENCH_BURST ?? 200_000);
const CONNECTS = Number(process.env.BENCH_CONNECTS ?? 100_000);
/** Offered event rates for the drop onset (0 = as fast as one CPU can open). */
const DROP_RATES = (process.env.BENCH_DROP_RATES ?? "50000,100000,200000,400000,0").split(",").map(Number);
/** The hooks issue 17 added; "base" runs without them. */
const NEW_PROGRAMS = ["mw_sys_enter_socket", "mw_sys_enter_connect", "mw_sys_enter_symlink", "mw_sys_enter_symlinkat", "mw_sys_enter_link", "mw_sys_enter_linkat"];
const CLK_TCK = 100;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function stddevPct(xs: number[]): number {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  return (Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length) / m) * 100;
}

/** utime + stime of a process in seconds, from /proc/<pid>/stat. */
function procCpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

/** Runs a workload without blocking the event loop: the in-process agent must keep consuming. */
async function runWorkload(bin: string, procs: string, kind: "exec" | "syscalls" | "connect" | "burst", n: number, perSec = 0): Promise<{ wall: number; cpu: number }> {
  const { stdout } = await execFileAsync(bin, [procs, kind, String(n), String(perSec)], { encoding: "utf8" });
  const [wall, cpu] = stdout.trim().split(" ").map((x) => Number(x) / 1e9);
  return { wall, cpu };
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("bench:agent-overhead needs root (it loads eBPF programs)");
  const root = findCgroup2Mount();
  if (root === undefined) throw new Error("no cgroup v2 mount");
  const dir = mkdtempSync(join(tmpdir(), "meshward-bench-"));
  const src = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "bench", "agent-workload.c");
  const bin = join(dir, "agent-workload");
  execFileSync("cc", ["-O2", "-o", bin, src]);
  const uid = randomUUID();
  const podDir = join(root, "kubepods.slice", "kubepods-besteffort.slice", `kubepods-besteffort-pod${uid.replace(/-/g, "_")}.slice`);
  const cgDir = join(podDir, `cri-containerd-${randomBytes(32).toString("hex")}.scope`);
  mkdirSync(cgDir, { recursive: true });
  const procs = join(cgDir, "cgroup.procs");

  type Mode = "off" | "base" | "all";
  type Kind = "exec" | "syscalls" | "connect";
  const KINDS: readonly Kind[] = ["exec", "syscalls", "connect"];
  const counts: Record<Kind, number> = { exec: EXECS, syscalls: SYSCALLS, connect: CONNECTS };
  type Series = Record<Mode, number[]>;
  const series = (): Record<Kind, Series> => ({ exec: { off: [], base: [], all: [] }, syscalls: { off: [], base: [], all: [] }, connect: { off: [], base: [], all: [] } });
  const times = series();
  const walls = series();
  let agentCpu = 0;
  let agentWall = 0;
  let stormEvents = 0n;
  let stormWall = 0;
  let drops = 0n;
  let throttled = 0n;
  const onset: Array<{ offered: number; delivered: number; drops: bigint }> = [];
  const progCost = new Map<string, { ns: number; cnt: number }>();
  const statsWas = readFileSync("/proc/sys/kernel/bpf_stats_enabled", "utf8").trim();
  const newAgent = (mode: Mode): NodeAgent =>
    new NodeAgent({ node: "bench", dataDir: join(dir, "data"), tracer: { ratePerSec: 0, ...(mode === "base" ? { skipPrograms: NEW_PROGRAMS } : {}) } });
  try {
    writeFileSync("/proc/sys/kernel/bpf_stats_enabled", "1");
    for (let round = 0; round < ROUNDS; round++) {
      const order: Mode[] = round % 2 === 0 ? ["off", "base", "all"] : ["all", "base", "off"];
      for (const mode of order) {
        let agent: NodeAgent | undefined;
        if (mode !== "off") {
          agent = newAgent(mode);
          await agent.start();
        }
        const cpu0 = process.cpuUsage();
        const tracer0 = procCpuSeconds(agent?.tracerPid);
        const ev0 = agent?.counters.events ?? 0n;
        const t0 = performance.now();
        const cost0 = mode === "all" ? programCosts(agent?.tracerPid) : new Map<string, { ns: number; cnt: number }>();
        let execWall = 0;
        for (const k of KINDS) {
          const r = await runWorkload(bin, procs, k, counts[k]);
          times[k][mode].push(r.cpu);
          walls[k][mode].push(r.wall);
          if (k === "exec") execWall = r.wall;
        }
        if (agent !== undefined) {
          if (mode === "all") {
            for (const [name, c] of programCosts(agent.tracerPid)) {
              const before = cost0.get(name) ?? { ns: 0, cnt: 0 };
              const acc = progCost.get(name) ?? { ns: 0, cnt: 0 };
              progCost.set(name, { ns: acc.ns + c.ns - before.ns, cnt: acc.cnt + c.cnt - before.cnt });
            }
          }
          // Let the agent drain its pipe and receive a stats record (drops) after the runs; the
          // syscall and connect loops raise nothing, so these events are the storm's.
          await new Promise((r) => setTimeout(r, 1200));
          const ev1 = agent.counters.events;
          const cpu = process.cpuUsage(cpu0);
          const wall = (performance.now() - t0) / 1000;
          if (mode === "all") {
            agentCpu += (cpu.user + cpu.system) / 1e6 + (procCpuSeconds(agent.tracerPid) - tracer0);
            agentWall += wall;
            stormEvents += ev1 - ev0;
            stormWall += execWall;
          }
          drops += agent.counters.ringbufDrops;
          throttled += agent.counters.throttled;
          await agent.stop();
        }
      }
      console.log(`round ${round + 1} (CPU s, off/base/all): ${KINDS.map((k) => `${k} ${times[k].off[round].toFixed(3)}/${times[k].base[round].toFixed(3)}/${times[k].all[round].toFixed(3)}`).join("; ")}`);
    }
    // Drop onset: one kernel event per open of /etc/shadow, offered at rising rates, to see where
    // the kernel -> tracer -> agent path stops keeping up (the ring buffer fills and drops).
    for (const rate of DROP_RATES) {
      const agent = newAgent("all");
      await agent.start();
      const ev0 = agent.counters.events;
      // As fast as possible: one opener per CPU, so the offered rate is the machine's, not one core's.
      const workers = rate === 0 ? cpus().length : 1;
      const t0 = performance.now();
      await Promise.all(Array.from({ length: workers }, () => runWorkload(bin, procs, "burst", BURST, rate)));
      const b = { wall: (performance.now() - t0) / 1000 };
      const offeredEvents = BURST * workers;
      const deadline = Date.now() + 30_000;
      let last = -1n;
      while (Date.now() < deadline && agent.counters.events !== last) {
        last = agent.counters.events;
        await new Promise((r) => setTimeout(r, 1200));
      }
      const point = { offered: offeredEvents / b.wall, delivered: Number(agent.counters.events - ev0), drops: agent.counters.ringbufDrops };
      onset.push(point);
      await agent.stop();
      console.log(`offered ${point.offered.toFixed(0)} events/s: ${point.delivered} of ${offeredEvents} delivered, ${point.drops} ring-buffer drops`);
      if (point.drops > 0n) break;
    }
  } finally {
    writeFileSync("/proc/sys/kernel/bpf_stats_enabled", statsWas);
    for (let i = 0; i < 50; i++) {
      try {
        rmdirSync(cgDir);
        rmdirSync(podDir);
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }

  const pctOf = (s: Series, mode: Mode = "all"): number => ((median(s[mode]) - median(s.off)) / median(s.off)) * 100;
  const overheadPct = pctOf(times.exec);
  const agentCpuPct = (agentCpu / agentWall) * 100;
  const eventsPerSec = Number(stormEvents) / stormWall;
  const what: Record<Kind, string> = { exec: `${EXECS} x fork+exec /bin/true`, syscalls: `${SYSCALLS} x openat+read+close`, connect: `${CONNECTS} x UDP connect` };
  for (const k of KINDS) {
    console.log(`${what[k]}: CPU median ${median(times[k].off).toFixed(3)}s off, ${median(times[k].base).toFixed(3)}s base (${pctOf(times[k], "base").toFixed(2)}%), ${median(times[k].all).toFixed(3)}s all (${pctOf(times[k]).toFixed(2)}%); spread ${stddevPct(times[k].off).toFixed(1)}%/${stddevPct(times[k].base).toFixed(1)}%/${stddevPct(times[k].all).toFixed(1)}%; wall ${median(walls[k].off).toFixed(3)}s/${median(walls[k].base).toFixed(3)}s/${median(walls[k].all).toFixed(3)}s`);
  }
  console.log(`agent (node + tracer) CPU while loaded: ${agentCpuPct.toFixed(2)}% of one core; events during the storm: ${eventsPerSec.toFixed(0)}/s; ring-buffer drops ${drops}; throttled ${throttled}`);
  console.log("kernel run time per invocation (bpf_stats, all runs): " + [...progCost].filter(([, c]) => c.cnt > 0).sort((a, b) => b[1].cnt - a[1].cnt).map(([n, c]) => `${n} ${(c.ns / c.cnt).toFixed(0)} ns x ${c.cnt}`).join(", "));
  const firstDrop = onset.find((p) => p.drops > 0n);
  const dropOnsetPerSec = firstDrop ? Math.round(firstDrop.offered) : 0;
  console.log(firstDrop ? `drops begin at ${dropOnsetPerSec} events/s offered` : `no drops up to ${Math.round(Math.max(...onset.map((p) => p.offered)))} events/s offered (the most one CPU opening files produced)`);
  console.log(`kernel ${execFileSync("uname", ["-r"], { encoding: "utf8" }).trim()}, ${ROUNDS} rounds ABBA over off/base/all, workload in a kubelet-shaped cgroup, no kernel rate limit`);
  console.log(JSON.stringify({
    overheadPct: Number(overheadPct.toFixed(2)), agentCpuPct: Number(agentCpuPct.toFixed(2)), eventsPerSec: Math.round(eventsPerSec), drops: Number(drops),
    overheadBasePct: Number(pctOf(times.exec, "base").toFixed(2)), syscallsOverheadPct: Number(pctOf(times.syscalls).toFixed(2)),
    connectOverheadPct: Number(pctOf(times.connect).toFixed(2)), connectBasePct: Number(pctOf(times.connect, "base").toFixed(2)), dropOnsetPerSec,
  }));
}

/** run_time_ns and run_cnt of the tracer's programs (kernel.bpf_stats_enabled), by name: the
 * tracer's bpf-prog file descriptors' fdinfo, named by bpftool. */
function programCosts(tracerPid: number | undefined): Map<string, { ns: number; cnt: number }> {
  const out = new Map<string, { ns: number; cnt: number }>();
  if (tracerPid === undefined) return out;
  const names = new Map<number, string>();
  for (const p of JSON.parse(execFileSync("bpftool", ["prog", "show", "--json"], { encoding: "utf8" })) as Array<{ id: number; name?: string }>) {
    if (p.name !== undefined) names.set(p.id, p.name);
  }
  for (const fd of readdirSync(`/proc/${tracerPid}/fd`)) {
    let info: string;
    try {
      if (readlinkSync(`/proc/${tracerPid}/fd/${fd}`) !== "anon_inode:bpf-prog") continue;
      info = readFileSync(`/proc/${tracerPid}/fdinfo/${fd}`, "utf8");
    } catch {
      continue;
    }
    const field = (k: string): number => Number(new RegExp(`^${k}:\\s*(\\d+)`, "m").exec(info)?.[1] ?? 0);
    const name = names.get(field("prog_id"));
    if (name !== undefined) out.set(name, { ns: field("run_time_ns"), cnt: field("run_cnt") });
  }
  return out;
}

main().catch((err: Error) => {
  console.error(`bench:agent-overhead: ${err.message}`);
  process.exit(1);
});
