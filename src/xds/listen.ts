// Where the gRPC ports accept connections. grpc-js's bindAsync listens with Node's default backlog
// (511 pending connections); when thousands of proxies reconnect at once (issue 15 item 11) the
// accept queue overflows whenever the event loop is busy for half a second, and the kernel drops
// the excess: proxies see their connects time out or reset and start over. So meshward accepts on
// its own listener with Linux's default somaxconn as backlog, as Go servers (istiod) do, and hands
// each connection to the gRPC server (grpc-js's connection injector: same credentials, server
// options and handlers as a bound port).
import { createServer, type Server as NetServer } from "node:net";
import type * as grpc from "@grpc/grpc-js";
import { splitHostPort } from "../mesh/monitoring.js";

/** Pending connections the kernel keeps for the gRPC ports (Linux's default net.core.somaxconn, which also caps it). */
export const GRPC_LISTEN_BACKLOG = 4096;

export interface GrpcListener {
  /** host:port as bound (the port filled in when 0 was asked for; IPv6 in brackets). */
  readonly address: string;
  /** Stops accepting; connections already handed over are the gRPC server's to end. */
  close(): void;
}

export function listenGrpc(server: grpc.Server, address: string, credentials: grpc.ServerCredentials, backlog = GRPC_LISTEN_BACKLOG): Promise<GrpcListener> {
  const { host, port } = splitHostPort(address);
  const injector = server.createConnectionInjector(credentials);
  const listener: NetServer = createServer((socket) => injector.injectConnection(socket));
  return new Promise((resolve, reject) => {
    listener.once("error", (err) => {
      injector.destroy();
      reject(err);
    });
    listener.listen({ host, port, backlog }, () => {
      listener.removeAllListeners("error");
      // A listener error after binding (none expected) must not crash the process.
      listener.on("error", () => {});
      const a = listener.address();
      const bound = typeof a === "object" && a !== null ? a.port : port;
      resolve({ address: `${host.includes(":") ? `[${host}]` : host}:${bound}`, close: () => void listener.close() });
    });
  });
}
