// How the CLI's quarantine, risk, events and analyze commands reach a running control plane: its
// read API (`meshward serve --console-address`, default 127.0.0.1:15080). A command asks the read
// API when a server answers there and serves the same data directory (the command's --data-dir);
// otherwise it keeps its offline behaviour on the data directory. `--console none` never asks;
// `--console HOST:PORT` always does (and fails if nothing answers). Over loopback plain HTTP; any
// other address is HTTPS, verified with `--tls-ca` (the mesh root) for istiod's name, with a bearer
// token from `--token-file` or $MESHWARD_TOKEN (audience meshward-console).
import { request as httpRequest, type IncomingMessage, type RequestOptions } from "node:http";
import { request as httpsRequest } from "node:https";
import { readFileSync, realpathSync } from "node:fs";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import { ISTIOD_DNS_NAMES } from "../ca/serving-credentials.js";
import { resolve } from "node:path";
import { isLoopbackHost } from "../console/access.js";
import { DEFAULT_ADDRESSES, FlagError } from "./flags.js";

export const CONSOLE_FLAGS = {
  console: { type: "string" },
  "token-file": { type: "string" },
  "tls-ca": { type: "string" },
} as const;

export const CONSOLE_USAGE = `  --console     a running control plane's read API (default: ${DEFAULT_ADDRESSES.console} when it serves this data dir;
                "none": never ask, read the data dir)
  --token-file  a bearer token (audience meshward-console, namespace istio-system), or $MESHWARD_TOKEN
  --tls-ca      the mesh root certificate, to verify the read API's HTTPS (a non-loopback --console;
                its certificate names ${ISTIOD_DNS_NAMES[0]})`;

/** How long the CLI waits for the read API before falling back to the data dir (default address only). */
const PROBE_TIMEOUT_MS = 1500;
const CALL_TIMEOUT_MS = 30_000;

export interface Session {
  readonly who: string;
  readonly csrfToken: string;
  readonly dataDir: string;
  readonly configDir: string;
  readonly generation: number;
}

export class ReadApiError extends Error {}

export class ConsoleClient {
  private constructor(
    readonly base: URL,
    private readonly token: string | undefined,
    private readonly ca: Buffer | undefined,
    readonly session: Session,
  ) {}

  /**
   * The read API to use for a command run with these flags, or undefined to work offline.
   * `dataDir` is the command's data directory: the default address is used only when the server
   * serves that one.
   */
  static async forCommand(values: { console?: string; "token-file"?: string; "tls-ca"?: string }, dataDir: string): Promise<ConsoleClient | undefined> {
    const flag = values.console;
    if (flag === "none") return undefined;
    const address = flag ?? DEFAULT_ADDRESSES.console;
    let base: URL;
    try {
      base = new URL(`http://${address}`);
    } catch {
      throw new FlagError(`--console "${address}" is not host:port`);
    }
    if (!isLoopbackHost(base.hostname)) base = new URL(`https://${address}`);
    const token = values["token-file"] !== undefined ? readFileSync(values["token-file"], "utf8").trim() : process.env["MESHWARD_TOKEN"] || undefined;
    const ca = values["tls-ca"] !== undefined ? readFileSync(values["tls-ca"]) : undefined;
    let session: Session;
    try {
      session = (await call(base, "GET", "/api/v1/session", { token, ca, timeoutMs: flag === undefined ? PROBE_TIMEOUT_MS : CALL_TIMEOUT_MS })) as Session;
    } catch (e) {
      if (flag !== undefined) throw e;
      // Nothing listening on the default address: no server, work offline. Something else there
      // (another program, a server refusing us) is said, and the data dir is read all the same.
      if (!(e instanceof ConnectionError)) console.error(`meshward: not using the read API on ${address} (${(e as Error).message}); reading the data dir`);
      return undefined;
    }
    if (typeof session.dataDir !== "string" || typeof session.csrfToken !== "string") {
      if (flag !== undefined) throw new ReadApiError(`${base.origin}: not a meshward read API (no session)`);
      return undefined;
    }
    if (flag === undefined && !sameDirectory(session.dataDir, dataDir)) return undefined;
    return new ConsoleClient(base, token, ca, session);
  }

  get<T>(path: string): Promise<T> {
    return call(this.base, "GET", path, { token: this.token, ca: this.ca, timeoutMs: CALL_TIMEOUT_MS }) as Promise<T>;
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return call(this.base, "POST", path, { token: this.token, ca: this.ca, timeoutMs: CALL_TIMEOUT_MS, body: JSON.stringify(body), csrf: this.session.csrfToken }) as Promise<T>;
  }
}

function sameDirectory(a: string, b: string): boolean {
  const real = (p: string): string => {
    try {
      return realpathSync(p);
    } catch {
      return resolve(p);
    }
  };
  return real(a) === real(b);
}

/** Nothing answered at the address (refused, unreachable): the server is not running. */
class ConnectionError extends Error {}

interface CallOptions {
  readonly token: string | undefined;
  readonly ca: Buffer | undefined;
  readonly timeoutMs: number;
  readonly body?: string;
  readonly csrf?: string;
}

function call(base: URL, method: string, path: string, o: CallOptions): Promise<unknown> {
  const url = new URL(path, base);
  const headers: Record<string, string> = { accept: "application/json" };
  if (o.token !== undefined) headers["authorization"] = `Bearer ${o.token}`;
  if (o.body !== undefined) headers["content-type"] = "application/json";
  if (o.csrf !== undefined) headers["x-meshward-csrf"] = o.csrf;
  // HTTPS: the serving certificate is meshward's CA's, for istiod's names (as the agent checks it).
  const tlsOptions = url.protocol === "https:" ? { checkServerIdentity: (_host: string, cert: PeerCertificate) => checkServerIdentity(ISTIOD_DNS_NAMES[0], cert), ...(o.ca !== undefined ? { ca: o.ca } : {}) } : {};
  const options: RequestOptions = { method, headers, timeout: o.timeoutMs, ...tlsOptions };
  const send = url.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolvePromise, reject) => {
    const req = send(url, options, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          return reject(new ReadApiError(`${url.origin}${path}: HTTP ${res.statusCode}, not JSON: ${text.slice(0, 200)}`));
        }
        if ((res.statusCode ?? 500) >= 400) {
          const error = typeof parsed === "object" && parsed !== null ? (parsed as Record<string, unknown>)["error"] : undefined;
          return reject(new ReadApiError(`${url.origin}${path}: HTTP ${res.statusCode}: ${typeof error === "string" ? error : text}`));
        }
        resolvePromise(parsed);
      });
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new ConnectionError(`${url.origin}: no answer within ${o.timeoutMs} ms`)));
    req.on("error", (e: NodeJS.ErrnoException) => {
      if (e instanceof ConnectionError || e.code === "ECONNREFUSED" || e.code === "EHOSTUNREACH" || e.code === "ENETUNREACH") {
        return reject(e instanceof ConnectionError ? e : new ConnectionError(`${url.origin}: ${e.message}`));
      }
      reject(new ReadApiError(`${url.origin}: ${e.message}`));
    });
    if (o.body !== undefined) req.write(o.body);
    req.end();
  });
}
