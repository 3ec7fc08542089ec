// AuthorizationPolicy as a kind of the mesh model: read and validated on admission, so a bad
// policy is rejected alone (keeping its last good version) with file, object and field path.
import type { KindHandler } from "../model/kinds.js";
import { AUTHORIZATION_POLICY_API_VERSIONS } from "./policy.js";
import { checkAuthorizationPolicy } from "./admit.js";

export const authorizationPolicyKind: KindHandler = {
  apiVersions: AUTHORIZATION_POLICY_API_VERSIONS,
  parse(_spec, p, object) {
    const checked = checkAuthorizationPolicy(object);
    for (const e of checked.errors) p.error(e.path, e.message);
    for (const w of checked.warnings) p.warn(w.path, w.message);
    // The model keeps the typed spec; translators rebuild the policy with authorizationPolicyOf.
    return checked.policy?.spec;
  },
};
