// An apiserver outage while the test's code keeps running: a private apiserver (its own etcd) and
// a restart of the apiserver alone that does not block the event loop (KubeApiserver's own
// restartApiserver does, so nothing could happen during the outage).
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "./grpc-go-peer.js";
import { kubeApiserverBinaries, startKubeApiserver, type KubeApiserver } from "./kube-apiserver.js";

/** For a mocha `before` hook: a private apiserver, or the suite is skipped with a printed reason (outside CI). */
export function privateKubeApiserverOrSkip(ctx: Mocha.Context): KubeApiserver {
  const bins = kubeApiserverBinaries();
  if ("skip" in bins) {
    console.log(`      skipped: ${bins.skip}`);
    ctx.skip();
  }
  ctx.timeout(180_000);
  return startKubeApiserver();
}

/** Kills the apiserver and starts it again on the same port (etcd and data kept); resolves once it is ready. */
export function restartApiserverInBackground(kas: KubeApiserver, downSeconds = 0): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const child = spawn("bash", [join(repoRoot(), "test", "kube", "start.sh"), "restart-apiserver"], {
      // A loaded 2-core machine can take minutes to bring an apiserver up: wait, do not fail the test on it.
      env: { ...process.env, KAS_STATE: kas.state, KAS_PORT: new URL(kas.url).port, KAS_STOP_SIGNAL: "KILL", KAS_READY_TIMEOUT: "240", KAS_DOWN_SECONDS: String(downSeconds) },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    child.once("exit", (code) => {
      if (code === 0) return resolve();
      let tail = "";
      try {
        tail = readFileSync(join(kas.state, "apiserver.log"), "utf8").split("\n").slice(-15).join("\n");
      } catch {
        tail = "(no apiserver.log)";
      }
      reject(new Error(`restart-apiserver exited ${code}: ${stderr}\napiserver.log:\n${tail}`));
    });
  });
}
