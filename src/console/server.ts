// The console's listener (`meshward serve --console-address`, default 127.0.0.1:15080): plain HTTP
// on a loopback address, HTTPS with a serving certificate from meshward's CA anywhere else (bearer
// tokens never cross a network in cleartext). Connections, header and request times are bounded.
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { CaServerCredentials } from "../ca/serving-credentials.js";
import type { Authenticator } from "../security/identity.js";
import { listenHttp, splitHostPort } from "../mesh/monitoring.js";
import { ConsoleAccess, isLoopbackHost } from "./access.js";
import { readApiHandler, type ReadApiSources } from "./read-api.js";

/** Open connections at most: a browser keeps a few, the CLI one per command. */
export const CONSOLE_MAX_CONNECTIONS = 64;
const REQUEST_TIMEOUT_MS = 15_000;

export interface ConsoleServerOptions {
  readonly address: string;
  readonly sources: ReadApiSources;
  readonly authenticators: readonly Authenticator[];
  readonly adminNamespace: string;
  /** Made on demand for a non-loopback address. */
  readonly serving: () => CaServerCredentials;
}

export interface ConsoleServer {
  /** Bound `host:port`. */
  readonly address: string;
  /** `http://...` or `https://...`. */
  readonly url: string;
  readonly access: ConsoleAccess;
  close(): Promise<void>;
}

export async function startConsoleServer(opts: ConsoleServerOptions): Promise<ConsoleServer> {
  const { host } = splitHostPort(opts.address);
  const tls = !isLoopbackHost(host.includes(":") ? `[${host}]` : host);
  const access = new ConsoleAccess({ authenticators: opts.authenticators, adminNamespace: opts.adminNamespace, tls });
  const handler = readApiHandler(opts.sources, access);
  let server: HttpServer;
  if (tls) {
    const serving = opts.serving();
    const https = createHttpsServer(serving.keyAndChain(), handler);
    serving.onRotate(() => https.setSecureContext(serving.keyAndChain()));
    server = https;
  } else {
    server = createHttpServer(handler);
  }
  server.maxConnections = CONSOLE_MAX_CONNECTIONS;
  server.headersTimeout = REQUEST_TIMEOUT_MS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  const address = await listenHttp(server, opts.address);
  return {
    address,
    url: `${tls ? "https" : "http"}://${address}`,
    access,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
