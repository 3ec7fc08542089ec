// Process tree (exec ids across pid reuse), the sender's bounded buffer, and the kubelet pod list
// over real HTTPS with a bearer token (certificate from openssl).
import { strict as assert } from "node:assert";
import { rmSync } from "node:fs";
import { createServer } from "node:https";
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import { AgentHelloSchema, SignalSchema } from "../../src/gen/meshward/agent/v1/signals_pb.js";
import { fetchKubeletPods } from "../../src/agent/attribution/pod-directory.js";
import { makeTestPki } from "../support/test-pki.js";
import type { KernelEvent, ProcessHeader } from "../../src/agent/native/event-layout.js";
import { ProcessTree } from "../../src/agent/process-tree.js";
import { SignalSender } from "../../src/agent/signal-sender.js";
import { Tracer } from "../../src/agent/native/tracer.js";

function header(tgid: number, startNs: bigint, ptgid: number, parentStartNs: bigint, comm: string): ProcessHeader {
  return {
    tgid, tid: tgid, ptgid, ktimeNs: startNs, cgroupId: 9n, startNs, parentStartNs, uid: 0, euid: 0, gid: 0, tty: 0, capEffective: 0n,
    ns: { mnt: 1, pid: 1, net: 1, user: 1, uts: 1, ipc: 1, cgroup: 1 }, comm,
  };
}

function exec(p: ProcessHeader, filename: string, args: string[]): KernelEvent {
  return { kind: "exec", proc: p, flags: 0, exeMode: 0o755, exeUid: 0, exeNlink: 1, exeCtimeNs: 0n, filename, args };
}

describe("process tree", () => {
  it("keeps exec ids apart when a pid is reused and walks the right parent chain", () => {
    const t = new ProcessTree("n1");
    t.observe(exec(header(100, 1000n, 1, 1n, "sh"), "/bin/sh", ["sh"]));
    t.observe({ kind: "fork", proc: header(200, 2000n, 100, 1000n, "sh") });
    const child = t.observe(exec(header(200, 2000n, 100, 1000n, "cat"), "/bin/cat", ["cat", "x"]));
    t.observe({ kind: "exit", proc: header(200, 2000n, 100, 1000n, "cat"), exitCode: 0 });
    // pid 200 reused by an unrelated process under pid 300
    t.observe(exec(header(300, 3000n, 1, 1n, "bash"), "/bin/bash", ["bash"]));
    const reused = t.observe(exec(header(200, 4000n, 300, 3000n, "ls"), "/bin/ls", ["ls"]));
    assert.equal(child.execId, "n1:2000:200");
    assert.equal(reused.execId, "n1:4000:200");
    assert.deepEqual(t.ancestors(child.execId).map((p) => p.binary), ["/bin/sh"]);
    assert.deepEqual(t.ancestors(reused.execId).map((p) => p.binary), ["/bin/bash"]);
    assert.equal(t.get(child.execId)?.binary, "/bin/cat");
    t.prune(true);
    assert.equal(t.get(child.execId), undefined, "exited process pruned");
    assert.ok(t.get(reused.execId));
  });
});

describe("tracer start", () => {
  it("fails the start (no retry loop) when the loader cannot run", async () => {
    const t = new Tracer({ binary: "/bin/false", onRecord: () => undefined });
    await assert.rejects(t.start(), /tracer failed to start: tracer exited \(code 1/);
    assert.equal(t.pid, undefined);
  });
});

describe("signal sender buffer", () => {
  it("keeps at most maxBuffered signals while the control plane is unreachable and counts the drops", async () => {
    const s = new SignalSender({
      address: "127.0.0.1:1", credentials: grpc.credentials.createInsecure(), hello: create(AgentHelloSchema, { node: "n" }), maxBuffered: 3,
    });
    s.start();
    for (let i = 0; i < 5; i++) s.enqueue(create(SignalSchema, { id: `s${i}`, node: "n" }));
    s.enqueue(create(SignalSchema, { id: "s4", node: "n" })); // same id again: not a new signal
    const st = s.stats();
    s.close();
    assert.equal(st.buffered, 3);
    assert.equal(st.bufferDrops, 2);
    assert.equal(st.acked, 0);
  });
});

describe("kubelet pod list", function () {
  this.timeout(20_000);
  it("fetches /pods over HTTPS with the bearer token and verifies the kubelet certificate", async () => {
    // The kubelet's serving certificate (IP SAN 127.0.0.1) from a throwaway CA the agent is given.
    const pki = makeTestPki();
    const server = createServer();
    try {
      server.setSecureContext({ key: pki.serverKey, cert: pki.serverCert });
      server.on("request", (req, res) => {
        if (req.url !== "/pods" || req.headers.authorization !== "Bearer kubelet-token") {
          res.writeHead(401).end();
          return;
        }
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({
          kind: "PodList",
          items: [{ metadata: { uid: "u-1", namespace: "shop", name: "cart-0", labels: { app: "cart" } }, spec: { serviceAccountName: "cart", nodeName: "n1" },
            status: { containerStatuses: [{ name: "cart", containerID: `cri-o://${"b".repeat(64)}` }] } }],
        }));
      });
      const port = await new Promise<number>((r) => server.listen(0, "127.0.0.1", () => r((server.address() as { port: number }).port)));
      const url = `https://127.0.0.1:${port}`;
      const ca = pki.ca.toString();
      const pods = await fetchKubeletPods({ url, token: "kubelet-token", ca });
      assert.equal(pods.length, 1);
      assert.equal(pods[0].serviceAccount, "cart");
      assert.equal(pods[0].containers["b".repeat(64)], "cart");
      await assert.rejects(fetchKubeletPods({ url, token: "wrong", ca }), /HTTP 401/);
    } finally {
      server.close();
      rmSync(pki.dir, { recursive: true, force: true });
    }
  });
});
