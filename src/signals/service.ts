// The control-plane end of the signal stream. Every call is authenticated; an agent may report
// only as the node it proved to be, and only about pods on that node. Each batch is stored
// (durably, de-duplicated by id) before it is acknowledged, so agents can re-send freely.
import * as grpc from "@grpc/grpc-js";
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampDate, timestampMs } from "@bufbuild/protobuf/wkt";
import {
  ListAgentsResponseSchema, ListSignalsResponseSchema, SignalSchema, SignalService, StreamSignalsResponseSchema,
  type AgentHealth, type ListAgentsRequest, type ListAgentsResponse, type ListSignalsRequest, type ListSignalsResponse, type Signal, type StreamSignalsRequest, type StreamSignalsResponse,
} from "../gen/meshward/agent/v1/signals_pb.js";
import { authenticateCaller } from "../security/authenticate.js";
import { callerContextFrom, type ServerCallLike } from "../security/caller-context.js";
import type { Authenticator, WorkloadIdentity } from "../security/identity.js";
import { AgentRegistry } from "./agents.js";
import { grpcServiceDefinition } from "./grpc-definition.js";
import { NODE_NAMESPACE, nodeOfIdentity } from "./node-identity.js";
import type { SignalStore } from "./store.js";
import { DEFAULT_SIGNAL_LIMITS, NodeSignalBuckets, type SignalLimits } from "./rate-limit.js";

/**
 * Where accepted signals go: the JSONL SignalStore, or the risk stage's audit database in serve.
 * `add` is durable before it returns; it is also told when the agent sent the batch, if it said.
 */
export interface SignalRecorder extends Pick<SignalStore, "query"> {
  add(signals: readonly Signal[], received?: Date, agentSentAtMs?: number): Signal[];
}

/** The pod a signal names, as the agent attributed it. */
export type SignalPodRef = Pick<NonNullable<Signal["pod"]>, "uid" | "namespace" | "name">;

export interface SignalServiceDeps {
  readonly authenticators: readonly Authenticator[];
  /** `add` must be durable before it returns: the batch is acknowledged right after. */
  readonly store: SignalRecorder;
  /** The node a pod runs on (from the model / Kubernetes), undefined when the pod is unknown. */
  podNode(pod: SignalPodRef): string | undefined;
  /** Why a signal cannot be accepted for good (malformed for the consumer), or undefined. */
  problem?(signal: Signal): string | undefined;
  /** Who may list signals; default: identities in the meshward-system namespace. */
  canRead?(id: WorkloadIdentity): boolean;
  /** Called with newly stored signals (the risk engine subscribes here). */
  onSignals?(signals: Signal[]): void;
  onHealth?(node: string, health: AgentHealth): void;
  /** Per-node rate and size limits; DEFAULT_SIGNAL_LIMITS when not given. */
  readonly limits?: SignalLimits;
  /** Where agent hellos and health reports are kept; one is created when not given. */
  readonly agents?: AgentRegistry;
  log?(msg: string): void;
}

type Authn = { ok: true; identity: WorkloadIdentity } | { ok: false; code: grpc.status; reason: string };

async function authenticate(deps: SignalServiceDeps, call: ServerCallLike): Promise<Authn> {
  const r = await authenticateCaller(deps.authenticators, callerContextFrom(call));
  return r.ok ? { ok: true, identity: r.identity } : { ok: false, code: grpc.status.UNAUTHENTICATED, reason: r.reason };
}

/**
 * Splits a batch into what this node may report and what it may not. A signal that names a pod
 * at all must name one the control plane places on this node (by its own knowledge, not the
 * agent's); only a detection outside any pod (no pod fields) stands on the node's word.
 */
export function admitSignals(
  deps: SignalServiceDeps,
  node: string,
  signals: readonly Signal[],
  maxSignalBytes = DEFAULT_SIGNAL_LIMITS.maxSignalBytes,
): { accepted: Signal[]; rejected: Array<{ id: string; reason: string }> } {
  const accepted: Signal[] = [];
  const rejected: Array<{ id: string; reason: string }> = [];
  for (const s of signals) {
    const names = s.pod !== undefined && (s.pod.uid !== "" || s.pod.namespace !== "" || s.pod.name !== "");
    const bytes = toBinary(SignalSchema, s).length;
    if (s.id === "") rejected.push({ id: s.id, reason: "signal without id" });
    else if (bytes > maxSignalBytes) rejected.push({ id: s.id, reason: `signal is ${bytes} bytes, more than the ${maxSignalBytes} bytes accepted` });
    else if (s.node !== node) rejected.push({ id: s.id, reason: `signal names node "${s.node}", caller is node "${node}"` });
    else if (names && s.pod !== undefined && deps.podNode(s.pod) !== node) {
      rejected.push({ id: s.id, reason: `pod ${s.pod.namespace}/${s.pod.name} (uid "${s.pod.uid}") is not known to run on node "${node}"` });
    } else {
      const problem = deps.problem?.(s);
      if (problem !== undefined) rejected.push({ id: s.id, reason: problem });
      else accepted.push(s);
    }
  }
  return { accepted, rejected };
}

export function registerSignalService(server: grpc.Server, deps: SignalServiceDeps): void {
  const log = deps.log ?? (() => undefined);
  const agents = deps.agents ?? new AgentRegistry();
  const canRead = deps.canRead ?? ((id: WorkloadIdentity) => id.namespace === NODE_NAMESPACE && nodeOfIdentity(id) === undefined);
  const buckets = new NodeSignalBuckets(deps.limits ?? DEFAULT_SIGNAL_LIMITS);

  const streamSignals = (call: grpc.ServerDuplexStream<StreamSignalsRequest, StreamSignalsResponse>): void => {
    let node: string | undefined;
    const pending: StreamSignalsRequest[] = [];
    let closed = false;
    const fail = (code: grpc.status, details: string): void => {
      if (closed) return;
      closed = true;
      log(`signals: ${call.getPeer()}: ${details}`);
      call.emit("error", { code, details, metadata: new grpc.Metadata() });
    };
    const handle = (req: StreamSignalsRequest): void => {
      if (closed || node === undefined) return;
      const msg = req.msg;
      if (msg.case === "hello") {
        if (msg.value.node !== node) fail(grpc.status.PERMISSION_DENIED, `hello names node "${msg.value.node}", caller is node "${node}"`);
        else agents.hello(node, msg.value);
      } else if (msg.case === "health") {
        agents.health(node, msg.value);
        deps.onHealth?.(node, msg.value);
      } else if (msg.case === "batch") {
        const { accepted: admitted, rejected } = admitSignals(deps, node, msg.value.signals, buckets.limits.maxSignalBytes);
        // Past the node's rate: store what the bucket allows, leave the rest unacknowledged and
        // end the stream, so the agent backs off and sends it again.
        const accepted = admitted.slice(0, buckets.take(node, admitted.length));
        const throttled = admitted.length - accepted.length;
        let fresh: Signal[];
        try {
          fresh = deps.store.add(accepted, new Date(), msg.value.sentTime ? timestampMs(msg.value.sentTime) : undefined);
        } catch (err) {
          // Not stored, not acknowledged: the agent keeps the batch and re-sends it.
          fail(grpc.status.UNAVAILABLE, `storing signals failed: ${(err as Error).message}`);
          return;
        }
        if (fresh.length > 0) deps.onSignals?.(fresh);
        call.write(create(StreamSignalsResponseSchema, { acceptedIds: accepted.map((s) => s.id), rejected }));
        if (throttled > 0) {
          const { signalsPerSecond, burst } = buckets.limits;
          fail(grpc.status.RESOURCE_EXHAUSTED, `node "${node}" exceeded its signal rate (${signalsPerSecond}/s, burst ${burst}): ${throttled} signals not accepted, send them again later`);
        }
      }
    };
    call.on("data", (req: StreamSignalsRequest) => {
      if (node === undefined) pending.push(req);
      else handle(req);
    });
    const gone = (): void => {
      if (node !== undefined && !closed) agents.disconnected(node);
    };
    call.on("end", () => {
      gone();
      if (!closed) {
        closed = true;
        call.end();
      }
    });
    call.on("error", () => {
      gone();
      closed = true;
    });
    void authenticate(deps, call).then((a) => {
      if (!a.ok) return fail(a.code, a.reason);
      const n = nodeOfIdentity(a.identity);
      if (n === undefined) return fail(grpc.status.PERMISSION_DENIED, `identity ns/${a.identity.namespace}/sa/${a.identity.serviceAccount} is not a node`);
      node = n;
      agents.connected(n);
      for (const r of pending.splice(0)) handle(r);
    });
  };

  /** Authenticates a reader; a node may read only what concerns itself (returned as `ownNode`). */
  const reader = async (call: ServerCallLike): Promise<{ ok: true; ownNode?: string } | { ok: false; err: Partial<grpc.StatusObject> }> => {
    const a = await authenticate(deps, call);
    if (!a.ok) return { ok: false, err: { code: a.code, details: a.reason } };
    const ownNode = nodeOfIdentity(a.identity);
    if (ownNode === undefined && !canRead(a.identity)) {
      return { ok: false, err: { code: grpc.status.PERMISSION_DENIED, details: `ns/${a.identity.namespace}/sa/${a.identity.serviceAccount} may not read signals` } };
    }
    return { ok: true, ...(ownNode ? { ownNode } : {}) };
  };

  const listSignals = (
    call: grpc.ServerUnaryCall<ListSignalsRequest, ListSignalsResponse>,
    cb: grpc.sendUnaryData<ListSignalsResponse>,
  ): void => {
    void reader(call).then((r) => {
      if (!r.ok) return cb(r.err);
      const q = call.request;
      const signals = deps.store.query({
        node: r.ownNode ?? q.node, podUid: q.podUid, namespace: q.namespace, detectionId: q.detectionId, limit: q.limit || 1000,
        ...(q.since ? { since: timestampDate(q.since) } : {}),
      });
      cb(null, create(ListSignalsResponseSchema, { signals }));
    });
  };

  const listAgents = (call: grpc.ServerUnaryCall<ListAgentsRequest, ListAgentsResponse>, cb: grpc.sendUnaryData<ListAgentsResponse>): void => {
    void reader(call).then((r) => (r.ok ? cb(null, create(ListAgentsResponseSchema, { agents: agents.list(r.ownNode) })) : cb(r.err)));
  };

  server.addService(grpcServiceDefinition(SignalService), {
    StreamSignals: streamSignals,
    ListSignals: listSignals,
    ListAgents: listAgents,
  } as unknown as grpc.UntypedServiceImplementation);
}
