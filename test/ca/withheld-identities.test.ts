// NodeIdentityService.WatchWithheld over real gRPC: only a node identity may follow the withheld
// identities; it gets the full list at once and again at every change of the risk stage's real
// EnforcementSet (a quarantine, its release), and one node cannot hold more than a few streams.
import * as grpc from "@grpc/grpc-js";
import { strict as assert } from "node:assert";
import { WithheldWatch } from "../../src/agent/identity/withheld-watch.js";
import type { WithheldIdentity } from "../../src/gen/meshward/agent/v1/identity_pb.js";
import { registerWithheldIdentities } from "../../src/ca/withheld-identities.js";
import { ManualClock } from "../../src/risk/clock.js";
import { EnforcementSet, MemoryEnforcementStore } from "../../src/risk/quarantine.js";
import { MeshwardTokenAuthenticator } from "../../src/security/token-authenticator.js";
import { TokenKey } from "../../src/security/token-key.js";
import { NODE_NAMESPACE, nodeServiceAccount, SIGNALS_AUDIENCE } from "../../src/signals/node-identity.js";
import { eventually } from "../support/eventually.js";

describe("NodeIdentityService.WatchWithheld: the control plane's withheld identities for node agents", function () {
  const key = TokenKey.generate();
  const enforcement = new EnforcementSet(new MemoryEnforcementStore(), new ManualClock(1_700_000_000_000));
  const server = new grpc.Server();
  let address = "";
  const watches: WithheldWatch[] = [];

  const follow = (token: string): { updates: (readonly WithheldIdentity[])[]; errors: string[] } => {
    const updates: (readonly WithheldIdentity[])[] = [];
    const errors: string[] = [];
    const w = new WithheldWatch({ address, credentials: grpc.credentials.createInsecure(), token: () => token, onUpdate: (e) => updates.push(e), log: (m) => errors.push(m) });
    w.start();
    watches.push(w);
    return { updates, errors };
  };

  before(async () => {
    registerWithheldIdentities(server, {
      authenticators: [new MeshwardTokenAuthenticator({ trustDomain: "cluster.local", publicKeys: [key.publicKey], audiences: [SIGNALS_AUDIENCE] })],
      active: () => enforcement.active(),
      pollMs: 20,
    });
    const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    address = `127.0.0.1:${port}`;
  });

  after(() => {
    for (const w of watches) w.stop();
    server.forceShutdown();
  });

  it("a node gets the full list on connect and again at a quarantine and at its release", async () => {
    const node = follow(key.mint({ namespace: NODE_NAMESPACE, serviceAccount: nodeServiceAccount("n1"), audiences: [SIGNALS_AUDIENCE] }));
    await eventually("the first list", () => (node.updates.length >= 1 ? true : undefined));
    assert.deepEqual(node.updates[0], []);
    enforcement.apply({
      id: "s#0", signalId: "s", policy: "p", rule: "r", action: "quarantine", scope: "pod",
      pod: { uid: "u-1", namespace: "shop", name: "cart-1", serviceAccount: "cart", labels: {}, ip: "10.0.0.1" },
      identity: { trustDomain: "cluster.local", namespace: "shop", serviceAccount: "cart" }, riskScore: 90, reason: "nsenter", decidedAtMs: 0,
    });
    await eventually("the quarantine", () => (node.updates.length >= 2 ? true : undefined));
    const [entry] = node.updates[1];
    assert.equal(entry?.scope, "pod");
    assert.equal(entry?.podUid, "u-1");
    assert.equal(`${entry?.namespace}/${entry?.podName}`, "shop/cart-1");
    assert.match(entry?.reason ?? "", /^quarantine .*\(nsenter\)$/);
    assert.equal(enforcement.release("shop/cart-1", "test").length, 1);
    await eventually("the release", () => (node.updates.length >= 3 ? true : undefined));
    assert.deepEqual(node.updates[2], []);
  });

  it("a workload identity and a caller without credentials are refused", async () => {
    const workload = follow(key.mint({ namespace: "shop", serviceAccount: "cart", audiences: [SIGNALS_AUDIENCE] }));
    const anonymous = follow("not-a-token");
    await eventually("both refusals", () => (workload.errors.length > 0 && anonymous.errors.length > 0 ? true : undefined));
    assert.match(workload.errors[0], /PERMISSION_DENIED: ns\/shop\/sa\/cart is not a node/);
    assert.match(anonymous.errors[0], /UNAUTHENTICATED/);
    assert.deepEqual([...workload.updates, ...anonymous.updates], []);
  });

  it("one node holds at most four streams", async () => {
    const token = key.mint({ namespace: NODE_NAMESPACE, serviceAccount: nodeServiceAccount("n2"), audiences: [SIGNALS_AUDIENCE] });
    const five = Array.from({ length: 5 }, () => follow(token));
    await eventually("four lists and one refusal", () =>
      five.filter((f) => f.updates.length > 0).length === 4 && five.some((f) => f.errors.length > 0) ? true : undefined,
    );
    assert.match(five.flatMap((f) => f.errors)[0], /RESOURCE_EXHAUSTED: node "n2" has 4 streams open/);
  });
});
