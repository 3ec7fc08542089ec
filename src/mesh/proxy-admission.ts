// Who may open an xDS stream on meshward serve, and as whom (istiod's XDS_AUTH, pilot/pkg/xds/auth.go):
//  - a caller with credentials (a client certificate from this CA on the TLS port, or a bearer
//    token) must authenticate, and the proxy's node metadata NAMESPACE / SERVICE_ACCOUNT must name
//    that identity; the stream then receives secrets for exactly that identity;
//  - a caller whose token a cluster's apiserver reviewed is in that cluster: node metadata
//    CLUSTER_ID naming another cluster is refused (PERMISSION_DENIED);
//  - a caller without any credentials is admitted from loopback only (a local agent, proxyless
//    gRPC, whose xDS client cannot attach a token), and receives no secrets at all;
//  - anything else is refused: UNAUTHENTICATED, or PERMISSION_DENIED for a metadata mismatch;
//  - a node id held by streams of one identity is refused to another (PERMISSION_DENIED naming
//    the holder): SDS and enforcement know a proxy by its node id, so a squatter could make the
//    holder's secrets flap or take its place;
//  - whoever it is, a proxy whose node id IP or INSTANCE_IPS is not a single pod IP is refused
//    (INVALID_ARGUMENT naming the field): enforcement keys on those addresses (workload-address.ts).
import * as grpc from "@grpc/grpc-js";
import type { Proxy } from "../model/proxy.js";
import { spiffeId, type Authenticator, type CallerContext, type WorkloadIdentity } from "../security/identity.js";
import { bearerToken } from "../security/token-authenticator.js";
import { authorizeProxy, isLoopbackPeer } from "../security/xds-auth.js";
import { workloadAddressProblem } from "../security/workload-address.js";

export class ProxyAdmission {
  /** The identity each admitted stream proved, by its Proxy object (one per stream). */
  private readonly identities = new WeakMap<Proxy, WorkloadIdentity>();
  /** How each admitted stream called, with its pod, for the CA's issuance policy on SDS. */
  private readonly callers = new WeakMap<Proxy, CallerContext>();

  /** Authenticated node ids: who holds each, by which admitted Proxy objects, admitted when. */
  private readonly holders = new Map<string, { readonly spiffe: string; readonly proxies: Set<Proxy>; admittedAtMs: number }>();

  /** `connected` lists the proxies with an open stream (XdsServer.proxies); read only on a conflict. */
  constructor(
    private readonly authenticators: readonly Authenticator[],
    private readonly connected: () => Iterable<Proxy> = () => [],
  ) {}

  /** The XdsServer `admit` hook. */
  readonly admit = async (proxy: Proxy, caller: CallerContext): Promise<void> => {
    const badAddress = proxyAddressProblem(proxy);
    if (badAddress !== undefined) throw refusal(grpc.status.INVALID_ARGUMENT, badAddress);
    const presented = caller.peerCertificate !== undefined || bearerToken(caller.metadata) !== undefined;
    if (!presented) {
      if (isLoopbackPeer(caller.peer)) return;
      throw refusal(grpc.status.UNAUTHENTICATED, `proxy ${proxy.id} from ${caller.peer}: no client certificate or bearer token (only loopback callers may connect without credentials)`);
    }
    const result = await authorizeProxy(this.authenticators, caller, proxy);
    if (!result.ok) throw refusal(result.status === "unauthenticated" ? grpc.status.UNAUTHENTICATED : grpc.status.PERMISSION_DENIED, result.reason);
    // A proxy is in the cluster whose apiserver vouched for it, not in the one it names.
    const claimed = proxy.metadata["CLUSTER_ID"];
    if (result.cluster !== undefined && typeof claimed === "string" && claimed !== "" && claimed !== result.cluster) {
      throw refusal(grpc.status.PERMISSION_DENIED, `proxy ${proxy.id} claims CLUSTER_ID "${claimed}" but its token was reviewed by cluster ${result.cluster} (send that cluster's token and clusterid)`);
    }
    this.hold(proxy, spiffeId(result.identity));
    this.identities.set(proxy, result.identity);
    this.callers.set(proxy, { ...caller, pod: { namespace: proxy.namespace, name: proxy.podName, ips: proxy.ips }, ...(result.cluster !== undefined ? { cluster: result.cluster } : {}) });
  };

  /** The node id's last stream ended: it may be taken by any identity again. */
  forget(proxyId: string): void {
    this.holders.delete(proxyId);
  }

  /** Records `spiffe` as the node id's holder, or throws when another identity still holds it. */
  private hold(proxy: Proxy, spiffe: string): void {
    const now = Date.now();
    const held = this.holders.get(proxy.id);
    if (held === undefined || held.spiffe !== spiffe) {
      // A stream admitted in the last moment may not be connected yet; count it as holding.
      const live = held !== undefined && (now - held.admittedAtMs < HOLD_ADMITTED_MS || this.liveOf(held.proxies).size > 0);
      if (held !== undefined && live) {
        throw refusal(grpc.status.PERMISSION_DENIED, `proxy ${proxy.id}: node id is held by ${held.spiffe}, not ${spiffe}; a node id names one workload`);
      }
      this.holders.set(proxy.id, { spiffe, proxies: new Set([proxy]), admittedAtMs: now });
      return;
    }
    held.admittedAtMs = now;
    held.proxies.add(proxy);
    // Reconnects of a proxy that never fully disconnects: keep only the live streams' objects.
    if (held.proxies.size > MAX_HELD_STREAMS) {
      const live = this.liveOf(held.proxies);
      held.proxies.clear();
      for (const p of live) held.proxies.add(p);
      held.proxies.add(proxy);
    }
  }

  private liveOf(proxies: ReadonlySet<Proxy>): Set<Proxy> {
    const live = new Set<Proxy>();
    for (const p of this.connected()) if (proxies.has(p)) live.add(p);
    return live;
  }

  /** What a stream authenticated as; undefined for credential-less loopback streams (no secrets). */
  readonly identityOf = (proxy: Proxy): WorkloadIdentity | undefined => this.identities.get(proxy);

  /** The caller context of an authenticated stream, with its pod (for the CA's issuance policy). */
  readonly callerOf = (proxy: Proxy): CallerContext | undefined => this.callers.get(proxy);
}

/** Why the addresses a proxy announces for its pod are not single pod IPs, naming the field. */
export function proxyAddressProblem(proxy: Pick<Proxy, "id" | "metadata">): string | undefined {
  const nodeIp = proxy.id.split("~")[1] ?? "";
  const inId = workloadAddressProblem(nodeIp);
  if (inId !== undefined) return `proxy ${proxy.id}: node.id IP ${inId}`;
  const instanceIps = proxy.metadata["INSTANCE_IPS"];
  if (typeof instanceIps !== "string") return undefined;
  for (const a of instanceIps.split(",").map((s) => s.trim()).filter((s) => s !== "")) {
    const problem = workloadAddressProblem(a);
    if (problem !== undefined) return `proxy ${proxy.id}: node.metadata.INSTANCE_IPS: ${problem}`;
  }
  return undefined;
}

/** How long an admitted stream counts as holding its node id before it shows as connected. */
const HOLD_ADMITTED_MS = 1000;
/** Streams per held node id before the dead ones are swept. */
const MAX_HELD_STREAMS = 16;

function refusal(code: grpc.status, details: string): Error & { code: grpc.status; details: string } {
  return Object.assign(new Error(details), { code, details });
}
