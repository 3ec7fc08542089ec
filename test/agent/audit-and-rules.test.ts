// Exec audit of interactive sessions and live custom rules, on the real agent and kernel.
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { AgentFixture, skipUnlessRoot } from "./fixture.js";
import { runInPod } from "./kube-cgroup.js";
import { eventually } from "../support/eventually.js";

describe("exec audit and custom rules (real agent)", function () {
  this.timeout(60_000);
  const fx = new AgentFixture();

  before(async function () {
    skipUnlessRoot(this);
    await fx.start();
  });

  after(async () => {
    await fx.stop();
  });

  it("records every command of an interactive session with argv, uid, tty, parent chain, pod and container", async () => {
    const pod = fx.newPod("shell");
    await runInPod(pod, ["uname", "-r"]); // not interactive: not audited
    await runInPod(pod, ["script", "-qc", "sh -c 'id -u; ls /tmp >/dev/null; uname -a'", "/dev/null"]);
    await fx.waitForSignal((s) => s.detection?.id === "terminal-shell-in-container" && s.pod?.uid === pod.uid);
    await eventually("the session's last command in the audit", () => fx.agent!.audit.search({ pod: pod.name }).some((r) => r.argv[0] === "uname") || undefined);
    const rows = fx.agent!.audit.search({ pod: pod.name });
    const cmds = rows.map((r) => r.argv.join(" "));
    assert.ok(cmds.includes("id -u") && cmds.includes("ls /tmp") && cmds.includes("uname -a"), cmds.join(" | "));
    assert.ok(!cmds.includes("uname -r"), "the non-interactive command is not audited");
    const id = rows.find((r) => r.argv.join(" ") === "id -u")!;
    assert.equal(id.podNamespace, pod.namespace);
    assert.equal(id.containerName, pod.containerName);
    assert.equal(id.containerId, pod.containerId);
    assert.equal(id.uid, 0);
    assert.notEqual(id.tty, "");
    assert.equal(id.ancestors[0], "/usr/bin/sh");
    assert.ok(rows.every((r) => r.sessionExecId === rows[0].sessionExecId), "one session");
    const hits = fx.agent!.audit.search({ pod: pod.name, text: "ls /tmp" });
    assert.ok(hits.some((r) => r.argv[0] === "ls") && hits.every((r) => r.argv.join(" ").includes("ls /tmp")));
    assert.ok(hits.length < rows.length);

    const out = await new Promise<string>((resolve, reject) =>
      execFile(join(process.cwd(), "bin", "meshward"), ["agent", "audit", "--data-dir", fx.dir, "--pod", pod.uid, "--text", "uname"], (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}: ${stderr}`)) : resolve(stdout)),
    );
    assert.match(out, new RegExp(`${pod.namespace}/${pod.name} ${pod.containerName} uid=0 tty=\\d+:\\d+ uname -a`));
  });

  it("applies a custom rule on pod labels after a live reload, and keeps it when a bad file follows", async () => {
    writeFileSync(fx.rulesFile, `rules:
  - id: uname-in-payments
    description: uname in a payments pod
    severity: low
    mitre: T1082
    match: {event: exec, binary: [uname], podLabels: {app: payments}}
`);
    await eventually("the rule file to be reloaded", () => fx.agent!.rules.rules.some((r) => r.id === "uname-in-payments") || undefined);
    const payments = fx.newPod("payments", { app: "payments" });
    const web = fx.newPod("web", { app: "web" });
    await runInPod(payments, ["uname"]);
    const s = await fx.waitForSignal((x) => x.detection?.id === "uname-in-payments" && x.pod?.uid === payments.uid);
    assert.equal(s.detection?.ruleSource, fx.rulesFile);
    assert.equal(s.pod?.labels.app, "payments");
    await runInPod(web, ["uname"]);
    await runInPod(web, ["cat", "/etc/shadow"]); // sentinel
    await fx.waitForSignal((x) => x.detection?.id === "sensitive-file-read" && x.pod?.uid === web.uid);
    assert.ok(!fx.signalsFor(web).some((x) => x.detection?.id === "uname-in-payments"));

    writeFileSync(fx.rulesFile, "rules:\n  - id: broken\n    severity: high\n    match: {event: nonsense}\n");
    await new Promise((r) => setTimeout(r, 1500));
    assert.ok(fx.agent!.rules.rules.some((r) => r.id === "uname-in-payments"), "previous rules still active");
    assert.ok(!fx.agent!.rules.rules.some((r) => r.id === "broken"));
  });
});
