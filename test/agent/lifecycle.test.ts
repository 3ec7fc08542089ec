// The agent must never outlive itself in the kernel: stopping detaches every program, a crashed
// tracer is restarted with its watch list, and a dead agent takes its tracer (and programs) along.
import { strict as assert } from "node:assert";
import { execFileSync, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { AgentFixture, skipUnlessRoot } from "./fixture.js";
import { runInPod } from "./kube-cgroup.js";
import { eventually } from "../support/eventually.js";

/** BPF program ids a process holds open (from /proc/<pid>/fdinfo). */
function heldProgIds(pid: number): number[] {
  const ids: number[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    try {
      const m = /prog_id:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, "utf8"));
      if (m) ids.push(Number(m[1]));
    } catch {
      // fd closed meanwhile
    }
  }
  return ids;
}

function progLoaded(id: number): boolean {
  try {
    execFileSync("bpftool", ["prog", "show", "id", String(id)], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("agent lifecycle (real kernel)", function () {
  this.timeout(60_000);

  before(function () {
    skipUnlessRoot(this);
  });

  it("restarts a killed tracer, replays the watched cgroups, and stop() detaches every program", async () => {
    const fx = new AgentFixture();
    await fx.start();
    try {
      const agent = fx.agent!;
      const first = agent.tracerPid!;
      await eventually("programs held by the tracer", () => heldProgIds(first).length > 0 || undefined);
      const firstHello = agent.tracerHello;
      process.kill(first, "SIGKILL");
      // The new tracer's own hello: it is sent once every program is attached. (Its program fds
      // exist earlier, right after loading, when nothing is attached yet.)
      await eventually("a new tracer", () => (agent.tracerPid !== undefined && agent.tracerPid !== first && agent.tracerHello !== firstHello) || undefined, 20_000);
      const second = agent.tracerPid!;
      await eventually("the new tracer's programs", () => heldProgIds(second).length >= 18 || undefined);
      const pod = fx.newPod("after-restart");
      await runInPod(pod, ["cat", "/etc/shadow"]);
      await fx.waitForSignal((s) => s.detection?.id === "sensitive-file-read" && s.pod?.uid === pod.uid);

      const progs = heldProgIds(second);
      await agent.stop();
      assert.equal(alive(second), false, "tracer exited");
      assert.deepEqual(progs.filter(progLoaded), [], "no program left loaded");
    } finally {
      await fx.stop();
    }
  });

  it("a tracer whose agent dies (SIGKILL) exits and unloads its programs", async () => {
    const script = `
      import { Tracer } from ${JSON.stringify(join(process.cwd(), "dist/src/agent/native/tracer.js"))};
      const t = new Tracer({ onRecord: () => {} });
      await t.start();
      console.log(t.pid);
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    const tracerPid = await new Promise<number>((resolve) => child.stdout!.once("data", (d: Buffer) => resolve(Number(d.toString().trim()))));
    await eventually("programs held by the tracer", () => heldProgIds(tracerPid).length > 0 || undefined);
    const progs = heldProgIds(tracerPid);
    child.kill("SIGKILL");
    await eventually("the orphaned tracer to exit", () => !alive(tracerPid) || undefined, 10_000);
    await eventually("its programs to be unloaded", () => progs.filter(progLoaded).length === 0 || undefined, 10_000);
  });
});
