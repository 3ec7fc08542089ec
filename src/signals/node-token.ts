// Node identity by bearer token until node certificates from the CA are wired in: the control
// plane keeps sha256(token) per node in a 0600 file; an agent presents `authorization: Bearer <token>`
// and is known as spiffe://<td>/ns/meshward-system/sa/node-<name>.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { Authenticator, AuthnResult, CallerContext, WorkloadIdentity } from "../security/identity.js";

export const NODE_NAMESPACE = "meshward-system";

export function nodeIdentity(node: string, trustDomain = "cluster.local"): WorkloadIdentity {
  return { trustDomain, namespace: NODE_NAMESPACE, serviceAccount: `node-${node}` };
}

/** The node an identity stands for, or undefined when it is not a node identity. */
export function nodeOfIdentity(id: WorkloadIdentity): string | undefined {
  if (id.namespace !== NODE_NAMESPACE || !id.serviceAccount.startsWith("node-")) return undefined;
  const node = id.serviceAccount.slice("node-".length);
  return node === "" ? undefined : node;
}

function digest(token: string): Buffer {
  return createHash("sha256").update(token).digest();
}

function readTokens(file: string): Record<string, string> {
  if (!existsSync(file)) return {};
  return JSON.parse(readFileSync(file, "utf8")) as Record<string, string>;
}

/** Creates (or rotates) the token of a node; returns the token, stores only its hash. */
export function createNodeToken(file: string, node: string): string {
  if (!/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(node)) throw new Error(`node name "${node}": expected a DNS-1123 name`);
  const token = `mwn_${randomBytes(32).toString("base64url")}`;
  const tokens = readTokens(file);
  tokens[node] = digest(token).toString("hex");
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(tokens, null, 2), { mode: 0o600 });
  renameSync(tmp, file);
  return token;
}

export class NodeTokenAuthenticator implements Authenticator {
  readonly name = "node-token";
  private cache: { mtimeMs: number; entries: Array<[string, Buffer]> } | undefined;

  constructor(private readonly file: string, private readonly trustDomain = "cluster.local") {}

  private entries(): Array<[string, Buffer]> {
    let mtimeMs = -1;
    try {
      mtimeMs = statSync(this.file).mtimeMs;
    } catch {
      return [];
    }
    if (this.cache?.mtimeMs !== mtimeMs) {
      const entries = Object.entries(readTokens(this.file)).map(([n, h]): [string, Buffer] => [n, Buffer.from(h, "hex")]);
      this.cache = { mtimeMs, entries };
    }
    return this.cache.entries;
  }

  async authenticate(ctx: CallerContext): Promise<AuthnResult> {
    const header = ctx.metadata.get("authorization")[0];
    if (typeof header !== "string" || !header.startsWith("Bearer mwn_")) return { ok: false, kind: "skip", reason: "no node token" };
    const d = digest(header.slice("Bearer ".length));
    for (const [node, h] of this.entries()) {
      if (h.length === d.length && timingSafeEqual(h, d)) {
        return { ok: true, identity: nodeIdentity(node, this.trustDomain), method: this.name };
      }
    }
    return { ok: false, kind: "fail", reason: "unknown node token" };
  }
}
