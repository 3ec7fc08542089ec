// The quarantine overlay's meaning checked with a real RBAC engine (grpc-js-xds's, which proxyless
// gRPC servers run) on real loopback connections: the pod's calls are denied at its peers, calls
// to it are denied on its own proxy, and a replica with the same service account is untouched.
// The policy -> RBAC mapping below is a minimal stand-in for the authz translator (src/authz,
// another branch), covering only the two fields the overlay uses, as istio.md §1 maps them:
// `source.ipBlocks` -> principal `direct_remote_ip`, `when destination.ip` -> permission `destination_ip`.
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import net from "node:net";
import { Metadata } from "@grpc/grpc-js";
import { ManualClock } from "../../src/risk/clock.js";
import type { DenyPolicySpec } from "../../src/risk/enforcement-overlay.js";
import { enforcementOverlay } from "../../src/risk/enforcement-overlay.js";
import { EnforcementSet, MemoryEnforcementStore } from "../../src/risk/quarantine.js";
import type { SignalPod } from "../../src/risk/signal.js";
import { podA } from "./fixtures.js";

interface RbacInfo {
  sourceIp: string;
  destinationIp: string;
  destinationPort: number;
  headers: Metadata;
  urlPath: string;
  tls: boolean;
  peerCertificate: null;
}
interface RbacGroup {
  apply(info: RbacInfo): boolean;
}
const rbac = createRequire(import.meta.url)("@grpc/grpc-js-xds/build/src/rbac.js") as { parseConfig(rules: unknown): RbacGroup };

function cidr(ip: string): { address_prefix: string; prefix_len: { value: number } } {
  return { address_prefix: ip, prefix_len: { value: ip.includes(":") ? 128 : 32 } };
}

/** One DENY AuthorizationPolicy -> an RBAC config in grpc-js-xds's (proto-loader) form. */
function denyRbac(specs: readonly DenyPolicySpec[]): RbacGroup {
  const policies: Record<string, unknown> = {};
  specs.forEach((spec, i) =>
    spec.rules.forEach((rule, j) => {
      const principals = (rule.from ?? [{ source: {} }]).map((f) => {
        const ids = (f.source.ipBlocks ?? []).map((ip) => ({ identifier: "direct_remote_ip", direct_remote_ip: cidr(ip) }));
        return ids.length === 0 ? { identifier: "any", any: true } : { identifier: "or_ids", or_ids: { ids } };
      });
      const dest = (rule.when ?? []).filter((w) => w.key === "destination.ip").flatMap((w) => w.values);
      const permissions = dest.length === 0
        ? [{ rule: "any", any: true }]
        : [{ rule: "or_rules", or_rules: { rules: dest.map((ip) => ({ rule: "destination_ip", destination_ip: cidr(ip) })) } }];
      policies[`p${i}-rule[${j}]`] = { permissions, principals };
    }),
  );
  return rbac.parseConfig({ action: "DENY", policies });
}

/**
 * Connects from `from` to `serverIp` on a server listening there (or on `listenIp`); returns what
 * the server's RBAC sees of the connection.
 */
async function connectionInfo(serverIp: string, from: string, listenIp = serverIp): Promise<RbacInfo> {
  const server = net.createServer();
  const seen = new Promise<RbacInfo>((resolve) =>
    server.on("connection", (c) => {
      resolve({
        sourceIp: c.remoteAddress ?? "",
        destinationIp: c.localAddress ?? "",
        destinationPort: c.localPort ?? 0,
        headers: new Metadata(),
        urlPath: "/shop.Cart/Get",
        tls: false,
        peerCertificate: null,
      });
      c.destroy();
    }),
  );
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(0, listenIp, resolve));
  const port = (server.address() as net.AddressInfo).port;
  const client = net.connect({ host: serverIp, port, localAddress: from });
  const failed = new Promise<never>((_, reject) => client.on("error", reject));
  const info = await Promise.race([seen, failed]).finally(() => server.close());
  client.destroy();
  return info;
}

// Three "pods" on loopback addresses: the quarantined one, its healthy replica, and a peer.
const bad: SignalPod = { ...podA, ip: "127.0.0.2" };
const replica = "127.0.0.3";
const peer = "127.0.0.4";

describe("quarantine overlay under a real RBAC engine", () => {
  let peerDeny: RbacGroup;
  let selfDeny: RbacGroup;

  before(() => {
    const set = new EnforcementSet(new MemoryEnforcementStore(), new ManualClock(0));
    set.apply({
      id: "s#0", signalId: "s", policy: "p", rule: "r", action: "quarantine", scope: "pod", pod: bad,
      identity: { trustDomain: "cluster.local", namespace: "shop", serviceAccount: "cart" }, riskScore: 80, reason: "t", decidedAtMs: 0,
    });
    const overlay = enforcementOverlay(set.active());
    // Every proxy gets the mesh-wide peers policy; every proxy of the pod's namespace (its own,
    // and its replicas') also gets the namespace-wide self policy.
    const peers = overlay.filter((p) => p.metadata.name.endsWith("-peers")).map((p) => p.spec);
    const self = overlay.filter((p) => p.metadata.name.endsWith("-self")).map((p) => p.spec);
    peerDeny = denyRbac(peers);
    selfDeny = denyRbac([...peers, ...self]);
  });

  it("denies the quarantined pod's calls to a peer", async () => {
    assert.equal(peerDeny.apply(await connectionInfo(peer, bad.ip)), false);
  });

  it("denies calls to the quarantined pod, even from its own replica", async () => {
    assert.equal(selfDeny.apply(await connectionInfo(bad.ip, peer)), false);
    assert.equal(selfDeny.apply(await connectionInfo(bad.ip, replica)), false);
  });

  it("lets the healthy replica (same service account and labels) call and be called", async () => {
    assert.equal(peerDeny.apply(await connectionInfo(peer, replica)), true);
    assert.equal(selfDeny.apply(await connectionInfo(replica, peer)), true);
  });

  // Why proxyless gRPC servers must listen on an IPv4 address: on a dual-stack `[::]` listener
  // Node reports IPv4 peers as `::ffff:a.b.c.d`, which grpc-js-xds never matches against an IPv4
  // CIDR (and cannot parse against an IPv6 one), so IP-keyed DENY rules would silently not apply.
  it("does not match on a dual-stack [::] listener (integration requirement: bind 0.0.0.0)", async function () {
    const info = await connectionInfo(peer, bad.ip, "::").catch(() => undefined);
    if (info === undefined) {
      console.log("    skipped: this host cannot listen on [::]");
      this.skip();
    }
    assert.equal(info.sourceIp, `::ffff:${bad.ip}`);
    assert.equal(peerDeny.apply(info), true, "the IPv4 rule misses the v4-mapped address");
  });
});
