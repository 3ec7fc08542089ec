// RuntimePolicy as a kind of the mesh model: validated on admission like every other kind, so a
// bad policy is rejected alone (its last good version kept) with file, object and field path. No
// translator reads it: the risk stage takes the accepted ones from the snapshot, and a change to
// one pushes nothing to any proxy.
import type { KindHandler } from "../model/kinds.js";
import { RUNTIME_POLICY_API_VERSION, validateRuntimePolicy } from "./runtime-policy.js";

export const runtimePolicyKind: KindHandler = {
  apiVersions: [RUNTIME_POLICY_API_VERSION],
  scope: "none",
  parse(spec, p, object) {
    const r = validateRuntimePolicy(object);
    for (const e of r.errors) p.error(e.path, e.message);
    return r.policy === undefined ? undefined : spec;
  },
};
