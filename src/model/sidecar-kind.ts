// The Sidecar kind as the composition root registers it (src/mesh/model.ts): read by sidecar.ts,
// applied and scoped by sidecar-scope.ts. Kept apart so the translators' lookups (lookup.ts ->
// sidecar-scope.ts) never import the kind registry, whose module graph imports them back.
import { networkingApiVersions, type KindHandler } from "./kinds.js";
import { parseSidecar } from "./sidecar.js";
import { checkSidecars, sidecarTouch } from "./sidecar-scope.js";

export const sidecarKind: KindHandler = {
  apiVersions: networkingApiVersions,
  parse: (spec, p) => parseSidecar(spec, p),
  scope: sidecarTouch,
  check: checkSidecars,
};
