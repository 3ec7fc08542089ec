// Authenticates Kubernetes service-account tokens (`authorization: Bearer <jwt>`) by asking the
// cluster's apiserver (TokenReview, audience `istio-ca`), as istiod's kube JWT authenticator does.
// Only bound tokens (from the TokenRequest API: they carry an expiry) are accepted; a token whose
// review succeeded is cached, by its SHA-256, until it expires (bounded: the oldest entries go
// first), so a workload's repeated calls cost one review. Fails closed: an apiserver that cannot
// be reached authenticates nobody. Tokens issued by meshward itself are left to its own
// authenticator (no apiserver round trip for them).
import { createHash } from "node:crypto";
import type { AuthnResult, Authenticator, CallerContext, WorkloadIdentity } from "./identity.js";
import { bearerToken } from "./token-authenticator.js";
import { CA_AUDIENCE, TOKEN_ISSUER } from "./token-key.js";
import type { KubeClient } from "../kube/client.js";

export interface TokenReviewOptions {
  readonly client: KubeClient;
  /** The cluster this apiserver is; a caller's `clusterid` metadata must name it when present. */
  readonly clusterId: string;
  readonly trustDomain: string;
  /** Audiences the token must be for (default `istio-ca`). */
  readonly audiences?: readonly string[];
  /** Most cached reviews (default 10,000). */
  readonly maxCached?: number;
  readonly now?: () => number;
  /**
   * Turns the reviewed service account into the identity callers of this authenticator stand for
   * (the signal API: the agent's ServiceAccount -> its node), or refuses it with the reason.
   */
  readonly mapIdentity?: (reviewed: WorkloadIdentity, extra: Readonly<Record<string, readonly string[]>>) => WorkloadIdentity | string;
}

interface TokenReviewAnswer {
  readonly status?: {
    readonly authenticated?: boolean;
    readonly error?: string;
    readonly audiences?: readonly string[];
    readonly user?: { readonly username?: string; readonly extra?: Readonly<Record<string, readonly string[]>> };
  };
}

const SUBJECT = /^system:serviceaccount:([^:]+):([^:]+)$/;

/** The unverified claims of a JWT (for routing and expiry only; the apiserver verifies). */
function claimsOf(token: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8"));
    return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export class TokenReviewAuthenticator implements Authenticator {
  readonly name = "kubernetes-tokenreview";
  private readonly audiences: readonly string[];
  private readonly maxCached: number;
  private readonly now: () => number;
  /** sha256(token) -> the review's identity and the token's expiry (seconds). */
  private readonly cache = new Map<string, { readonly result: AuthnResult; readonly exp: number }>();
  /** Reviews in flight, so a burst of calls with one token makes one review. */
  private readonly inflight = new Map<string, Promise<AuthnResult>>();
  /** Reviews made (for tests and /debug). */
  reviews = 0;

  constructor(private readonly opts: TokenReviewOptions) {
    this.audiences = opts.audiences ?? [CA_AUDIENCE];
    this.maxCached = opts.maxCached ?? 10_000;
    this.now = opts.now ?? Date.now;
  }

  async authenticate(ctx: CallerContext): Promise<AuthnResult> {
    const token = bearerToken(ctx.metadata);
    if (token === undefined) return { ok: false, kind: "skip", reason: "no bearer token" };
    const claims = claimsOf(token);
    if (claims?.["iss"] === TOKEN_ISSUER) return { ok: false, kind: "skip", reason: "a meshward token" };
    const fail = (reason: string): AuthnResult => ({ ok: false, kind: "fail", reason: `service-account token: ${reason}` });
    const cluster = ctx.metadata.get("clusterid")[0]?.toString();
    if (cluster !== undefined && cluster !== "" && cluster !== this.opts.clusterId) return fail(`cluster ${cluster} is not this control plane's (${this.opts.clusterId})`);
    const exp = claims?.["exp"];
    if (typeof exp !== "number") return fail("has no expiry: only bound tokens (TokenRequest API) are accepted");
    const nowSeconds = Math.floor(this.now() / 1000);
    if (exp <= nowSeconds) return fail(`expired at ${new Date(exp * 1000).toISOString()}`);
    const key = createHash("sha256").update(token).digest("base64url");
    const hit = this.cache.get(key);
    if (hit !== undefined) {
      if (hit.exp > nowSeconds) return hit.result;
      this.cache.delete(key);
    }
    let review = this.inflight.get(key);
    if (review === undefined) {
      review = this.review(token, fail).finally(() => this.inflight.delete(key));
      this.inflight.set(key, review);
    }
    const result = await review;
    if (result.ok) {
      if (this.cache.size >= this.maxCached) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(key, { result, exp });
    }
    return result;
  }

  private async review(token: string, fail: (reason: string) => AuthnResult): Promise<AuthnResult> {
    this.reviews++;
    let answer: TokenReviewAnswer;
    try {
      answer = await this.opts.client.request<TokenReviewAnswer>("POST", "/apis/authentication.k8s.io/v1/tokenreviews", {
        apiVersion: "authentication.k8s.io/v1",
        kind: "TokenReview",
        spec: { token, audiences: this.audiences },
      });
    } catch (e) {
      return fail(`TokenReview failed: ${(e as Error).message}`);
    }
    const status = answer.status ?? {};
    if (status.authenticated !== true) return fail(`rejected by the apiserver: ${status.error ?? "not authenticated"}`);
    // The apiserver answers with the audiences it checked; none of ours means it checked others.
    if (!(status.audiences ?? []).some((a) => this.audiences.includes(a))) return fail(`not for audience ${this.audiences.join(" or ")}`);
    const m = SUBJECT.exec(status.user?.username ?? "");
    if (m === null) return fail(`user ${status.user?.username ?? "(none)"} is not a service account`);
    const reviewed: WorkloadIdentity = { trustDomain: this.opts.trustDomain, namespace: m[1]!, serviceAccount: m[2]! };
    const identity = this.opts.mapIdentity !== undefined ? this.opts.mapIdentity(reviewed, status.user?.extra ?? {}) : reviewed;
    if (typeof identity === "string") return fail(identity);
    return { ok: true, identity, method: this.name, cluster: this.opts.clusterId };
  }
}
