// meshward's admission webhooks over HTTPS (Istio's port 15017): the serving certificate comes from
// meshward's own CA (rotated with it), which is why the webhook configurations carry meshward's
// root as their caBundle (ca-bundle.ts keeps it current).
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { CaServerCredentials } from "../ca/serving-credentials.js";
import { listenHttp } from "../mesh/monitoring.js";
import { validate, type AdmissionReview } from "./validation.js";

/** The apiserver sends at most a few MiB per object; anything larger is refused unread. */
const MAX_REVIEW_BYTES = 8 * 1024 * 1024;

export const VALIDATE_PATH = "/validate";

export interface WebhookServerOptions {
  /** `host:port`; port 0 picks a free one. */
  readonly address: string;
  readonly serving: CaServerCredentials;
  /** The cluster whose objects are reviewed (their origins name it). */
  readonly clusterId: string;
  readonly log: (line: string) => void;
}

export interface WebhookServer {
  /** The bound address, with the real port. */
  readonly address: string;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_REVIEW_BYTES) {
        reject(new Error(`request body over ${MAX_REVIEW_BYTES} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

export async function startWebhookServer(opts: WebhookServerOptions): Promise<WebhookServer> {
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const send = (code: number, body: unknown): void => {
      res.writeHead(code, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    const path = new URL(req.url ?? "/", "https://webhook").pathname;
    if (req.method !== "POST" || path !== VALIDATE_PATH) return send(404, { message: `no webhook at ${req.method} ${path}` });
    let review: AdmissionReview;
    try {
      review = JSON.parse(await readBody(req)) as AdmissionReview;
      return send(200, validate(review, opts.clusterId));
    } catch (e) {
      opts.log(`meshward webhook: ${path}: ${(e as Error).message}`);
      return send(400, { message: (e as Error).message });
    }
  };
  const server: Server = createServer(opts.serving.keyAndChain(), (req, res) => void handle(req, res));
  opts.serving.onRotate(() => server.setSecureContext(opts.serving.keyAndChain()));
  const address = await listenHttp(server, opts.address);
  return {
    address,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
