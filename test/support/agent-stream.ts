// A node agent's signal stream, raw (no buffering or retry logic of its own): batches out,
// responses and the stream's end in. For tests and benchmarks that play a (possibly hostile) agent.
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import {
  Severity, SignalService, StreamSignalsRequestSchema, StreamSignalsResponseSchema, type SignalSchema, type StreamSignalsResponse,
} from "../../src/gen/meshward/agent/v1/signals_pb.js";

export type SignalInit = MessageInitShape<typeof SignalSchema>;

const STREAM = `/${SignalService.typeName}/StreamSignals`;

/** A HIGH escape detection on `node` about `pod`, as the agent reports one. */
export function escapeSignal(id: string, node: string, pod: { uid: string; namespace: string; name: string; serviceAccount: string }, args = ["nsenter"]): SignalInit {
  return {
    id,
    node,
    pod,
    container: { id: "c0ffee".padEnd(64, "0"), name: "app" },
    process: { pid: 7, uid: 0, binary: "/usr/bin/nsenter", args },
    detection: { id: "escape.setns-host-mnt", mitreTechnique: "T1611" },
    severity: Severity.HIGH,
    eventTime: timestampNow(),
  };
}

export class AgentStream {
  private readonly call: grpc.ClientDuplexStream<Uint8Array, StreamSignalsResponse>;
  private readonly responses: StreamSignalsResponse[] = [];
  private readonly waiters: ((r: StreamSignalsResponse | undefined) => void)[] = [];
  private ended = false;
  readonly status: Promise<grpc.StatusObject>;

  constructor(client: grpc.Client, token: string) {
    const md = new grpc.Metadata();
    md.set("authorization", `Bearer ${token}`);
    this.call = client.makeBidiStreamRequest(STREAM, (b: Uint8Array) => Buffer.from(b), (b: Buffer) => fromBinary(StreamSignalsResponseSchema, b), md);
    this.call.on("data", (r: StreamSignalsResponse) => {
      const w = this.waiters.shift();
      if (w) w(r);
      else this.responses.push(r);
    });
    this.call.on("error", () => undefined);
    this.status = new Promise((resolve) =>
      this.call.on("status", (s: grpc.StatusObject) => {
        this.ended = true;
        for (const w of this.waiters.splice(0)) w(undefined);
        resolve(s);
      }),
    );
  }

  send(signals: SignalInit[]): void {
    this.call.write(toBinary(StreamSignalsRequestSchema, create(StreamSignalsRequestSchema, { msg: { case: "batch", value: { signals } } })));
  }

  /** The next response, or undefined once the stream has ended (or after `timeoutMs`). */
  next(timeoutMs = 10_000): Promise<StreamSignalsResponse | undefined> {
    const r = this.responses.shift();
    if (r !== undefined || this.ended) return Promise.resolve(r);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(done);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(undefined);
      }, timeoutMs);
      const done = (v: StreamSignalsResponse | undefined): void => {
        clearTimeout(timer);
        resolve(v);
      };
      this.waiters.push(done);
    });
  }

  close(): void {
    this.call.cancel();
  }
}
