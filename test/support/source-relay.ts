// Calls that arrive from a pod's own address: grpc-js cannot choose a client's source address, so
// a test connects to this relay on loopback and the relay opens each connection to the target from
// `sourceAddress` (a pod address added to `lo` by LocalPodAddresses). The control plane then sees
// the pod's IP as the peer, as it would for a pod calling the CA API from its network namespace.
import { connect, createServer, type Socket } from "node:net";

export interface SourceRelay {
  /** `127.0.0.1:<port>`: dial this instead of the target. */
  readonly address: string;
  close(): void;
}

export function relayFrom(sourceAddress: string, target: string): Promise<SourceRelay> {
  const colon = target.lastIndexOf(":");
  const host = target.slice(0, colon);
  const port = Number(target.slice(colon + 1));
  const sockets = new Set<Socket>();
  const track = (s: Socket): void => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  };
  const server = createServer((inbound) => {
    track(inbound);
    const outbound = connect({ host, port, localAddress: sourceAddress });
    track(outbound);
    inbound.pipe(outbound).pipe(inbound);
    inbound.on("error", () => outbound.destroy());
    outbound.on("error", () => inbound.destroy());
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const a = server.address();
      if (a === null || typeof a === "string") return reject(new Error("relay: no TCP address"));
      resolve({
        address: `127.0.0.1:${a.port}`,
        close: () => {
          server.close();
          for (const s of sockets) s.destroy();
        },
      });
    });
  });
}
