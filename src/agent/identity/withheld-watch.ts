// The node agent's side of NodeIdentityService.WatchWithheld: it follows the control plane's list
// of pods whose identity is withheld (quarantine, revoke) and hands each full list over, so a
// control-plane quarantine cuts a pod's identity at the node at once and a release restores it.
// The stream is re-opened with backoff; while it is down the CA still refuses what it withholds.
import * as grpc from "@grpc/grpc-js";
import { NodeIdentityService, type WithheldIdentities, type WithheldIdentity } from "../../gen/meshward/agent/v1/identity_pb.js";
import { grpcServiceDefinition } from "../../signals/grpc-definition.js";

export interface WithheldWatchOptions {
  readonly address: string;
  readonly credentials: grpc.ChannelCredentials;
  readonly channelOptions?: grpc.ChannelOptions;
  /** The node's token (signal API audience), read at every (re)connect. */
  readonly token: () => string | undefined;
  readonly onUpdate: (entries: readonly WithheldIdentity[]) => void;
  readonly log?: (msg: string) => void;
}

const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 30_000;

export class WithheldWatch {
  private readonly client: grpc.Client;
  private call: grpc.ClientReadableStream<WithheldIdentities> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly opts: WithheldWatchOptions) {
    this.client = new grpc.Client(opts.address, opts.credentials, opts.channelOptions ?? {});
  }

  start(backoffMs = RETRY_MIN_MS): void {
    if (this.stopped) return;
    const def = grpcServiceDefinition(NodeIdentityService).WatchWithheld;
    const md = new grpc.Metadata();
    const token = this.opts.token();
    if (token !== undefined) md.set("authorization", `Bearer ${token}`);
    const call = this.client.makeServerStreamRequest(def.path, def.requestSerialize, def.responseDeserialize, {}, md, {}) as grpc.ClientReadableStream<WithheldIdentities>;
    this.call = call;
    call.on("data", (r: WithheldIdentities) => {
      backoffMs = RETRY_MIN_MS;
      this.opts.onUpdate(r.entries);
    });
    call.on("error", (e: grpc.ServiceError) => {
      if (this.stopped) return;
      this.opts.log?.(`withheld identities from ${this.opts.address}: ${grpc.status[e.code]}: ${e.details}; retrying in ${backoffMs} ms`);
      this.timer = setTimeout(() => this.start(Math.min(RETRY_MAX_MS, backoffMs * 2)), backoffMs);
      this.timer.unref();
    });
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.call?.cancel();
    this.client.close();
  }
}
