// Issue 17, scope 4: no signal is lost while the control plane is away and the agent restarts.
// Real agent on the real kernel, real gRPC control plane: signals raised while the control plane
// is down wait in the agent's on-disk buffer, the agent (tracer, rules, sender) is stopped and a
// new one started on the same data directory, and the control plane receives them when it returns.
import { strict as assert } from "node:assert";
import { statSync } from "node:fs";
import { join } from "node:path";
import { NodeAgent } from "../../src/agent/node-agent.js";
import { AgentFixture, skipUnlessRoot } from "./fixture.js";
import { runInPod } from "./kube-cgroup.js";
import { streamSignals } from "../support/node-agent.js";
import { eventually } from "../support/eventually.js";

describe("agent signal buffer across an agent restart (real kernel, real control plane)", function () {
  this.timeout(90_000);
  const fx = new AgentFixture();

  before(async function () {
    skipUnlessRoot(this);
    await fx.start();
  });

  after(async () => {
    await fx.stop();
  });

  it("delivers the signals raised while the control plane was down, after the agent restarted", async () => {
    const bufferFile = join(fx.dir, "signal-buffer.db");
    const address = `127.0.0.1:${fx.controlPlane.port}`;
    const port = fx.controlPlane.port;
    fx.sender?.close();
    fx.sender = streamSignals(fx.agent!, { node: fx.node, address, token: fx.token, bufferFile });
    const pod = fx.newPod("restarted");
    fx.controlPlane.stop();

    await runInPod(pod, ["cat", "/etc/shadow"]);
    await runInPod(pod, ["sh", "-c", "grep -r 'BEGIN RSA PRIVATE' /nonexistent; true"]);
    await eventually("2 signals buffered while the control plane is down", () => fx.sender!.stats().buffered === 2 || undefined, 30_000);
    assert.equal(statSync(bufferFile).mode & 0o777, 0o600, "the buffer holds argv: owner-only");

    // The agent restarts (tracer detached, process state gone); only the data directory remains.
    await fx.agent!.stop();
    fx.sender.close();
    fx.agent = new NodeAgent({ node: fx.node, dataDir: fx.dir, podsFile: fx.podsFile, rulesFile: fx.rulesFile });
    await fx.agent.start();
    fx.sender = streamSignals(fx.agent, { node: fx.node, address, token: fx.token, bufferFile });
    assert.equal(fx.sender.stats().buffered, 2, "the restarted agent found both signals on disk");

    await fx.controlPlane.start(port);
    assert.ok(await fx.sender.drained(30_000), "buffer drained once the control plane is back");
    assert.deepEqual(fx.signalsFor(pod).map((s) => s.detection?.id).sort(), ["private-key-search", "sensitive-file-read"]);
    assert.equal(fx.sender.stats().buffered, 0);
  });
});
