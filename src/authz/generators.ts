// One generator per AuthorizationPolicy field or `when` key: each turns the field's values into an
// Envoy RBAC permission or principal. HTTP-only fields refuse TCP chains with a GenerationError,
// which the rule model turns into istiod's narrower-ALLOW / broader-DENY behaviour.
import type { Permission, Principal } from "../gen/envoy/config/rbac/v3/rbac_pb.js";
import type { StringMatcher } from "../gen/envoy/type/matcher/v3/string_pb.js";
import type { ValueMatcher } from "../gen/envoy/type/matcher/v3/value_pb.js";
import type { CidrRange } from "../gen/envoy/config/core/v3/address_pb.js";
import { ATTR, nameInBrackets, namesInNestedBrackets } from "./attributes.js";
import { parseCidr, parsePort } from "../model/cidr.js";
import { containsPathTemplate } from "./path-template.js";
import {
  cidrRange, headerMatcher, hostMatcher, inlineHeaderMatcher, listValue, metadataListOrValueMatcher, metadataMatcher,
  orValue, pathMatcher, pathTemplateMatcher, quoteRegex, stringExact, stringMatcher, stringMatcherWithPrefix,
  stringOrValue, stringPrefix, stringRegex, stringSuffix, stringValue,
} from "./matchers.js";
import {
  permissionDestinationIp, permissionDestinationPort, permissionHeader, permissionMetadata, permissionPath,
  permissionPathTemplate, permissionRequestedServerName, principalAnd, principalAuthenticated, principalDirectRemoteIp,
  principalHeader, principalMetadata, principalOr, principalRemoteIp,
} from "./rbac-terms.js";

/** Why a value cannot become a matcher on this chain; the rule model decides what that means. */
export class GenerationError {
  constructor(readonly message: string) {}
}
export type Generated<T> = T | GenerationError;

/** `each` generators make one matcher per value (OR'ed); `all` generators see the value list at once. */
export type Generator<T> =
  | { readonly each: (key: string, value: string, forTcp: boolean) => Generated<T> }
  | { readonly all: (key: string, values: readonly string[], forTcp: boolean) => Generated<T> };
export type PermissionGenerator = Generator<Permission>;
export type PrincipalGenerator = Generator<Principal>;

const SPIFFE = "spiffe://";
const JWT_FILTER = "envoy.filters.http.jwt_authn";
const JWT_PAYLOAD = "payload";
const httpOnly = (key: string): GenerationError => new GenerationError(`"${key}" is HTTP only`);

/** An IP or CIDR value as a leaf built by `make`. */
function cidrGenerator<T>(make: (c: CidrRange) => T): Generator<T> {
  return {
    each: (_k, v) => {
      const parsed = parseCidr(v);
      return "error" in parsed ? new GenerationError(parsed.error) : make(cidrRange(parsed));
    },
  };
}

// ---- permissions (what is accessed) ----

export const destinationIpGenerator = cidrGenerator(permissionDestinationIp);

export const destinationPortGenerator: PermissionGenerator = {
  each: (_k, v) => {
    const port = parsePort(v);
    return port === undefined ? new GenerationError(`invalid port ${v}`) : permissionDestinationPort(port);
  },
};

export const connectionSniGenerator: PermissionGenerator = {
  each: (_k, v) => permissionRequestedServerName(stringMatcher(v)),
};

/** `experimental.envoy.filters.a.b[c]` → dynamic metadata of filter `envoy.filters.a.b`, key `c`; `[v]` values match list elements. */
export const envoyFilterGenerator: PermissionGenerator = {
  all: (key, values) => {
    const body = key.slice("experimental.".length).replace(/\]$/, "");
    const open = body.indexOf("[");
    if (open < 0) return new GenerationError(`invalid key: ${key}`);
    const matchers: ValueMatcher[] = values.map((v) =>
      v.startsWith("[") && v.endsWith("]") ? listValue(stringValue(stringMatcher(v.replace(/^[[\]]+|[[\]]+$/g, "")))) : stringValue(stringMatcher(v)),
    );
    return permissionMetadata(metadataMatcher(body.slice(0, open), [body.slice(open + 1)], orValue(matchers)));
  },
};

export const hostGenerator: PermissionGenerator = {
  each: (k, v, forTcp) => (forTcp ? httpOnly(k) : permissionHeader(hostMatcher(":authority", v))),
};

export const methodGenerator: PermissionGenerator = {
  each: (k, v, forTcp) => (forTcp ? httpOnly(k) : permissionHeader(headerMatcher(":method", v))),
};

export const pathGenerator: PermissionGenerator = {
  each: (k, v, forTcp) => {
    if (forTcp) return httpOnly(k);
    return containsPathTemplate(v) ? permissionPathTemplate(pathTemplateMatcher(v)) : permissionPath(pathMatcher(v));
  },
};

// ---- principals (who is asking) ----

/** `source.ip`/`ipBlocks`: the peer address of the connection. */
export const sourceIpGenerator = cidrGenerator(principalDirectRemoteIp);
/** `remote.ip`/`remoteIpBlocks`: the original client from X-Forwarded-For or PROXY protocol. */
export const remoteIpGenerator = cidrGenerator(principalRemoteIp);

/** Each literal between `*`s is QuoteMeta'd, then the `*`s become `.*` (istiod's order). */
export const sourceNamespaceGenerator: PrincipalGenerator = {
  each: (_k, v) => principalAuthenticated(stringRegex(`.*/ns/${v.split("*").map(quoteRegex).join(".*")}/.*`)),
};

/** `sa` (in the policy's namespace) or `ns/sa`; matches any trust domain and extra path segments. */
export function serviceAccountGenerator(policyNamespace: string): PrincipalGenerator {
  return {
    each: (_k, v) => {
      const slash = v.indexOf("/");
      const [ns, sa] = slash < 0 ? [policyNamespace, v] : [v.slice(0, slash), v.slice(slash + 1)];
      return principalAuthenticated(stringRegex(`spiffe://.+/ns/${quoteRegex(ns)}/(.+/|)sa/${quoteRegex(sa)}(/.+)?`));
    },
  };
}

export const sourcePrincipalGenerator: PrincipalGenerator = {
  each: (_k, v) => principalAuthenticated(stringMatcherWithPrefix(v, SPIFFE)),
};

/**
 * A trust domain matches every SPIFFE ID under it; the first `*` matches within one path segment
 * and the literals around it are QuoteMeta'd (validation allows one `*`, at either end).
 */
export const trustDomainGenerator: PrincipalGenerator = {
  each: (_k, v) => {
    if (v === "*") return principalAuthenticated(stringPrefix(SPIFFE));
    const star = v.indexOf("*");
    if (star < 0) return principalAuthenticated(stringPrefix(`${SPIFFE}${v}/`));
    return principalAuthenticated(stringRegex(`spiffe://${quoteRegex(v.slice(0, star))}[^/]*${quoteRegex(v.slice(star + 1))}/.*`));
  },
};

const matchAny = (): StringMatcher => stringRegex(".+");
const jwtClaim = (claim: string, m: StringMatcher): Principal =>
  principalMetadata(metadataMatcher(JWT_FILTER, [JWT_PAYLOAD, claim], stringValue(m)));

/** `iss/sub` split at the last `/` (issuers are URLs); each value is an AND of an iss and a sub matcher. */
export const requestPrincipalGenerator: PrincipalGenerator = {
  all: (key, values, forTcp) => {
    if (forTcp) return httpOnly(key);
    const or = values.map((value) => {
      const idx = value.lastIndexOf("/");
      const found = idx >= 0;
      const iss = found ? value.slice(0, idx) : value;
      const sub = found ? value.slice(idx + 1) : "";
      let matchIss: StringMatcher;
      let matchSub: StringMatcher;
      if (value === "*") {
        [matchIss, matchSub] = [matchAny(), matchAny()];
      } else if (value.startsWith("*")) {
        [matchIss, matchSub] = found
          ? [iss === "*" ? matchAny() : stringSuffix(iss.slice(1)), stringExact(sub)]
          : [matchAny(), stringSuffix(value.slice(1))];
      } else if (value.endsWith("*")) {
        [matchIss, matchSub] = found
          ? [stringExact(iss), sub === "*" ? matchAny() : stringPrefix(sub.slice(0, -1))]
          : [stringPrefix(value.slice(0, -1)), matchAny()];
      } else {
        [matchIss, matchSub] = [stringExact(iss), stringExact(sub)];
      }
      return principalAnd([jwtClaim("iss", matchIss), jwtClaim("sub", matchSub)]);
    });
    return or.length === 1 && or[0] !== undefined ? or[0] : principalOr(or);
  },
};

function jwtClaimsGenerator(claims: (key: string) => string[] | undefined): PrincipalGenerator {
  return {
    all: (key, values, forTcp) => {
      if (forTcp) return httpOnly(key);
      const path = claims(key);
      if (path === undefined) return new GenerationError(`expecting format [<NAME>], but found ${key}`);
      return principalMetadata(metadataListOrValueMatcher(JWT_FILTER, [JWT_PAYLOAD, ...path], stringOrValue(values)));
    },
  };
}

export const requestAudiencesGenerator = jwtClaimsGenerator(() => ["aud"]);
export const requestPresenterGenerator = jwtClaimsGenerator(() => ["azp"]);
export const requestClaimGenerator = jwtClaimsGenerator((key) => namesInNestedBrackets(key.slice(ATTR.requestClaims.length)));

function headerGenerator(prefix: string, matcher: typeof headerMatcher): PrincipalGenerator {
  return {
    each: (key, v, forTcp) => {
      if (forTcp) return httpOnly(key);
      const name = nameInBrackets(key.slice(prefix.length));
      return name === undefined ? new GenerationError(`expecting format [<NAME>], but found ${key}`) : principalHeader(matcher(name, v));
    },
  };
}

export const requestHeaderGenerator = headerGenerator(ATTR.requestHeader, headerMatcher);
export const requestInlineHeaderGenerator = headerGenerator(ATTR.requestInlineHeader, inlineHeaderMatcher);
