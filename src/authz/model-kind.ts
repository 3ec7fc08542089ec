// AuthorizationPolicy as a kind of the mesh model: read and validated on admission, so a bad
// policy is rejected alone (keeping its last good version) with file, object and field path; a
// change touches exactly the proxies its old or new version selects. Registered by the
// composition root (src/mesh/model.ts).
import type { KindHandler } from "../model/kinds.js";
import { AUTHORIZATION_POLICY_API_VERSIONS } from "./policy.js";
import { checkAuthorizationPolicy } from "./admit.js";
import { changedPolicies, policiesSelect } from "./mesh-input.js";

export const authorizationPolicyKind: KindHandler = {
  apiVersions: AUTHORIZATION_POLICY_API_VERSIONS,
  parse(_spec, p, object) {
    const checked = checkAuthorizationPolicy(object);
    for (const e of checked.errors) p.error(e.path, e.message);
    for (const w of checked.warnings) p.warn(w.path, w.message);
    // The model keeps the typed spec; translators rebuild the policy with authorizationPolicyOf.
    return checked.policy?.spec;
  },
  scope(before, after, next) {
    const policies = changedPolicies(before, after);
    if (policies.length === 0) return undefined;
    return { all: false, affects: (proxy) => policiesSelect(policies, proxy, next.mesh.rootNamespace) };
  },
};
