// Tells node agents which pods' identity the control plane withholds (an active quarantine or
// revoke: what the CA refuses), as a full list on connect and at every change, so an agent cuts
// those pods' identity streams at once rather than at their next renewal, and restores them on
// release. Callers must authenticate as a node (as on the signal API). The list is the mesh's, not
// the node's: an agent resolves it against the pods it serves.
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import {
  NodeIdentityService, WithheldIdentitiesSchema,
  type WatchWithheldRequest, type WithheldIdentities, type WithheldIdentity,
} from "../gen/meshward/agent/v1/identity_pb.js";
import { authenticateCaller } from "../security/authenticate.js";
import { callerContextFrom } from "../security/caller-context.js";
import type { Authenticator } from "../security/identity.js";
import { grpcServiceDefinition } from "../signals/grpc-definition.js";
import { nodeOfIdentity } from "../signals/node-identity.js";

/** What the risk stage's enforcement entries carry (risk/quarantine.ts Enforcement fits). */
export interface WithholdingEntry {
  readonly id: string;
  readonly action: string;
  readonly scope: string;
  readonly reason: string;
  readonly pod: { readonly uid: string; readonly namespace: string; readonly name: string };
  readonly identity: { readonly namespace: string; readonly serviceAccount: string };
}

export interface WithheldIdentitiesDeps {
  readonly authenticators: readonly Authenticator[];
  /** The active enforcement entries, read at every poll. */
  active(): readonly WithholdingEntry[];
  /** How often the entries are compared (default 200 ms). */
  readonly pollMs?: number;
  readonly log?: (msg: string) => void;
}

export const DEFAULT_WITHHELD_POLL_MS = 200;
/** Streams one node may hold at once (an agent needs one; a reconnect may overlap). */
const MAX_STREAMS_PER_NODE = 4;

function entryOf(e: WithholdingEntry): Omit<WithheldIdentity, "$typeName"> {
  return {
    scope: e.scope === "identity" ? "identity" : "pod",
    podUid: e.pod.uid, namespace: e.scope === "identity" ? e.identity.namespace : e.pod.namespace, podName: e.pod.name,
    serviceAccount: e.identity.serviceAccount, reason: `${e.action} ${e.id} (${e.reason})`,
  };
}

/** Registers NodeIdentityService on `server`; close() stops its poller. */
export function registerWithheldIdentities(server: grpc.Server, deps: WithheldIdentitiesDeps): { close(): void } {
  const streams = new Map<grpc.ServerWritableStream<WatchWithheldRequest, WithheldIdentities>, string>();
  let last: WithheldIdentities = create(WithheldIdentitiesSchema, {});
  let lastKey = "";
  let timer: NodeJS.Timeout | undefined;
  const current = (): WithheldIdentities => {
    let active: readonly WithholdingEntry[];
    try {
      active = deps.active();
    } catch (e) {
      deps.log?.(`withheld identities: ${(e as Error).message}; keeping the last list`);
      return last;
    }
    const entries = active.filter((e) => e.action === "quarantine" || e.action === "revoke").map(entryOf);
    const key = JSON.stringify(entries);
    if (key !== lastKey) {
      lastKey = key;
      last = create(WithheldIdentitiesSchema, { entries });
      return last;
    }
    return last;
  };
  const poll = (): void => {
    const before = last;
    const now = current();
    if (now !== before) for (const call of streams.keys()) call.write(now);
  };
  const watch = (call: grpc.ServerWritableStream<WatchWithheldRequest, WithheldIdentities>): void => {
    void authenticateCaller(deps.authenticators, callerContextFrom(call)).then((a) => {
      const fail = (code: grpc.status, details: string): void => {
        deps.log?.(`withheld identities: ${call.getPeer()}: ${details}`);
        call.emit("error", { code, details, metadata: new grpc.Metadata() });
      };
      if (!a.ok) return fail(grpc.status.UNAUTHENTICATED, a.reason);
      const node = nodeOfIdentity(a.identity);
      if (node === undefined) return fail(grpc.status.PERMISSION_DENIED, `ns/${a.identity.namespace}/sa/${a.identity.serviceAccount} is not a node`);
      const open = [...streams.values()].filter((n) => n === node).length;
      if (open >= MAX_STREAMS_PER_NODE) return fail(grpc.status.RESOURCE_EXHAUSTED, `node "${node}" has ${open} streams open (at most ${MAX_STREAMS_PER_NODE})`);
      streams.set(call, node);
      const gone = (): void => {
        streams.delete(call);
        if (streams.size === 0 && timer !== undefined) {
          clearInterval(timer);
          timer = undefined;
        }
      };
      call.once("cancelled", gone);
      call.once("close", gone);
      call.once("finish", gone);
      call.write(current());
      if (timer === undefined) {
        timer = setInterval(poll, deps.pollMs ?? DEFAULT_WITHHELD_POLL_MS);
        timer.unref();
      }
    });
  };
  server.addService(grpcServiceDefinition(NodeIdentityService), { WatchWithheld: watch } as unknown as grpc.UntypedServiceImplementation);
  return {
    close() {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      for (const call of streams.keys()) call.end();
      streams.clear();
    },
  };
}
