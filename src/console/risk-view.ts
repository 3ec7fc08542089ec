// The read API's views of the risk stage and the proxies: active enforcements (quarantines,
// isolate-egress, revoke) each with the syscall -> last ACK chain of the signal that caused it, and
// every connected proxy with its sync state per xDS type (the rule CSDS and proxy-status use).
import type { ChainRecord } from "../risk/audit-query.js";
import type { AuditQuery } from "../risk/audit-query.js";
import type { Enforcement } from "../risk/quarantine.js";
import { spiffeId } from "../security/identity.js";
import { syncState, worstSyncState, type SyncState } from "../debug/proxy-sync.js";
import type { Proxy } from "../model/proxy.js";
import type { ProxyStatus } from "../xds/events.js";
import { typeShortName } from "../xds/resource.js";
import { PushOrder } from "../xds/types.js";

/** An enforcement as stored (what `meshward quarantine list --json` prints), with its chain. */
export type EnforcementView = Enforcement & {
  /** The SPIFFE id of its identity. */
  readonly identityId: string;
  /** The chain of the signal that caused it, when the audit trail still holds it. */
  readonly chain?: ChainRecord;
  /** syscall -> last affected proxy's ACK, in milliseconds, once complete. */
  readonly chainLatencyMs?: number;
};

export function enforcementsView(active: readonly Enforcement[], query: AuditQuery): EnforcementView[] {
  return active.map((e) => {
    const chain = query.chain(e.signalId);
    return {
      ...e,
      identityId: spiffeId(e.identity),
      ...(chain !== undefined ? { chain } : {}),
      ...(chain?.latencyUs !== undefined ? { chainLatencyMs: chain.latencyUs / 1000 } : {}),
    };
  });
}

export interface ProxyView {
  readonly id: string;
  readonly type: string;
  readonly namespace: string;
  readonly pod: string;
  readonly identity: string;
  readonly cluster: string;
  readonly streams: number;
  readonly connectedAtMs: number;
  /** CDS, EDS, LDS, RDS, SDS -> SYNCED | NOT SENT | STALE | NACKED. */
  readonly sync: Readonly<Record<string, SyncState>>;
  /** The last NACK's message, when a type is NACKED. */
  readonly nacks: readonly string[];
}

export function proxiesView(streams: ReadonlyArray<{ readonly proxy: Proxy; readonly status: ProxyStatus }>, trustDomain: string): ProxyView[] {
  const byId = new Map<string, { proxy: Proxy; statuses: ProxyStatus[] }>();
  for (const { proxy, status } of streams) {
    const e = byId.get(proxy.id) ?? { proxy, statuses: [] };
    e.statuses.push(status);
    byId.set(proxy.id, e);
  }
  return [...byId.values()].sort((a, b) => a.proxy.id.localeCompare(b.proxy.id)).map(({ proxy, statuses }) => {
    const sync: Record<string, SyncState> = {};
    const nacks: string[] = [];
    for (const typeUrl of PushOrder) {
      const types = statuses.flatMap((s) => s.types.filter((t) => t.typeUrl === typeUrl));
      const state = worstSyncState(types.map(syncState));
      sync[typeShortName(typeUrl).toUpperCase()] = state;
      const nack = types.find((t) => t.lastNack !== undefined)?.lastNack;
      if (state === "NACKED" && nack !== undefined) nacks.push(`${typeShortName(typeUrl).toUpperCase()}: ${nack.error}`);
    }
    return {
      id: proxy.id,
      type: proxy.type,
      namespace: proxy.namespace,
      pod: proxy.podName,
      identity: proxy.serviceAccount !== "" ? spiffeId({ trustDomain, namespace: proxy.namespace, serviceAccount: proxy.serviceAccount }) : "",
      cluster: proxy.clusterId,
      streams: statuses.length,
      connectedAtMs: Math.min(...statuses.map((s) => s.connectedAtMs)),
      sync,
      nacks,
    };
  });
}
