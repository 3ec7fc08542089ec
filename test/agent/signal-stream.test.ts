// The signal stream between agent and control plane: at-least-once across a control-plane restart
// with no loss and no duplicate, node authentication, and "only pods on your node".
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import { AgentHelloSchema, SignalSchema, type Signal } from "../../src/gen/meshward/agent/v1/signals_pb.js";
import { SignalSender } from "../../src/agent/signal-sender.js";
import { TokenKey } from "../../src/security/token-key.js";
import { NODE_NAMESPACE, SIGNALS_AUDIENCE } from "../../src/signals/node-identity.js";
import { AgentFixture, skipUnlessRoot } from "./fixture.js";
import { runInPod, type TestPod } from "./kube-cgroup.js";
import { eventually } from "../support/eventually.js";

function storedIds(file: string): string[] {
  return readFileSync(file, "utf8").split("\n").filter((l) => l.trim() !== "").map((l) => (JSON.parse(l) as { signal: { id: string } }).signal.id);
}

describe("signal stream (real agent, real gRPC control plane)", function () {
  this.timeout(60_000);
  const fx = new AgentFixture();
  let pod: TestPod | undefined;

  before(async function () {
    skipUnlessRoot(this);
    await fx.start();
    pod = fx.newPod("streamer");
  });

  after(async () => {
    await fx.stop();
  });

  it("meshward events --agents shows the node connected, its hooks and its drop counters", async () => {
    const tokenFile = fx.tokenFile;
    await runInPod(pod!, ["true"]);
    await eventually("some events", () => fx.agent!.counters.events > 0n || undefined);
    await new Promise((r) => setTimeout(r, 700)); // a health report after them
    const out = await new Promise<string>((resolve, reject) =>
      execFile(join(process.cwd(), "bin", "meshward"), ["events", "--agents", "--server", `127.0.0.1:${fx.controlPlane.port}`, "--token-file", tokenFile], (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}: ${stderr}`)) : resolve(stdout)),
    );
    assert.match(out, new RegExp(`^${fx.node} connected hooks=[1-9]\\d* .* events=[1-9]\\d* ringbuf_drops=0 throttled=0 buffer_drops=0$`, "m"));
  });

  it("loses nothing and duplicates nothing across a control-plane restart", async () => {
    const p = pod!;
    const storeFile = join(fx.dir, "signals.jsonl");
    for (let i = 0; i < 3; i++) await runInPod(p, ["cat", "/etc/shadow"]);
    await eventually("3 signals before the restart", () => fx.signalsFor(p).length === 3 || undefined);

    const port = fx.controlPlane.port;
    fx.controlPlane.stop();
    for (let i = 0; i < 4; i++) await runInPod(p, ["cat", "/etc/shadow"]);
    await eventually("4 signals buffered while the control plane is down", () => fx.sender!.stats().buffered === 4 || undefined);

    await fx.controlPlane.start(port);
    assert.ok(await fx.sender!.drained(15_000), "buffer drained after the restart");
    const ids = storedIds(storeFile).filter((id) => fx.controlPlane.store!.query({ podUid: p.uid }).some((s) => s.signal?.id === id));
    assert.equal(ids.length, 7, "7 signals stored for the pod");
    assert.equal(new Set(ids).size, 7, "each exactly once");
    assert.equal(fx.sender!.stats().bufferDrops, 0);

    // Re-sending everything (as an agent would after losing acks) stores nothing new.
    const before = storedIds(storeFile).length;
    const token = fx.token;
    const again = new SignalSender({
      address: `127.0.0.1:${port}`, credentials: grpc.credentials.createInsecure(), token: () => token, hello: create(AgentHelloSchema, { node: fx.node }),
    });
    again.start();
    for (const st of fx.controlPlane.store!.query({ podUid: p.uid })) again.enqueue(st.signal!);
    assert.ok(await again.drained(10_000));
    assert.equal(again.stats().acked, 7);
    again.close();
    assert.equal(storedIds(storeFile).length, before, "no duplicate appended");
  });

  it("rejects signals about pods on other nodes and signals naming another node", async () => {
    const token = fx.token;
    const sender = new SignalSender({
      address: `127.0.0.1:${fx.controlPlane.port}`, credentials: grpc.credentials.createInsecure(), token: () => token, hello: create(AgentHelloSchema, { node: fx.node }),
    });
    sender.start();
    const foreignPod: Signal = create(SignalSchema, { id: `foreign-${Date.now()}`, node: fx.node, pod: { uid: "00000000-0000-0000-0000-000000000001" } });
    const otherNode: Signal = create(SignalSchema, { id: `other-${Date.now()}`, node: "someone-else", pod: { uid: pod!.uid } });
    const own: Signal = create(SignalSchema, { id: `own-${Date.now()}`, node: fx.node, pod: { uid: pod!.uid } });
    for (const s of [foreignPod, otherNode, own]) sender.enqueue(s);
    assert.ok(await sender.drained(10_000));
    sender.close();
    assert.equal(sender.stats().rejected, 2);
    assert.equal(sender.stats().acked, 1);
    const store = fx.controlPlane.store!;
    assert.ok(store.has(own.id));
    assert.ok(!store.has(foreignPod.id) && !store.has(otherNode.id));
  });

  const refusals: Array<[string, () => string]> = [
    ["a token signed by another key", () => TokenKey.generate().mint({ namespace: NODE_NAMESPACE, serviceAccount: `node-${fx.node}`, audiences: [SIGNALS_AUDIENCE] })],
    ["a CA token (audience istio-ca)", () => fx.controlPlane.mintToken(NODE_NAMESPACE, `node-${fx.node}`, ["istio-ca"])],
    ["a workload's token (not a node identity)", () => fx.controlPlane.mintToken("shop", "cart")],
    ["no JWT at all", () => "not-a-token"],
  ];
  for (const [what, token] of refusals) {
    it(`refuses ${what} and keeps the signals buffered`, async () => {
      const t = token();
      const sender = new SignalSender({
        address: `127.0.0.1:${fx.controlPlane.port}`, credentials: grpc.credentials.createInsecure(), token: () => t,
        hello: create(AgentHelloSchema, { node: fx.node }),
      });
      sender.start();
      const id = `forged-${Date.now()}-${Math.random()}`;
      sender.enqueue(create(SignalSchema, { id, node: fx.node }));
      await eventually("the refused stream to be retried", () => sender.stats().reconnects > 0 || undefined);
      assert.equal(sender.stats().buffered, 1);
      assert.equal(sender.stats().acked, 0);
      sender.close();
      assert.equal(fx.controlPlane.store!.has(id), false);
    });
  }

  it("meshward events: a meshward-system reader lists every node's signals, a workload may not", async () => {
    const reader = join(fx.dir, "reader-token");
    const workload = join(fx.dir, "workload-token");
    writeFileSync(reader, fx.controlPlane.mintToken("meshward-system", "security-team"), { mode: 0o600 });
    writeFileSync(workload, fx.controlPlane.mintToken("shop", "cart"), { mode: 0o600 });
    const run = (tokenFile: string): Promise<{ code: number; out: string; err: string }> =>
      new Promise((resolve) =>
        execFile(join(process.cwd(), "bin", "meshward"), ["events", "--server", `127.0.0.1:${fx.controlPlane.port}`, "--token-file", tokenFile], (e, out, err) =>
          resolve({ code: e ? 1 : 0, out, err })),
      );
    const ok = await run(reader);
    assert.equal(ok.code, 0, ok.err);
    assert.match(ok.out, new RegExp(`sensitive-file-read T1003\\.008 node=${fx.node} pod=meshward-test/streamer-`));
    const denied = await run(workload);
    assert.equal(denied.code, 1);
    assert.match(denied.err, /ns\/shop\/sa\/cart may not read signals/);
  });

  it("meshward events lists what the node reported (API, node token)", async () => {
    const tokenFile = fx.tokenFile;
    const bin = join(process.cwd(), "bin", "meshward");
    const out = await new Promise<string>((resolve, reject) =>
      execFile(bin, ["events", "--server", `127.0.0.1:${fx.controlPlane.port}`, "--token-file", tokenFile, "--pod", pod!.uid, "--json"], (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}: ${stderr}`)) : resolve(stdout)),
    );
    const lines = out.trim().split("\n").map((l) => JSON.parse(l) as { signal: { detection?: { id: string }; pod: { uid: string } } });
    assert.ok(lines.length >= 7);
    assert.ok(lines.every((l) => l.signal.pod.uid === pod!.uid));
    assert.ok(lines.some((l) => l.signal.detection?.id === "sensitive-file-read"));
  });
});
