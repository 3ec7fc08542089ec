// Authenticates `authorization: Bearer <jwt>` with meshward's own token key. Everything that could
// be forged is checked: the algorithm is pinned to ES256 (no `none`, no HMAC confusion), then the
// signature, issuer, audience, time window and the agreement of `sub` with the kubernetes.io claims.
import { verify, type KeyObject } from "node:crypto";
import type { Metadata } from "@grpc/grpc-js";
import type { AuthnResult, Authenticator, CallerContext } from "./identity.js";
import { CA_AUDIENCE, MAX_TOKEN_LIFETIME_SECONDS, TOKEN_ISSUER } from "./token-key.js";

export interface TokenAuthenticatorOptions {
  readonly trustDomain: string;
  /** Every key whose tokens are accepted (the current one and, during a rotation, the previous). */
  readonly publicKeys: readonly KeyObject[];
  readonly audiences?: readonly string[];
  readonly issuer?: string;
  /** Tolerated clock skew in seconds. */
  readonly leewaySeconds?: number;
  /** The longest lifetime accepted (exp - iat, and exp - now); MAX_TOKEN_LIFETIME_SECONDS (24 h) by default. */
  readonly maxLifetimeSeconds?: number;
  readonly now?: () => number;
}

const SUBJECT = /^system:serviceaccount:([^:]+):([^:]+)$/;

/** The bearer token of a call, if it carries one. */
export function bearerToken(metadata: Metadata): string | undefined {
  for (const v of metadata.get("authorization")) {
    const s = v.toString();
    if (s.slice(0, 7).toLowerCase() === "bearer ") return s.slice(7).trim();
  }
  return undefined;
}

export class MeshwardTokenAuthenticator implements Authenticator {
  readonly name = "meshward-token";
  private readonly audiences: readonly string[];
  private readonly issuer: string;
  private readonly leeway: number;
  private readonly now: () => number;
  /**
   * Tokens already verified, by their exact text: a workload reuses its token for every call, and
   * re-verifying the ES256 signature each time would cost as much as signing its certificate.
   * Expiry is still checked on every hit.
   */
  private readonly verified = new Map<string, { readonly result: AuthnResult; readonly exp: number }>();

  constructor(private readonly opts: TokenAuthenticatorOptions) {
    this.audiences = opts.audiences ?? [CA_AUDIENCE];
    this.issuer = opts.issuer ?? TOKEN_ISSUER;
    this.leeway = opts.leewaySeconds ?? 30;
    this.now = opts.now ?? Date.now;
  }

  async authenticate(ctx: CallerContext): Promise<AuthnResult> {
    const token = bearerToken(ctx.metadata);
    if (token === undefined) return { ok: false, kind: "skip", reason: "no bearer token" };
    const hit = this.verified.get(token);
    if (hit !== undefined) {
      if (hit.exp + this.leeway > Math.floor(this.now() / 1000)) return hit.result;
      this.verified.delete(token);
    }
    const result = this.verify(token);
    if (result.ok) {
      if (this.verified.size >= 10_000) this.verified.clear();
      this.verified.set(token, { result, exp: tokenExpiry(token) });
    }
    return result;
  }

  private verify(token: string): AuthnResult {
    const fail = (reason: string): AuthnResult => ({ ok: false, kind: "fail", reason: `bearer token: ${reason}` });
    const parts = token.split(".");
    if (parts.length !== 3) return fail("not a JWS compact token");
    const header = decodeJson(parts[0]);
    const claims = decodeJson(parts[1]);
    if (header === undefined || claims === undefined) return fail("header or claims are not base64url JSON");
    if (header.alg !== "ES256") return fail(`algorithm ${String(header.alg)} is not accepted (ES256 only)`);
    const signature = Buffer.from(parts[2], "base64url");
    const signed = Buffer.from(`${parts[0]}.${parts[1]}`);
    const good = this.opts.publicKeys.some((key) =>
      verify("sha256", signed, { key, dsaEncoding: "ieee-p1363" }, signature),
    );
    if (!good) return fail("signature does not verify with meshward's token key");
    if (claims.iss !== this.issuer) return fail(`issuer ${String(claims.iss)} is not ${this.issuer}`);
    const aud = typeof claims.aud === "string" ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud : [];
    if (!aud.some((a) => this.audiences.includes(String(a)))) {
      return fail(`audience ${JSON.stringify(aud)} does not include ${this.audiences.join(" or ")}`);
    }
    const now = Math.floor(this.now() / 1000);
    if (typeof claims.exp !== "number") return fail("no expiry (exp)");
    if (claims.exp + this.leeway <= now) return fail(`expired at ${new Date(claims.exp * 1000).toISOString()}`);
    if (typeof claims.nbf === "number" && claims.nbf - this.leeway > now) return fail("not valid yet (nbf)");
    if (typeof claims.iat === "number" && claims.iat - this.leeway > now) return fail("issued in the future (iat)");
    // A stolen long-lived token is a standing credential: bound what a token may be worth.
    const maxLifetime = this.opts.maxLifetimeSeconds ?? MAX_TOKEN_LIFETIME_SECONDS;
    const lifetime = claims.exp - (typeof claims.iat === "number" ? Math.min(claims.iat, now) : now);
    if (lifetime > maxLifetime + this.leeway) return fail(`lifetime ${lifetime}s exceeds the ${maxLifetime}s accepted`);
    const m = SUBJECT.exec(typeof claims.sub === "string" ? claims.sub : "");
    if (m === null) return fail(`subject ${String(claims.sub)} is not system:serviceaccount:<ns>:<sa>`);
    const k8s = claims["kubernetes.io"];
    if (k8s !== undefined) {
      const ns = isRecord(k8s) ? k8s.namespace : undefined;
      const sa = isRecord(k8s) && isRecord(k8s.serviceaccount) ? k8s.serviceaccount.name : undefined;
      if (ns !== m[1] || sa !== m[2]) return fail("kubernetes.io claims disagree with the subject");
    }
    return {
      ok: true,
      identity: { trustDomain: this.opts.trustDomain, namespace: m[1], serviceAccount: m[2] },
      method: this.name,
    };
  }
}

function tokenExpiry(token: string): number {
  const exp = decodeJson(token.split(".")[1] ?? "")?.exp;
  return typeof exp === "number" ? exp : 0;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function decodeJson(part: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
    return isRecord(v) ? v : undefined;
  } catch {
    return undefined;
  }
}
