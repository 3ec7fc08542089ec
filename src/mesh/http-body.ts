// Reading an HTTP request body with a size bound, for the control plane's HTTP endpoints (admission
// webhooks, the read API): a caller cannot make the server buffer more than the endpoint needs.
import type { IncomingMessage } from "node:http";

export class BodyTooLargeError extends Error {}

/**
 * The body as UTF-8; rejects with BodyTooLargeError past `maxBytes`: at once, reading nothing, when
 * Content-Length says so (the caller can still answer), else by dropping the request once it is.
 */
export function readBoundedBody(req: IncomingMessage, maxBytes: number): Promise<string> {
  const declared = Number(req.headers["content-length"] ?? "0");
  if (declared > maxBytes) return Promise.reject(new BodyTooLargeError(`request body over ${maxBytes} bytes`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > maxBytes) {
        reject(new BodyTooLargeError(`request body over ${maxBytes} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}
