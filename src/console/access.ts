// Who may use the read API and the console, and how a browser is kept from being used against it.
//
// Every API request is authenticated: a loopback caller without credentials (as CSDS and the
// plaintext gRPC port trust the local machine), or a bearer token from `meshward token create
// --namespace <admin namespace> --audience meshward-console`, whose identity must be in the control
// plane's admin namespace. A token is never taken over plaintext from another machine (the listener
// is HTTPS when it is not on loopback). A loopback caller must also name a loopback host in `Host`,
// so a web page whose name was rebound to 127.0.0.1 (DNS rebinding) gets nothing.
//
// State-changing requests (POST) also need the `x-meshward-csrf` header with the token from
// /api/v1/session, which a page of another origin cannot read (no CORS), and, when the browser
// sends one, an `Origin` equal to the console's own.
import * as grpc from "@grpc/grpc-js";
import type { IncomingMessage } from "node:http";
import { randomBytes, timingSafeEqual } from "node:crypto";
import { isIP } from "node:net";
import { authenticateCaller } from "../security/authenticate.js";
import type { Authenticator } from "../security/identity.js";
import { isLoopbackPeer } from "../security/xds-auth.js";

/** The token audience the console accepts: workload tokens (istio-ca) cannot be replayed here. */
export const CONSOLE_AUDIENCE = "meshward-console";
export const CSRF_HEADER = "x-meshward-csrf";

export interface ConsoleCaller {
  /** `loopback` or the token's SPIFFE-style `namespace/serviceAccount`. */
  readonly who: string;
}

export class ConsoleAccessError extends Error {
  constructor(readonly status: 401 | 403, message: string) {
    super(message);
  }
}

export interface ConsoleAccessOptions {
  /** Authenticators for bearer tokens (audience meshward-console). */
  readonly authenticators: readonly Authenticator[];
  /** Token identities must be in this namespace (the control plane's admin namespace). */
  readonly adminNamespace: string;
  /** The listener is HTTPS (tokens may come from other machines). */
  readonly tls: boolean;
}

function peerOf(req: IncomingMessage): string {
  const a = req.socket.remoteAddress ?? "";
  return isIP(a) === 6 ? `[${a}]:${req.socket.remotePort ?? 0}` : `${a}:${req.socket.remotePort ?? 0}`;
}

/** `localhost`, `127.x.y.z` or `[::1]`, with or without a port. */
export function isLoopbackHost(host: string | undefined): boolean {
  if (host === undefined) return false;
  const name = host.startsWith("[") ? host.slice(1, host.indexOf("]")) : isIP(host) !== 0 ? host : host.replace(/:\d+$/, "");
  if (name === "localhost") return true;
  return isIP(name) !== 0 && isLoopbackPeer(isIP(name) === 6 ? `[${name}]:0` : `${name}:0`);
}

export class ConsoleAccess {
  /** Per server start; handed to authenticated callers by /api/v1/session. */
  readonly csrfToken = randomBytes(24).toString("base64url");

  constructor(private readonly opts: ConsoleAccessOptions) {}

  async authenticate(req: IncomingMessage): Promise<ConsoleCaller> {
    const peer = peerOf(req);
    const authorization = req.headers.authorization;
    if (authorization === undefined) {
      if (!isLoopbackPeer(peer)) throw new ConsoleAccessError(401, `read API from ${peer}: no credentials (only loopback callers may ask without a bearer token)`);
      if (!isLoopbackHost(req.headers.host)) throw new ConsoleAccessError(403, `read API: Host "${req.headers.host ?? ""}" is not a loopback name (a loopback caller must ask for localhost, 127.0.0.1 or [::1])`);
      return { who: "loopback" };
    }
    if (!this.opts.tls && !isLoopbackPeer(peer)) throw new ConsoleAccessError(401, `read API: bearer token from ${peer} refused over plaintext`);
    const metadata = new grpc.Metadata();
    metadata.set("authorization", authorization);
    const authn = await authenticateCaller(this.opts.authenticators, { peer, metadata });
    if (!authn.ok) throw new ConsoleAccessError(401, `read API: ${authn.reason}`);
    const id = authn.identity;
    if (id.namespace !== this.opts.adminNamespace) {
      throw new ConsoleAccessError(403, `read API: ${id.namespace}/${id.serviceAccount} may not read the mesh (only identities of namespace ${this.opts.adminNamespace})`);
    }
    return { who: `${id.namespace}/${id.serviceAccount}` };
  }

  /** Throws unless a state-changing request carries the CSRF token and, if any, this origin. */
  checkStateChange(req: IncomingMessage): void {
    const given = req.headers[CSRF_HEADER];
    const a = Buffer.from(typeof given === "string" ? given : "");
    const b = Buffer.from(this.csrfToken);
    if (a.length !== b.length || !timingSafeEqual(a, b)) {
      throw new ConsoleAccessError(403, `read API: ${req.method} ${req.url ?? ""} needs the ${CSRF_HEADER} header from /api/v1/session`);
    }
    const origin = req.headers.origin;
    const own = `${this.opts.tls ? "https" : "http"}://${req.headers.host ?? ""}`;
    if (origin !== undefined && origin !== own) throw new ConsoleAccessError(403, `read API: Origin ${origin} is not the console's (${own})`);
  }
}
