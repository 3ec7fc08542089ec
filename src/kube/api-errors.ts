// What an apiserver call failed with, for the Kubernetes parts of the control plane:
// client-node 1.4 throws ApiException with the HTTP code and the Status object as body.
import { ApiException } from "@kubernetes/client-node";

function codeOf(e: unknown): number | undefined {
  return e instanceof ApiException ? (e as ApiException<unknown>).code : undefined;
}

export const isNotFound = (e: unknown): boolean => codeOf(e) === 404;
/** 409: AlreadyExists on create, Conflict (stale resourceVersion) on replace. */
export const isConflict = (e: unknown): boolean => codeOf(e) === 409;

/** The apiserver's message (its Status object's `message`) or the error's own. */
export function apiStatus(e: unknown): string {
  if (e instanceof ApiException) {
    const body = (e as ApiException<unknown>).body;
    let message: unknown;
    try {
      message = (typeof body === "string" ? (JSON.parse(body) as { message?: unknown }) : (body as { message?: unknown } | undefined))?.message;
    } catch {
      message = body;
    }
    return `HTTP ${e.code}${typeof message === "string" ? `: ${message}` : ""}`;
  }
  return e instanceof Error ? e.message : String(e);
}
