// What the SDS and Workload API streams share: attest the caller from the kernel, get its pod's
// certificate, follow the pod's rotations, and end with PERMISSION_DENIED the moment the pod's
// identity is cut or the caller no longer attests to the pod.
import * as grpc from "@grpc/grpc-js";
import type { EventEmitter } from "node:events";
import type { WorkloadAttestation } from "./attestation.js";
import type { IdentitySocket } from "./identity-socket.js";
import { IdentityCutError, type PodCertificates, type PodSvid } from "./pod-certificates.js";

export interface PodStreamDeps {
  readonly socket: IdentitySocket;
  readonly certificates: PodCertificates;
  readonly log?: (msg: string) => void;
}

export interface PodStream {
  readonly attestation: WorkloadAttestation;
  /** The certificate the stream was last given. */
  current(): PodSvid;
  /** Ends the stream with a status (once). */
  fail(code: grpc.status, details: string): void;
}

type StreamingCall = EventEmitter & { getPeer(): string };

/** Ends a streaming call with a status; grpc-js turns an emitted error into the call's status. */
export function endCall(call: EventEmitter, code: grpc.status, details: string): void {
  call.emit("error", { code, details, metadata: new grpc.Metadata() });
}

/**
 * Opens the pod identity stream of `call`, sending the current certificate with `send` now and at
 * every rotation. Resolves undefined when the call was refused (it has been ended with the reason).
 */
export async function openPodStream(deps: PodStreamDeps, call: StreamingCall, what: string, send: (svid: PodSvid) => void): Promise<PodStream | undefined> {
  let closed = false;
  let cleanup = (): void => undefined;
  const fail = (code: grpc.status, details: string): void => {
    if (closed) return;
    closed = true;
    cleanup();
    deps.log?.(`${what}: ${call.getPeer()}: ${grpc.status[code]}: ${details}`);
    endCall(call, code, details);
  };
  // Registered first: a call that ends while its certificate is being issued must not be tracked.
  const gone = (): void => {
    closed = true;
    cleanup();
  };
  call.once("cancelled", gone);
  call.once("close", gone);
  call.once("finish", gone);
  const attested = deps.socket.attestCall(call);
  if (!attested.ok) return void fail(grpc.status.PERMISSION_DENIED, `no identity issued: ${attested.reason}`);
  const { attestation } = attested;
  const pod = attestation.pod;
  let svid: PodSvid;
  try {
    svid = await deps.certificates.get(pod);
  } catch (e) {
    const cut = e instanceof IdentityCutError || deps.certificates.cutReason(pod.uid) !== undefined;
    return void fail(cut ? grpc.status.PERMISSION_DENIED : grpc.status.UNAVAILABLE, `no identity issued to pod ${pod.namespace}/${pod.name}: ${(e as Error).message}`);
  }
  if (closed) return undefined;
  const tracked = deps.socket.track({ podUid: pod.uid, pid: attestation.process.pid, startTime: attestation.process.startTime, close: fail });
  if (!tracked.ok) return void fail(grpc.status.RESOURCE_EXHAUSTED, tracked.reason);
  const unsubscribe = deps.certificates.subscribe(pod.uid, (e) => {
    if (e.kind === "cut") return fail(grpc.status.PERMISSION_DENIED, `identity of pod ${pod.namespace}/${pod.name} is cut: ${e.reason}`);
    svid = e.svid;
    send(e.svid);
  });
  cleanup = (): void => {
    unsubscribe();
    tracked.untrack();
  };
  // A cut between the certificate's arrival and the subscription was not seen by the listener.
  const cutMeanwhile = deps.certificates.cutReason(pod.uid);
  if (cutMeanwhile !== undefined) return void fail(grpc.status.PERMISSION_DENIED, `identity of pod ${pod.namespace}/${pod.name} is cut: ${cutMeanwhile}`);
  send(svid);
  return { attestation, current: () => svid, fail };
}
