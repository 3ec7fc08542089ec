// Where the gRPC ports accept connections. grpc-js's bindAsync listens with Node's default backlog
// (511 pending connections); when thousands of proxies reconnect at once (issue 15 item 11) the
// accept queue overflows whenever the event loop is busy for half a second, and the kernel drops
// the excess: proxies see their connects time out or reset and start over. So meshward accepts on
// its own listener with Linux's default somaxconn as backlog, as Go servers (istiod) do, and hands
// each connection to the gRPC server (grpc-js's connection injector: same credentials, server
// options and handlers as a bound port), or to a stream worker (workers/pool.ts).
import type { Server as NetServer } from "node:net";
import { createServer } from "node:net";
import type * as grpc from "@grpc/grpc-js";
import { splitHostPort } from "../mesh/monitoring.js";
import { hostPort } from "../ir/scope.js";

/** Pending connections the kernel keeps for the gRPC ports (Linux's default net.core.somaxconn, which also caps it). */
export const GRPC_LISTEN_BACKLOG = 4096;

/** Listens on `address` (`host:port`, port 0 picks one) with GRPC_LISTEN_BACKLOG; resolves the bound `host:port`. */
export function listenWithBacklog(server: NetServer, address: string): Promise<string> {
  const { host, port } = splitHostPort(address);
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port, backlog: GRPC_LISTEN_BACKLOG }, () => {
      server.off("error", reject);
      const a = server.address();
      resolve(hostPort(host, typeof a === "object" && a !== null ? a.port : port));
    });
  });
}

export interface GrpcListener {
  /** host:port as bound (the port filled in when 0 was asked for; IPv6 in brackets). */
  readonly address: string;
  /** Stops accepting; connections already handed over are the gRPC server's to end. */
  close(): void;
}

export async function listenGrpc(server: grpc.Server, address: string, credentials: grpc.ServerCredentials): Promise<GrpcListener> {
  const injector = server.createConnectionInjector(credentials);
  const listener = createServer((socket) => injector.injectConnection(socket));
  try {
    const bound = await listenWithBacklog(listener, address);
    // A listener error after binding (none expected) must not crash the process.
    listener.on("error", () => {});
    return { address: bound, close: () => void listener.close() };
  } catch (err) {
    injector.destroy();
    throw err;
  }
}
