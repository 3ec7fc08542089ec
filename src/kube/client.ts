// The one place that talks to a kube-apiserver. Credentials come from a kubeconfig file
// (`--kubeconfig`) or, inside a pod, from the in-cluster service account (KUBERNETES_SERVICE_HOST),
// both read by @kubernetes/client-node's KubeConfig. Requests are plain JSON over the client's
// TLS settings; watches use client-node's Watch. Informers (informer.ts) build on these two.
import { Agent as HttpsAgent, request as httpsRequest, type AgentOptions } from "node:https";
import { request as httpRequest, type RequestOptions } from "node:http";
import { KubeConfig, Watch } from "@kubernetes/client-node";

export interface KubeClientOptions {
  /** A kubeconfig file; absent: in-cluster configuration (KUBERNETES_SERVICE_HOST must be set). */
  readonly kubeconfig?: string;
}

/** An apiserver answer other than 2xx, with the Status' reason and message. */
export class KubeApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

/** A request that failed on a reused keep-alive connection before the server saw it. */
class StaleConnectionError extends Error {}

/** Loads the kubeconfig, or says clearly why there is none. */
export function loadKubeConfig(opts: KubeClientOptions): KubeConfig {
  const kc = new KubeConfig();
  if (opts.kubeconfig !== undefined) {
    try {
      kc.loadFromFile(opts.kubeconfig);
    } catch (e) {
      throw new Error(`--kubeconfig ${opts.kubeconfig}: ${(e as Error).message}`);
    }
  } else if (process.env["KUBERNETES_SERVICE_HOST"] !== undefined && process.env["KUBERNETES_SERVICE_HOST"] !== "") {
    kc.loadFromCluster();
  } else {
    throw new Error("no Kubernetes configuration: pass --kubeconfig FILE, or run in a pod (KUBERNETES_SERVICE_HOST)");
  }
  if (kc.getCurrentCluster() === null) throw new Error(`${opts.kubeconfig ?? "in-cluster configuration"}: no current cluster`);
  return kc;
}

export type WatchEventHandler = (type: string, object: unknown) => void;

export class KubeClient {
  readonly config: KubeConfig;
  readonly server: URL;
  private readonly watcher: Watch;
  /** Kept-alive TLS connections: a TLS handshake (and a new secure context) per request cost more than the request. */
  private agent: HttpsAgent | undefined;

  constructor(opts: KubeClientOptions | KubeConfig) {
    this.config = opts instanceof KubeConfig ? opts : loadKubeConfig(opts);
    this.server = new URL(this.config.getCurrentCluster()!.server);
    this.watcher = new Watch(this.config);
  }

  /** One JSON request; resolves with the parsed body of a 2xx answer, rejects with KubeApiError otherwise. */
  async request<T>(method: string, path: string, body?: unknown, contentType = "application/json", timeoutMs = 30_000): Promise<T> {
    try {
      return await this.send<T>(method, path, body, contentType, timeoutMs);
    } catch (e) {
      // A kept-alive connection the server closed meanwhile (an apiserver restart): the request
      // never reached it, so it is sent again once on a new connection (Node's documented pattern).
      if (!(e instanceof StaleConnectionError)) throw e;
      return this.send<T>(method, path, body, contentType, timeoutMs);
    }
  }

  private async send<T>(method: string, path: string, body: unknown, contentType: string, timeoutMs: number): Promise<T> {
    const url = new URL(path, this.server);
    const options: RequestOptions = {
      method,
      protocol: url.protocol,
      hostname: url.hostname.replace(/^\[|\]$/g, ""),
      port: url.port,
      path: `${url.pathname}${url.search}`,
      headers: { accept: "application/json", ...(body !== undefined ? { "content-type": contentType } : {}) },
      timeout: timeoutMs,
    };
    await this.config.applyToHTTPSOptions(options);
    if (url.protocol === "https:") {
      // The TLS material is the kubeconfig's and does not change; headers (tokens) are applied per request.
      const tls = options as AgentOptions;
      this.agent ??= new HttpsAgent({ keepAlive: true, maxSockets: 32, ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: tls.rejectUnauthorized, servername: tls.servername });
      options.agent = this.agent;
    }
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise<T>((resolve, reject) => {
      const req = (url.protocol === "http:" ? httpRequest : httpsRequest)(options, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let parsed: unknown;
          try {
            parsed = text === "" ? {} : JSON.parse(text);
          } catch {
            parsed = { message: text };
          }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) return resolve(parsed as T);
          const s = (parsed ?? {}) as { reason?: unknown; message?: unknown };
          reject(new KubeApiError(status, typeof s.reason === "string" ? s.reason : "", `${method} ${url.pathname}: ${status} ${typeof s.message === "string" ? s.message : text}`));
        });
      });
      req.on("timeout", () => req.destroy(new Error(`${method} ${url.pathname}: timed out after ${timeoutMs / 1000} s`)));
      req.on("error", (e: NodeJS.ErrnoException) => reject(req.reusedSocket && e.code === "ECONNRESET" ? new StaleConnectionError(e.message) : e));
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  /**
   * Starts a watch; `done` runs once when it ends (null: closed by the server, e.g. its timeout).
   * The returned function stops it.
   */
  async watch(path: string, query: Readonly<Record<string, string | number | boolean>>, onEvent: WatchEventHandler, done: (err: unknown) => void): Promise<() => void> {
    const controller = await this.watcher.watch(path, { ...query }, (type: string, object: unknown) => onEvent(type, object), done);
    return () => controller.abort();
  }

  /** Closes kept-alive connections (watches end with their own stop functions). */
  close(): void {
    this.agent?.destroy();
    this.agent = undefined;
  }
}
