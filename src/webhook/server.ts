// meshward's admission webhooks over HTTPS (Istio's port 15017): the serving certificate comes from
// meshward's own CA (rotated with it), which is why the webhook configurations carry meshward's
// root as their caBundle (ca-bundle.ts keeps it current).
import { readBoundedBody } from "../mesh/http-body.js";
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { CaServerCredentials } from "../ca/serving-credentials.js";
import { listenHttp } from "../mesh/monitoring.js";
import type { Metrics } from "../telemetry/metrics.js";
import { validate, type AdmissionReview } from "./validation.js";
import { INJECT_PATH, injectReview } from "./inject.js";
import type { InjectionValues } from "./inject-templates.js";

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
  /** Serve the injector at INJECT_PATH with these values; absent: no injection. */
  readonly injection?: InjectionValues;
  /** Where `meshward_injections_total` is counted (by result). */
  readonly metrics?: Metrics;
}

export interface WebhookServer {
  /** The bound address, with the real port. */
  readonly address: string;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return readBoundedBody(req, MAX_REVIEW_BYTES);
}

export async function startWebhookServer(opts: WebhookServerOptions): Promise<WebhookServer> {
  const injections = opts.injection !== undefined ? opts.metrics?.counter("meshward_injections_total", "Pods the injector saw, by result: injected, skipped (already injected, hostNetwork, opted out) or failed (admitted unchanged).", ["result"]) : undefined;
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const send = (code: number, body: unknown): void => {
      res.writeHead(code, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    const path = new URL(req.url ?? "/", "https://webhook").pathname;
    const inject = opts.injection !== undefined && path === INJECT_PATH;
    if (req.method !== "POST" || (path !== VALIDATE_PATH && !inject)) return send(404, { message: `no webhook at ${req.method} ${path}` });
    let review: AdmissionReview;
    try {
      review = JSON.parse(await readBody(req)) as AdmissionReview;
      if (inject) {
        const { response, report } = injectReview(review, opts.injection!);
        injections?.inc({ result: report.outcome.result });
        if (report.outcome.result === "failed") opts.log(`meshward injector: ${report.pod}: admitted without injection: ${report.outcome.reason}`);
        else if (report.outcome.result === "injected") opts.log(`meshward injector: ${report.pod}: injected (${report.outcome.template})`);
        return send(200, response);
      }
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
