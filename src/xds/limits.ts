// What one xDS stream, and one connection, may cost the server (issue 15 item 7): a cap on the
// resource names a stream subscribes, a bounded queue of responses per stream (a proxy that does
// not read is skipped by push rounds and catches up with the latest versions once it reads again,
// and is dropped if it stays stuck or its queue passes a limit), and the gRPC server options
// (concurrent streams, keepalive, connection age with jitter) that istiod also sets.
import type * as grpc from "@grpc/grpc-js";
import { responseSize, type OutgoingResponse } from "./wire.js";

export interface StreamLimits {
  /** Resource names one stream may subscribe, over all its types. */
  readonly maxNamesPerStream: number;
  /**
   * Response bytes written to a stream and not yet taken by HTTP/2 above which push rounds skip
   * the stream (it gets the latest versions once it has read what it was sent).
   */
  readonly holdPushesAboveBytes: number;
  /** Queued response bytes above which the stream is dropped (RESOURCE_EXHAUSTED). */
  readonly maxQueuedBytesPerStream: number;
  /** How long a stream may hold back a push (not reading) before it is dropped (RESOURCE_EXHAUSTED). */
  readonly slowReaderTimeoutMs: number;
}

/**
 * 50,000 names covers a sidecar of a 20,000-service mesh (EDS and RDS names) with room to spare,
 * and bounds a stream's subscription state to a few MiB: one delta stream subscribing 500,000
 * invented names grew the server by 117 MiB before this cap. 1 MiB held back is several full
 * responses of a large sidecar; 64 MiB is the most one stream may pin.
 */
export const DEFAULT_STREAM_LIMITS: StreamLimits = {
  maxNamesPerStream: 50_000,
  holdPushesAboveBytes: 1024 * 1024,
  maxQueuedBytesPerStream: 64 * 1024 * 1024,
  slowReaderTimeoutMs: 30_000,
};

/**
 * gRPC server options for the ports that serve xDS (and the CA and node agents next to it), as
 * istiod sets them: keepalive pings every 30 s with a 10 s timeout, connections closed after 30
 * minutes (istiod's --keepaliveMaxServerConnectionAge default; grpc-js adds +-10% jitter so
 * proxies do not reconnect in lockstep, and rebalance across replicas) with 10 s of grace for
 * the streams in flight, 4 MiB requests at most. Concurrent streams per connection: 128 (a
 * proxy needs one ADS stream, a few with per-type services; istiod allows 100,000).
 */
export const XDS_GRPC_SERVER_OPTIONS: grpc.ServerOptions = {
  "grpc.max_concurrent_streams": 128,
  "grpc.keepalive_time_ms": 30_000,
  "grpc.keepalive_timeout_ms": 10_000,
  "grpc.max_connection_age_ms": 30 * 60_000,
  "grpc.max_connection_age_grace_ms": 10_000,
  "grpc.max_receive_message_length": 4 * 1024 * 1024,
};

/** The stream end a limit causes: a gRPC status code and the details naming the limit. */
export interface LimitExceeded {
  readonly code: "RESOURCE_EXHAUSTED";
  readonly details: string;
}

/** The part of a grpc-js server call the outbox writes to. */
export interface WritableCall {
  write(response: OutgoingResponse, callback: () => void): boolean;
}

/**
 * One stream's outgoing responses. Counts the bytes written and not yet taken by HTTP/2 (grpc-js
 * calls a write's callback once its frame is handed to the session, which stops happening when
 * the proxy stops reading and the flow-control window closes): above holdPushesAboveBytes (or
 * when grpc-js says to stop writing) push rounds skip the stream, and once it has drained it is
 * pushed again, computed from the provider's current resources: a slow reader gets the latest
 * version of each resource, never every version in between.
 */
export class StreamOutbox {
  private queuedBytes = 0;
  private writable = true;
  /** A push round skipped this stream while it was held. */
  private skipped = false;
  private timer: NodeJS.Timeout | undefined;
  private dropped = false;

  constructor(
    private readonly call: WritableCall,
    private readonly limits: StreamLimits,
    /** Pushes the stream again after a skipped round (from the current resources). */
    private readonly catchUp: () => void,
    /** Ends the stream for exceeding a limit. */
    private readonly drop: (why: LimitExceeded) => void,
    /** Everything written so far has been taken by HTTP/2. */
    private readonly onDrained: () => void = () => {},
  ) {}

  /** Nothing written to the stream waits to be taken by HTTP/2. */
  get drained(): boolean {
    return this.queuedBytes === 0;
  }

  get held(): boolean {
    return !this.writable || this.queuedBytes > this.limits.holdPushesAboveBytes;
  }

  write(response: OutgoingResponse): void {
    if (this.dropped) return;
    const size = responseSize(response);
    this.queuedBytes += size;
    if (!this.call.write(response, () => this.written(size))) this.writable = false;
    if (this.queuedBytes > this.limits.maxQueuedBytesPerStream) {
      this.fail(`${this.queuedBytes} bytes of responses queued for a proxy that is not reading exceed the limit of ${this.limits.maxQueuedBytesPerStream} per stream (maxQueuedBytesPerStream)`);
    }
  }

  /**
   * A push round wants to push this stream: true if it may now; otherwise the push is remembered
   * (catchUp runs once the stream drains) and the slow-reader clock starts.
   */
  ready(): boolean {
    if (!this.held) return true;
    if (!this.skipped) {
      this.skipped = true;
      const ms = this.limits.slowReaderTimeoutMs;
      this.timer = setTimeout(() => this.fail(`the proxy read none of its pending responses for ${ms} ms while a push waited (slowReaderTimeoutMs)`), ms);
      this.timer.unref();
    }
    return false;
  }

  close(): void {
    this.dropped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private written(size: number): void {
    this.queuedBytes -= size;
    // Caught up: grpc-js drained its buffer (every write so far completed) and HTTP/2 took the bytes.
    if (this.queuedBytes === 0) {
      this.writable = true;
      this.onDrained();
    }
    if (this.dropped || !this.skipped || this.held) return;
    this.skipped = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.catchUp();
  }

  private fail(details: string): void {
    if (this.dropped) return;
    this.close();
    this.drop({ code: "RESOURCE_EXHAUSTED", details: `stream dropped: ${details}` });
  }
}
