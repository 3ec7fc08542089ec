// Runs the configured authenticators in order; the first success wins (as istiod). The list is
// the extension point: a Kubernetes TokenReview authenticator is one more `Authenticator` placed
// in it, with no change here or in the CA and xDS servers that call this.
import type { AuthnResult, Authenticator, CallerContext } from "./identity.js";

export type CallerAuthentication =
  | Extract<AuthnResult, { ok: true }>
  | { readonly ok: false; readonly reason: string };

export async function authenticateCaller(
  authenticators: readonly Authenticator[],
  ctx: CallerContext,
): Promise<CallerAuthentication> {
  const reasons: string[] = [];
  for (const a of authenticators) {
    let result: AuthnResult;
    try {
      result = await a.authenticate(ctx);
    } catch (e) {
      // An authenticator that throws (e.g. its backend is down) fails closed for its method only.
      result = { ok: false, kind: "fail", reason: `${a.name}: ${(e as Error).message}` };
    }
    if (result.ok) return result;
    reasons.push(result.reason);
  }
  return {
    ok: false,
    reason: reasons.length === 0 ? "no authenticator is configured" : `no valid credentials: ${reasons.join("; ")}`,
  };
}
