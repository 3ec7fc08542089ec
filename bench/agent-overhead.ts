// Overhead of the node agent on workloads in a container: an exec storm (fork + exec /bin/true)
// and a syscall-heavy loop (openat/read/close, which crosses the openat hook every time), each
// run without and with the agent loaded, interleaved (ABBA) in one run. The workload runs in a
// kubelet-shaped cgroup so the agent does its full work for every event (no kernel rate limit).
// Workload time is CPU time (user + system of the workload and its children): the eBPF programs
// run in the workload's context, so their cost lands there, while CPU time is far less disturbed
// than wall time by other processes on a shared machine. Wall times are printed as well. The
// agent's own user-space CPU (node process + tracer) is reported separately as agentCpuPct.
// Prints figures; the last line is {"overheadPct","agentCpuPct","eventsPerSec","drops"}.
import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { findCgroup2Mount } from "../src/agent/attribution/cgroup-index.js";
import { NodeAgent } from "../src/agent/node-agent.js";

const execFileAsync = promisify(execFile);
const EXECS = Number(process.env.BENCH_EXECS ?? 1000);
const SYSCALLS = Number(process.env.BENCH_SYSCALLS ?? 200_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const BURST = Number(process.env.BENCH_BURST ?? 100_000);
const BURST_RATE = Number(process.env.BENCH_BURST_RATE ?? 50_000);
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
async function runWorkload(bin: string, procs: string, kind: "exec" | "syscalls" | "burst", n: number, perSec = 0): Promise<{ wall: number; cpu: number }> {
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

  type Series = { off: number[]; on: number[] };
  const times = { exec: { off: [], on: [] } as Series, syscalls: { off: [], on: [] } as Series };
  const walls = { exec: { off: [], on: [] } as Series, syscalls: { off: [], on: [] } as Series };
  let agentCpu = 0;
  let agentWall = 0;
  let stormEvents = 0n;
  let stormWall = 0;
  let drops = 0n;
  let throttled = 0n;
  let burst = { offeredPerSec: 0, delivered: 0, drops: 0n };
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const order: Array<"off" | "on"> = round % 2 === 0 ? ["off", "on"] : ["on", "off"];
      for (const mode of order) {
        let agent: NodeAgent | undefined;
        if (mode === "on") {
          agent = new NodeAgent({ node: "bench", dataDir: join(dir, "data"), tracer: { ratePerSec: 0 } });
          await agent.start();
        }
        const cpu0 = process.cpuUsage();
        const tracer0 = procCpuSeconds(agent?.tracerPid);
        const ev0 = agent?.counters.events ?? 0n;
        const t0 = performance.now();
        const execT = await runWorkload(bin, procs, "exec", EXECS);
        const sysT = await runWorkload(bin, procs, "syscalls", SYSCALLS);
        times.exec[mode].push(execT.cpu);
        times.syscalls[mode].push(sysT.cpu);
        walls.exec[mode].push(execT.wall);
        walls.syscalls[mode].push(sysT.wall);
        if (agent !== undefined) {
          // Let the agent drain its pipe and receive a stats record (drops) after the runs; the
          // syscall loop opens nothing the kernel reports, so these events are the storm's.
          await new Promise((r) => setTimeout(r, 1200));
          const ev1 = agent.counters.events;
          const cpu = process.cpuUsage(cpu0);
          const wall = (performance.now() - t0) / 1000;
          agentCpu += (cpu.user + cpu.system) / 1e6 + (procCpuSeconds(agent.tracerPid) - tracer0);
          agentWall += wall;
          stormEvents += ev1 - ev0;
          stormWall += execT.wall;
          drops += agent.counters.ringbufDrops;
          throttled += agent.counters.throttled;
          await agent.stop();
        }
      }
      console.log(`round ${round + 1} (CPU s): exec off ${times.exec.off[round].toFixed(3)} on ${times.exec.on[round].toFixed(3)}; syscalls off ${times.syscalls.off[round].toFixed(3)} on ${times.syscalls.on[round].toFixed(3)}`);
    }
    // Burst: one kernel event per open of /etc/shadow, paced at BENCH_BURST_RATE per second (0 =
    // as fast as the CPU allows), to see whether the kernel -> tracer -> agent path keeps up.
    const agent = new NodeAgent({ node: "bench", dataDir: join(dir, "data"), tracer: { ratePerSec: 0 } });
    await agent.start();
    const ev0 = agent.counters.events;
    const b = await runWorkload(bin, procs, "burst", BURST, BURST_RATE);
    const deadline = Date.now() + 30_000;
    let last = -1n;
    while (Date.now() < deadline && agent.counters.events !== last) {
      last = agent.counters.events;
      await new Promise((r) => setTimeout(r, 1200));
    }
    const delivered = agent.counters.events - ev0;
    burst = { offeredPerSec: BURST / b.wall, delivered: Number(delivered), drops: agent.counters.ringbufDrops };
    drops += agent.counters.ringbufDrops;
    await agent.stop();
  } finally {
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

  const pctOf = (s: Series): number => ((median(s.on) - median(s.off)) / median(s.off)) * 100;
  const pct = (k: "exec" | "syscalls"): number => pctOf(times[k]);
  const overheadPct = pct("exec");
  const agentCpuPct = (agentCpu / agentWall) * 100;
  const eventsPerSec = Number(stormEvents) / stormWall;
  for (const [k, what] of [["exec", `${EXECS} x fork+exec /bin/true`], ["syscalls", `${SYSCALLS} x openat+read+close`]] as const) {
    console.log(`${what}: CPU median ${median(times[k].off).toFixed(3)}s without, ${median(times[k].on).toFixed(3)}s with the agent (${pct(k).toFixed(2)}%, spread ${stddevPct(times[k].off).toFixed(1)}%/${stddevPct(times[k].on).toFixed(1)}%); wall ${median(walls[k].off).toFixed(3)}s vs ${median(walls[k].on).toFixed(3)}s (${pctOf(walls[k]).toFixed(2)}%)`);
  }
  console.log(`agent (node + tracer) CPU while loaded: ${agentCpuPct.toFixed(2)}% of one core; events during the storm: ${eventsPerSec.toFixed(0)}/s; ring-buffer drops ${drops}; throttled ${throttled}`);
  console.log(`burst: ${BURST} sensitive opens at ${burst.offeredPerSec.toFixed(0)} events/s offered; ${burst.delivered} delivered to the agent, ${burst.drops} ring-buffer drops`);
  console.log(`kernel ${execFileSync("uname", ["-r"], { encoding: "utf8" }).trim()}, ${ROUNDS} rounds ABBA, workload in a kubelet-shaped cgroup, no kernel rate limit`);
  console.log(JSON.stringify({
    overheadPct: Number(overheadPct.toFixed(2)), agentCpuPct: Number(agentCpuPct.toFixed(2)), eventsPerSec: Math.round(eventsPerSec), drops: Number(drops),
  }));
}

main().catch((err: Error) => {
  console.error(`bench:agent-overhead: ${err.message}`);
  process.exit(1);
});
