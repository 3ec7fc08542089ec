// The `when` condition keys Istio accepts, in one place for validation and translation.

export const ATTR = {
  requestHeader: "request.headers", // request.headers[Name]
  requestInlineHeader: "request.experimental.inline.headers", // request.experimental.inline.headers[Name]
  sourceIp: "source.ip",
  remoteIp: "remote.ip",
  sourceNamespace: "source.namespace",
  sourceServiceAccount: "source.serviceAccount",
  sourceTrustDomain: "source.trustDomain",
  sourcePrincipal: "source.principal",
  requestPrincipal: "request.auth.principal",
  requestAudiences: "request.auth.audiences",
  requestPresenter: "request.auth.presenter",
  requestClaims: "request.auth.claims", // request.auth.claims[a][b]
  destinationIp: "destination.ip",
  destinationPort: "destination.port",
  connectionSni: "connection.sni",
  envoyFilter: "experimental.envoy.filters.", // experimental.envoy.filters.a.b[c]
} as const;

/** Keys istiod names specifically when it rejects them. */
export const REJECTED_ATTR: Readonly<Record<string, string>> = {
  "destination.namespace": "is replaced by the metadata.namespace",
  "destination.name": "is deprecated: only supported in v1alpha1",
  "destination.user": "is deprecated: only supported in v1alpha1",
};
export const DESTINATION_LABELS_PREFIX = "destination.labels";

/** `a[b]` and `a[b][c]` forms: the part before the first `[` and a non-empty name. */
export function hasMapKeyForm(key: string): boolean {
  const open = key.indexOf("[");
  return key.endsWith("]") && open > 0 && open < key.length - 2;
}

/** `[name]` → `name`; undefined when the brackets are missing. */
export function nameInBrackets(s: string): string | undefined {
  return s.startsWith("[") && s.endsWith("]") ? s.slice(1, -1) : undefined;
}

/** `[a][b]` → `[a, b]`; a malformed sequence falls back to the single-bracket reading as istiod does. */
export function namesInNestedBrackets(s: string): string[] | undefined {
  const names: string[] = [];
  let begin = 0;
  while (begin < s.length) {
    let end = -1;
    if (s[begin] === "[") {
      for (let i = begin + 1; i < s.length; i++) {
        if (s[i] === "[") break;
        if (s[i] === "]") {
          end = i;
          break;
        }
      }
    }
    if (end === -1) {
      const one = nameInBrackets(s);
      return one === undefined ? undefined : [one];
    }
    names.push(s.slice(begin + 1, end));
    begin = end + 1;
  }
  return names;
}
