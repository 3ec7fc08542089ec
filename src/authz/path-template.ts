// Istio path templates (`{*}` one segment, `{**}` any number of segments) and their Envoy
// uri_template form (`*`, `**`).

export const MATCH_ONE_TEMPLATE = "{*}";
export const MATCH_ANY_TEMPLATE = "{**}";

/** UriTemplateMatchConfig.path_template's max_len in Envoy's validation rules. */
const MAX_ENVOY_PATH_TEMPLATE = 256;

// RFC 3986 pchar, as Envoy requires of template literals.
const VALID_LITERAL = /^[a-zA-Z0-9\-._~%!$&'()+,;:@=]+$/;

export function containsPathTemplate(path: string): boolean {
  return path.includes(MATCH_ONE_TEMPLATE) || path.includes(MATCH_ANY_TEMPLATE);
}

/** Why istiod rejects a path (templates: `{**}` last, no other braces, pchar literals), else undefined. */
export function pathTemplateProblem(path: string): string | undefined {
  const isTemplate = containsPathTemplate(path);
  // Beyond istiod: Envoy NACKs a uri_template longer than this, taking the whole listener down.
  if (isTemplate && envoyPathTemplate(path).length > MAX_ENVOY_PATH_TEMPLATE) return `a path template may have at most ${MAX_ENVOY_PATH_TEMPLATE} characters`;
  let sawMatchAny = false;
  for (const segment of path.replace(/^\/+|\/+$/g, "").split("/")) {
    if (segment === MATCH_ONE_TEMPLATE || segment === MATCH_ANY_TEMPLATE) {
      if (sawMatchAny) return "{**} is not the last operator";
      if (segment === MATCH_ANY_TEMPLATE) sawMatchAny = true;
      continue;
    }
    if (segment.includes("{") || segment.includes("}")) return "contains '{' or '}' beyond a supported path template";
    if (isTemplate && !VALID_LITERAL.test(segment)) return `contains segment ${segment} with invalid string literal`;
  }
  return undefined;
}

// Replaces {*} with * and {**} with **, the form of Envoy's UriTemplateMatchConfig.path_template.
export function envoyPathTemplate(path: string): string {
  return path.split(MATCH_ANY_TEMPLATE).map((part) => part.split(MATCH_ONE_TEMPLATE).join("*")).join("**");
}
