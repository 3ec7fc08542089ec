// The console's listener (`meshward serve --console-address`, default 127.0.0.1:15080): plain HTTP
// on a loopback address, HTTPS with a serving certificate from meshward's CA anywhere else (bearer
// tokens never cross a network in cleartext). Connections, header and request times are bounded.
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { CaServerCredentials } from "../ca/serving-credentials.js";
import { resolve } from "node:path";
import { DEFAULT_ADMIN_NAMESPACE } from "../debug/csds.js";
import { listenHttp, splitHostPort } from "../mesh/monitoring.js";
import { MeshwardTokenAuthenticator } from "../security/token-authenticator.js";
import type { TokenKey } from "../security/token-key.js";
import { CONSOLE_AUDIENCE, ConsoleAccess, isLoopbackHost } from "./access.js";
import { readApiHandler, type ReadApiSources } from "./read-api.js";

/** Open connections at most: a browser keeps a few, the CLI one per command. */
export const CONSOLE_MAX_CONNECTIONS = 64;
const REQUEST_TIMEOUT_MS = 15_000;

export interface ConsoleServerOptions {
  readonly address: string;
  readonly sources: ReadApiSources;
  /** meshward's token key: console tokens (audience meshward-console) are verified with it. */
  readonly tokenKey: TokenKey;
  /** Token identities must be in this namespace (default istio-system, as CSDS callers). */
  readonly adminNamespace?: string;
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
  const authenticators = [new MeshwardTokenAuthenticator({ trustDomain: opts.sources.ca.trustDomain, publicKeys: [opts.tokenKey.publicKey], audiences: [CONSOLE_AUDIENCE] })];
  const access = new ConsoleAccess({ authenticators, adminNamespace: opts.adminNamespace ?? DEFAULT_ADMIN_NAMESPACE, tls });
  const sources = { ...opts.sources, dataDir: resolve(opts.sources.dataDir), configDir: resolve(opts.sources.configDir) };
  const handler = readApiHandler(sources, access);
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
  const url = `${tls ? "https" : "http"}://${address}`;
  opts.sources.log(`meshward: read API and web console on ${url}`, { stage: "serve" });
  return {
    address,
    url,
    access,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
