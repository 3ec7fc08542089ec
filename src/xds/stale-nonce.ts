// The stale-nonce rule shared by SotW and delta streams (xds-protocol.md §1, envoy #10363): a
// request echoing an older nonce is never answered, but the subscription change it carries is
// kept and answered by the next current request or push, so no subscription is lost.
import type { Acknowledgement, TypeState } from "./stream.js";

/** Whether to answer this request now; a stale request's change is parked in `t.dirty`. */
export function answerNow(t: TypeState, ack: Acknowledgement, subscriptionChanged: boolean): boolean {
  if (ack === "stale") {
    if (subscriptionChanged) t.dirty = true;
    return false;
  }
  const answer = subscriptionChanged || t.dirty;
  t.dirty = false;
  return answer;
}
