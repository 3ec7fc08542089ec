// Records what an XdsStreams sends to and hears from known proxies, checking every pushed resource
// against Envoy's validation rules as it is sent (the bytes are looked up in the provider at push
// time, which is the state the push was computed from).
import type { XdsStreams, XdsAckEvent, XdsNackEvent, XdsPushEvent } from "../../src/xds/server.js";
import type { EncodedResource, ResourceProvider } from "../../src/xds/types.js";
import { parseProxyNode, type Proxy } from "../../src/model/proxy.js";
import type { Node } from "../../src/gen/envoy/config/core/v3/base_pb.js";
import { expectEnvoyValidResources } from "./envoy-valid.js";

export class PushRecorder {
  readonly acks: XdsAckEvent[] = [];
  readonly nacks: XdsNackEvent[] = [];
  readonly pushes: XdsPushEvent[] = [];
  /** Problems found in pushes: Envoy validation failures, names the provider does not hold. */
  readonly invalid: string[] = [];
  /** `type|name|version` of every resource validated. */
  readonly validated = new Set<string>();
  private readonly proxies = new Map<string, Proxy>();

  constructor(
    private readonly xds: XdsStreams,
    private readonly provider: ResourceProvider,
  ) {
    xds.on("push", (e) => this.push(e));
    xds.on("ack", (e) => this.acks.push(e));
    xds.on("nack", (e) => this.nacks.push(e));
  }

  /** Declares a proxy (as its bootstrap node) so pushes to it can be checked. */
  expect(node: Pick<Node, "id" | "metadata">): void {
    this.proxies.set(node.id, parseProxyNode(node));
  }

  knows(proxyId: string): boolean {
    return this.proxies.has(proxyId);
  }

  /**
   * Resolves once no stream of a known proxy is open (or after `timeoutMs`). Stop the peers, then
   * wait for this before shutting the gRPC server down, so shutdown does not race connections
   * that are still closing (suspected in two hung control-plane stop() calls; not reproduced).
   */
  async untilDisconnected(timeoutMs = 5000): Promise<void> {
    const end = performance.now() + timeoutMs;
    while (this.xds.status().some((s) => this.proxies.has(s.proxyId)) && performance.now() < end) {
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Runs a teardown step; one that has not finished within `ms` is reported on stderr and left behind. */
  static async bounded(what: string, step: Promise<void>, ms = 20_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        console.error(`      WARNING: ${what} did not finish within ${ms} ms; continuing without it`);
        resolve();
      }, ms);
    });
    await Promise.race([step, late]);
    clearTimeout(timer);
  }

  ackedTypes(proxyId: string): Set<string> {
    return new Set(this.acks.filter((a) => a.proxyId === proxyId).map((a) => a.typeUrl));
  }

  private push(e: XdsPushEvent): void {
    this.pushes.push(e);
    const proxy = this.proxies.get(e.proxyId);
    if (proxy === undefined) {
      this.invalid.push(`push to unknown proxy ${e.proxyId}`);
      return;
    }
    const all = this.provider.resources(proxy, e.typeUrl);
    const fresh: EncodedResource[] = [];
    for (const name of e.names) {
      const r = all.get(name);
      if (r === undefined) this.invalid.push(`push to ${e.proxyId} names ${name}, which the provider does not hold`);
      else if (!this.validated.has(`${r.typeUrl}|${r.name}|${r.version}`)) fresh.push(r);
    }
    try {
      expectEnvoyValidResources(fresh);
    } catch (err) {
      this.invalid.push(err instanceof Error ? err.message : String(err));
    }
    for (const r of fresh) this.validated.add(`${r.typeUrl}|${r.name}|${r.version}`);
  }
}
