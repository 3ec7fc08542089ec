// The pod agent's local xDS endpoint for proxyless gRPC, as pilot-agent's XDS proxy: grpc-js-xds
// speaks only plaintext (or google_default) to its xDS server, while meshward serves pods over TLS
// on 15012 and authenticates them by their token. The relay listens where only the pod reaches it
// (a unix socket on the pod's shared volume), and forwards each ADS stream to the control plane over
// TLS (verified with the mesh root) with the pod's current token; the control plane still checks
// that the node metadata names the token's identity. Bytes are passed through unparsed.
import * as grpc from "@grpc/grpc-js";
import { chmodSync, rmSync } from "node:fs";

export const ADS_METHOD = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources";
const raw = { serialize: (b: Buffer): Buffer => b, deserialize: (b: Buffer): Buffer => b };

export interface XdsRelayOptions {
  /** `unix:///path` (the pod's volume) or `host:port`. */
  readonly listen: string;
  /** The control plane's xDS address. */
  readonly upstream: string;
  readonly credentials: grpc.ChannelCredentials;
  readonly channelOptions?: grpc.ChannelOptions;
  /** The pod's token, read for every stream (it is rotated by the kubelet). */
  readonly token: () => Promise<string>;
  readonly log: (line: string) => void;
}

export interface XdsRelay {
  /** The address the bootstrap names. */
  readonly address: string;
  close(): void;
}

export async function startXdsRelay(o: XdsRelayOptions): Promise<XdsRelay> {
  const upstream = new grpc.Client(o.upstream, o.credentials, o.channelOptions ?? {});
  const server = new grpc.Server();
  const handler = (down: grpc.ServerDuplexStream<Buffer, Buffer>): void => {
    void o.token().then(
      (token) => {
        const md = new grpc.Metadata();
        md.set("authorization", `Bearer ${token}`);
        const up = upstream.makeBidiStreamRequest(ADS_METHOD, raw.serialize, raw.deserialize, md);
        down.on("data", (b: Buffer) => up.write(b));
        down.on("end", () => up.end());
        down.on("cancelled", () => up.cancel());
        down.on("error", () => up.cancel());
        up.on("data", (b: Buffer) => down.write(b));
        up.on("error", (e: grpc.ServiceError) => {
          o.log(`xds relay: upstream ${o.upstream}: ${e.message}`);
          down.destroy(e);
        });
        up.on("end", () => down.end());
      },
      (e: Error) => {
        o.log(`xds relay: no token: ${e.message}`);
        down.destroy(Object.assign(new Error(e.message), { code: grpc.status.UNAVAILABLE }));
      },
    );
  };
  server.register(ADS_METHOD, handler as grpc.handleBidiStreamingCall<Buffer, Buffer>, raw.serialize, raw.deserialize, "bidi");
  if (o.listen.startsWith("unix://")) rmSync(o.listen.slice("unix://".length), { force: true }); // a socket left by the last run
  await new Promise<number>((resolve, reject) => server.bindAsync(o.listen, grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  // The app containers run as other users; the socket is on a volume only this pod mounts.
  if (o.listen.startsWith("unix://")) chmodSync(o.listen.slice("unix://".length), 0o666);
  return {
    address: o.listen,
    close: () => {
      server.forceShutdown();
      upstream.close();
    },
  };
}
