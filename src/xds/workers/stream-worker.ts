// A stream worker (a child process of `meshward serve`): the connections the main process accepts
// on the xDS port and hands over (pool.ts), served by the single-thread XdsServer's streams,
// subscriptions, nonces, ACKs and per-stream limits, unchanged, over a ReplicaProvider. The main
// process decides admission and computes resources; this one decodes requests, assembles and
// writes responses, and reports what happened (in order, batched per turn of its event loop, sent ahead of that turn's socket writes).
import type { Socket } from "node:net";
import * as grpc from "@grpc/grpc-js";
import type { Proxy } from "../../model/proxy.js";
import type { CallerContext } from "../../security/identity.js";
import { plaintextGate, workerTransportGate } from "../../security/transport-gates.js";
import { RotatingServerCredentials } from "../../ca/serving-credentials.js";
import { XDS_GRPC_SERVER_OPTIONS } from "../limits.js";
import { XdsServer } from "../server.js";
import { sameShape, type ProxyStatus, type XdsEvent } from "../events.js";
import type { TypeUrl } from "../types.js";
import { ReplicaProvider } from "./replica-provider.js";
import type { MainToWorker, StreamReport, StreamWorkerInit, WireCaller, WorkerToMain } from "./messages.js";
import { monotonicOriginNs } from "./messages.js";

if (process.send === undefined) throw new Error("stream-worker: must run as a child process with an IPC channel");
const init = JSON.parse(process.env.MESHWARD_STREAM_WORKER ?? "null") as StreamWorkerInit;
if (init === null) throw new Error("stream-worker: MESHWARD_STREAM_WORKER is not set");
/** To the main process while it listens (reports after a shutdown have nobody to go to). */
const post = (m: WorkerToMain): void => void (process.connected && process.send?.(m));
/** Added to this process's performance.now() to get the main process's. */
const clockOffsetMs = Number(monotonicOriginNs() - BigInt(init.mainMonotonicOriginNs)) / 1e6;

const provider = new ReplicaProvider();
const keyOfStream = new Map<number, number>();
const admissions = new Map<number, { resolve: (key: number) => void; reject: (e: Error) => void }>();
let requests = 0;

let reports: StreamReport[] = [];
/** Streams whose status changed since the last batch: their status goes with it (CSDS stays exact). */
const dirty = new Set<number>();
let scheduled = false;
function report(r: StreamReport): void {
  reports.push(r);
  if (!scheduled) {
    scheduled = true;
    // Before this turn's socket writes (http2 sends in the check phase): the main process hears
    // of an ACK no later than the proxy gets the response that follows it.
    queueMicrotask(sendReports);
  }
}
/** Per stream, the last status sent: the main process follows versions and pending from events. */
const sentStatus = new Map<number, ProxyStatus>();
function sendReports(): void {
  scheduled = false;
  for (const id of dirty) {
    const key = keyOfStream.get(id);
    const status = xds.statusOf(id);
    if (key === undefined || status === undefined) continue;
    const last = sentStatus.get(id);
    if (last !== undefined && sameShape(last, status)) continue;
    sentStatus.set(id, status);
    reports.push({ t: "status", key, status });
  }
  dirty.clear();
  const batch = reports;
  reports = [];
  if (batch.length > 0) post({ kind: "reports", reports: batch });
}

function wireCaller(caller: CallerContext): WireCaller {
  const metadata: Record<string, Array<string | Uint8Array>> = {};
  for (const [k, vs] of Object.entries(caller.metadata.toJSON())) metadata[k] = vs.map((v) => (typeof v === "string" ? v : new Uint8Array(v)));
  return { metadata, peer: caller.peer, ...(caller.peerCertificate !== undefined ? { peerCertificate: new Uint8Array(caller.peerCertificate) } : {}) };
}

/** The sync gate's latest counts, posted to the pool at most every 100 ms. */
let syncs = { active: 0, waiting: 0 };
let syncsTimer: NodeJS.Timeout | undefined;
const xds = new XdsServer({
  provider,
  limits: init.limits,
  syncLimits: init.syncLimits,
  syncsChanged: (active, waiting) => {
    syncs = { active, waiting };
    syncsTimer ??= setTimeout(() => {
      syncsTimer = undefined;
      post({ kind: "syncs", ...syncs });
    }, 100);
  },
  versions: { epoch: init.epoch, stride: init.workers, offset: init.index },
  // The main thread debounced already; a round it sends goes out on the next turn.
  debounceMs: 0,
  log: (line, fields) => post({ kind: "log", line, ...(fields !== undefined ? { fields } : {}) }),
  admit: (proxy: Proxy, caller: CallerContext) =>
    new Promise<void>((resolve, reject) => {
      const request = ++requests;
      admissions.set(request, {
        resolve: (key) => {
          provider.admitted(proxy, key);
          resolve();
        },
        reject,
      });
      post({ kind: "admit", request, proxy, caller: wireCaller(caller) });
    }),
  opened: (streamId, proxy) => {
    const key = provider.keyOf(proxy);
    if (key !== undefined) keyOfStream.set(streamId, key);
  },
  released: (proxy) => {
    const key = provider.keyOf(proxy);
    if (key !== undefined) report({ t: "released", key });
  },
});

const onEvent = (e: XdsEvent): void => {
  const key = keyOfStream.get(e.streamId);
  if (key === undefined) return;
  dirty.add(e.streamId);
  report({ t: "event", key, event: { ...e, timeMs: e.timeMs + clockOffsetMs } });
};
xds.on("push", onEvent);
xds.on("ack", onEvent);
xds.on("nack", onEvent);
xds.on("connect", (status) => {
  const key = keyOfStream.get(status.streamId);
  if (key !== undefined) report({ t: "connect", key, status });
});
xds.on("disconnect", (status) => {
  const key = keyOfStream.get(status.streamId);
  keyOfStream.delete(status.streamId);
  dirty.delete(status.streamId);
  sentStatus.delete(status.streamId);
  if (key !== undefined) report({ t: "disconnect", key, status });
});
xds.on("firstPhase", ({ all, open }) => report({ t: "firstPhase", all, open }));
/** The newest round applied, and the newest a started flush carries. */
let appliedRound = 0;
let flushingRound = 0;
/** A round that touched none of this worker's proxies arrived during a flush: reported after it. */
let owed = 0;
let inFlush = false;
xds.on("flushing", () => {
  inFlush = true;
  flushingRound = appliedRound;
});
xds.on("flushed", () => {
  inFlush = false;
  report({ t: "flushed", round: Math.max(flushingRound, owed) });
});

process.on("message", (m: MainToWorker, handle?: unknown) => {
  switch (m.kind) {
    case "connection":
      if (handle === undefined) break;
      // A TLS connection before the serving key arrived cannot be served: the proxy retries.
      if (m.tls === true) {
        if (tls !== undefined) tls.injector.injectConnection(handle as Socket);
        else (handle as Socket).destroy();
      } else injector.injectConnection(handle as Socket);
      break;
    case "tls":
      if (tls === undefined) {
        const credentials = new RotatingServerCredentials(m.context);
        tls = { credentials, injector: server.createConnectionInjector(credentials) };
      } else tls.credentials.update(m.context);
      break;
    case "admitted":
      admissions.get(m.request)?.resolve(m.key);
      admissions.delete(m.request);
      break;
    case "refused": {
      const a = admissions.get(m.request);
      admissions.delete(m.request);
      a?.reject(Object.assign(new Error(m.details), { code: m.code, details: m.details }));
      break;
    }
    case "update": {
      const touched = provider.apply(m.ops);
      if (m.round > 0) appliedRound = m.round;
      const first = m.urgent?.first;
      if (touched.size === 0) {
        if (m.round > 0 && inFlush) owed = m.round;
        else if (m.round > 0) report({ t: "flushed", round: m.round });
        break;
      }
      provider.changed(touched);
      if (m.urgent !== undefined) {
        const byKey = new Map<number, readonly TypeUrl[]>(first ?? []);
        xds.pushNow(first !== undefined ? { first: (p) => byKey.get(provider.keyOf(p) ?? -1) ?? [] } : {});
      }
      break;
    }
    case "end":
      for (const [id, key] of keyOfStream) if (key === m.key) xds.endStream(id, m.code, m.details);
      break;
    case "held":
      post({ kind: "held", request: m.request, counts: provider.ledger.counts() });
      break;
    case "close":
      shutdown();
      break;
  }
});

const server = new grpc.Server({
  ...XDS_GRPC_SERVER_OPTIONS,
  // With a TLS listener, each call gets its own connection's gate (transport-gates.ts).
  ...(init.tls ? { interceptors: [workerTransportGate(init.plaintextGate)] } : init.plaintextGate ? { interceptors: [plaintextGate()] } : {}),
});
xds.addTo(server);
// No listener of its own: the main process accepts and hands each connection over.
const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
/** The TLS listener's connections: TLS is terminated here, with the key the main process sends ("tls"). */
let tls: { readonly credentials: RotatingServerCredentials; readonly injector: ReturnType<grpc.Server["createConnectionInjector"]> } | undefined;

let closing = false;
/** Ends every stream (UNAVAILABLE: proxies reconnect) and leaves. */
function shutdown(): void {
  if (closing) return;
  closing = true;
  xds.close();
  injector.destroy();
  tls?.injector.destroy();
  server.forceShutdown();
  process.disconnect?.();
}
// The main process went away: nothing can be admitted or pushed any more.
process.on("disconnect", shutdown);
post({ kind: "ready" });
