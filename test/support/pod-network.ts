// Pod networking for kernel tests, as a CNI bridge plugin makes it: a Linux bridge on the host
// with the gateway address, and per pod a network namespace joined to it by a veth pair, with its
// own address. Pods then call each other from their own IPs, which is what meshward's enforcement
// keys on. Names and the prefix are random per instance so concurrent test runs never collide.
//
// IPv6 (a ULA /64) by default, because proxyless gRPC's RBAC cannot match IPv4 peers: grpc-js-xds
// 1.14's XdsServer listens on the port alone (a dual-stack `::` socket), so an IPv4 caller appears
// as `::ffff:a.b.c.d`, which its CIDR matcher neither compares with IPv4 ranges (family mismatch)
// nor parses as IPv6 (dotted quad). Real IPv6 peers match. `new PodNetwork(4)` builds an IPv4 pod
// network (a random 10.x.y.0/24) for the tests that show enforcement holding without IP matching.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";

function ip(...args: string[]): void {
  execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
}

export interface PodNet {
  readonly netns: string;
  readonly ip: string;
}

export class PodNetwork {
  private readonly tag = randomBytes(3).toString("hex");
  readonly bridge = `mwbr${this.tag}`;
  /** A /64 in fd00::/8 or a /24 in 10/8 picked at random, so concurrent runs do not share routes. */
  private readonly prefix: string;
  private readonly bits: number;
  readonly gateway: string;
  private readonly pods: PodNet[] = [];

  constructor(readonly family: 4 | 6 = 6) {
    const r = randomBytes(5);
    this.prefix = family === 6 ? `fd${r.toString("hex", 0, 1)}:${r.toString("hex", 1, 3)}:${r.toString("hex", 3, 5)}::` : `10.${r[0]}.${r[1]}.`;
    this.bits = family === 6 ? 64 : 24;
    this.gateway = `${this.prefix}1`;
    ip("link", "add", this.bridge, "type", "bridge");
    // nodad: usable at once, no duplicate address detection delay.
    ip(`-${family}`, "addr", "add", `${this.gateway}/${this.bits}`, "dev", this.bridge, ...(family === 6 ? ["nodad"] : []));
    ip("link", "set", this.bridge, "up");
  }

  /** A network namespace with `<prefix><host>` on a veth to the bridge, default route via it. */
  addPod(host: number): PodNet {
    const netns = `mw-${this.tag}-${host}`;
    const hostSide = `mwv${this.tag}${host}`;
    const address = `${this.prefix}${host}`;
    ip("netns", "add", netns);
    ip("link", "add", hostSide, "type", "veth", "peer", "name", "eth0", "netns", netns);
    ip("link", "set", hostSide, "master", this.bridge, "up");
    const f = `-${this.family}`;
    ip("-n", netns, f, "addr", "add", `${address}/${this.bits}`, "dev", "eth0", ...(this.family === 6 ? ["nodad"] : []));
    ip("-n", netns, "link", "set", "lo", "up");
    ip("-n", netns, "link", "set", "eth0", "up");
    ip("-n", netns, f, "route", "add", "default", "via", this.gateway);
    const pod = { netns, ip: address };
    this.pods.push(pod);
    return pod;
  }

  /** argv that runs a command in the pod's network namespace. */
  enter(pod: PodNet): string[] {
    return ["nsenter", `--net=/run/netns/${pod.netns}`];
  }

  /** `[addr]:port` for IPv6, `addr:port` for IPv4, as gRPC and meshward's listener names spell them. */
  static hostPort(address: string, port: number): string {
    return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
  }

  close(): void {
    for (const p of this.pods.splice(0)) {
      try {
        ip("netns", "del", p.netns); // takes its veth end, and so the pair
      } catch {
        // already gone
      }
    }
    try {
      ip("link", "del", this.bridge);
    } catch {
      // already gone
    }
  }
}

/**
 * The node-local xDS relay: pods reach it on the bridge, and it forwards to meshward on loopback,
 * as Istio's node agent proxies xDS for proxyless gRPC. meshward admits credential-less proxyless
 * streams from loopback only, so pods without tokens go through this.
 */
export class XdsRelay {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  private constructor(upstream: () => { host: string; port: number }) {
    this.server = createServer((down) => {
      const { host, port } = upstream();
      const up = connect(port, host);
      for (const s of [down, up]) {
        this.sockets.add(s);
        s.on("close", () => this.sockets.delete(s));
        s.on("error", () => (down.destroy(), up.destroy()));
      }
      down.pipe(up).pipe(down);
    });
  }

  /** Listens on `[address]:port` (port 0: any), forwarding to whatever `upstream()` names at connect time. */
  static async start(address: string, port: number, upstream: () => { host: string; port: number }): Promise<{ relay: XdsRelay; address: string }> {
    const relay = new XdsRelay(upstream);
    await new Promise<void>((resolve, reject) => {
      relay.server.once("error", reject);
      relay.server.listen(port, address, () => resolve());
    });
    const a = relay.server.address() as AddressInfo;
    return { relay, address: PodNetwork.hostPort(address, a.port) };
  }

  close(): void {
    for (const s of this.sockets) s.destroy();
    this.server.close();
  }
}
