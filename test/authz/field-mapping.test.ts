// One test per AuthorizationPolicy field and `when` key: the Envoy matcher it becomes.
import assert from "node:assert/strict";
import { authn, or, orRules, permissionRules, principalIds, ruleJson } from "./helpers.js";
import { TrustDomainBundle } from "../../src/authz/trust-domain.js";

const jwt = (claim: string, m: unknown): unknown => ({
  metadata: { filter: "envoy.filters.http.jwt_authn", path: [{ key: "payload" }, { key: claim }], value: { stringMatch: m } },
});

describe("authz field mapping: from.source", () => {
  it("principals: exact, prefix*, *suffix (regex, quoted) and * (non-empty, no spiffe prefix)", () => {
    const ids = principalIds({ from: [{ source: { principals: ["cluster.local/ns/a/sa/b", "td/ns/x*", "*.sa/y", "*"] } }] });
    assert.deepEqual(ids, [
      or([
        authn({ exact: "spiffe://cluster.local/ns/a/sa/b" }),
        authn({ prefix: "spiffe://td/ns/x" }),
        authn({ safeRegex: { regex: "spiffe://.*\\.sa/y" } }),
        authn({ safeRegex: { regex: ".+" } }),
      ]),
    ]);
  });

  it("notPrincipals become not(or(...))", () => {
    const ids = principalIds({ from: [{ source: { notPrincipals: ["a", "b"] } }] });
    assert.deepEqual(ids, [{ notId: or([authn({ exact: "spiffe://a" }), authn({ exact: "spiffe://b" })]) }]);
  });

  it("namespaces: .*/ns/<ns>/.* with * as .*", () => {
    const ids = principalIds({ from: [{ source: { namespaces: ["prod", "team-*"] } }] });
    assert.deepEqual(ids, [or([authn({ safeRegex: { regex: ".*/ns/prod/.*" } }), authn({ safeRegex: { regex: ".*/ns/team-.*/.*" } })])]);
  });

  it("serviceAccounts: `sa` in the policy namespace or `ns/sa`", () => {
    const ids = principalIds({ from: [{ source: { serviceAccounts: ["reader", "other/writer"] } }] }, { namespace: "bar" });
    assert.deepEqual(ids, [
      or([
        authn({ safeRegex: { regex: "spiffe://.+/ns/bar/(.+/|)sa/reader(/.+)?" } }),
        authn({ safeRegex: { regex: "spiffe://.+/ns/other/(.+/|)sa/writer(/.+)?" } }),
      ]),
    ]);
  });

  it("trustDomains: exact → prefix spiffe://td/, * → spiffe://, wildcards stay in one segment", () => {
    const ids = principalIds({ from: [{ source: { trustDomains: ["example.org", "*", "corp*", "*.local"] } }] }, { bundle: new TrustDomainBundle("td1") });
    assert.deepEqual(ids, [
      or([
        authn({ prefix: "spiffe://example.org/" }),
        authn({ prefix: "spiffe://" }),
        authn({ safeRegex: { regex: "spiffe://corp[^/]*/.*" } }),
        authn({ safeRegex: { regex: "spiffe://[^/]*\\.local/.*" } }),
      ]),
    ]);
  });

  it("ipBlocks → direct_remote_ip, a bare IP is /32 (/128 for IPv6)", () => {
    const ids = principalIds({ from: [{ source: { ipBlocks: ["10.1.2.3", "10.0.0.0/8", "fd00::1"] } }] });
    assert.deepEqual(ids, [
      or([
        { directRemoteIp: { addressPrefix: "10.1.2.3", prefixLen: 32 } },
        { directRemoteIp: { addressPrefix: "10.0.0.0", prefixLen: 8 } },
        { directRemoteIp: { addressPrefix: "fd00::1", prefixLen: 128 } },
      ]),
    ]);
  });

  it("remoteIpBlocks and notRemoteIpBlocks → remote_ip", () => {
    const ids = principalIds({ from: [{ source: { remoteIpBlocks: ["1.2.3.0/24"], notRemoteIpBlocks: ["1.2.3.4"] } }] });
    assert.deepEqual(ids, [
      or([{ remoteIp: { addressPrefix: "1.2.3.0", prefixLen: 24 } }]),
      { notId: or([{ remoteIp: { addressPrefix: "1.2.3.4", prefixLen: 32 } }]) },
    ]);
  });

  it("requestPrincipals split iss/sub at the last `/`; no `/` means an empty sub", () => {
    const ids = principalIds({ from: [{ source: { requestPrincipals: ["https://accounts.example.com/user-1"] } }] });
    assert.deepEqual(ids, [{ andIds: { ids: [jwt("iss", { exact: "https://accounts.example.com" }), jwt("sub", { exact: "user-1" })] } }]);
    const bare = principalIds({ from: [{ source: { requestPrincipals: ["issuer-only"] } }] });
    assert.deepEqual(bare, [{ andIds: { ids: [jwt("iss", { exact: "issuer-only" }), jwt("sub", { exact: "" })] } }]);
  });

  it("requestPrincipals wildcards: *, iss/*, */sub, prefix*", () => {
    const ids = principalIds({ from: [{ source: { requestPrincipals: ["*", "iss/*", "*/sub", "pre*"] } }] });
    const and = (a: unknown, b: unknown): unknown => ({ andIds: { ids: [jwt("iss", a), jwt("sub", b)] } });
    const any = { safeRegex: { regex: ".+" } };
    assert.deepEqual(ids, [or([and(any, any), and({ exact: "iss" }, any), and(any, { exact: "sub" }), and({ prefix: "pre" }, any)] as never[])]);
  });

  it("a rule's source clauses are ordered principals, requestPrincipals, serviceAccounts, trustDomains, namespaces, remoteIpBlocks, ipBlocks", () => {
    const ids = principalIds({
      from: [{ source: { ipBlocks: ["1.1.1.1"], remoteIpBlocks: ["2.2.2.2"], namespaces: ["n"], trustDomains: ["t"], requestPrincipals: ["r"], principals: ["p"] } }],
    }, { bundle: new TrustDomainBundle("x") });
    const kinds = ids.map((id) => JSON.stringify(id));
    assert.match(kinds[0] ?? "", /spiffe:\/\/p/);
    assert.match(kinds[1] ?? "", /jwt_authn/);
    assert.match(kinds[2] ?? "", /spiffe:\/\/t\//);
    assert.match(kinds[3] ?? "", /ns\/n/);
    assert.match(kinds[4] ?? "", /remoteIp/);
    assert.match(kinds[5] ?? "", /directRemoteIp/);
  });
});

describe("authz field mapping: to.operation", () => {
  it("hosts → :authority, case-insensitive; * → present", () => {
    const rules = permissionRules({ to: [{ operation: { hosts: ["a.com", "*.b.com", "c.*", "*"] } }] });
    const h = (m: unknown): unknown => ({ header: { name: ":authority", ...(m as object) } });
    assert.deepEqual(rules, [
      orRules([
        h({ stringMatch: { exact: "a.com", ignoreCase: true } }),
        h({ stringMatch: { suffix: ".b.com", ignoreCase: true } }),
        h({ stringMatch: { prefix: "c.", ignoreCase: true } }),
        h({ presentMatch: true }),
      ] as never[]),
    ]);
  });

  it("methods → :method, case-sensitive; notMethods → not", () => {
    const rules = permissionRules({ to: [{ operation: { methods: ["GET"], notMethods: ["DELETE"] } }] });
    assert.deepEqual(rules, [
      orRules([{ header: { name: ":method", stringMatch: { exact: "GET" } } }]),
      { notRule: orRules([{ header: { name: ":method", stringMatch: { exact: "DELETE" } } }]) },
    ]);
  });

  it("paths: exact, /p/* prefix, */s suffix, * non-empty", () => {
    const rules = permissionRules({ to: [{ operation: { paths: ["/x", "/p/*", "*/s", "*"] } }] });
    assert.deepEqual(rules, [
      orRules([
        { urlPath: { path: { exact: "/x" } } },
        { urlPath: { path: { prefix: "/p/" } } },
        { urlPath: { path: { suffix: "/s" } } },
        { urlPath: { path: { safeRegex: { regex: ".+" } } } },
      ]),
    ]);
  });

  it("paths with {*} and {**} → uri_template with * and **", () => {
    const rules = permissionRules({ to: [{ operation: { paths: ["/api/{*}/items/{**}"] } }] });
    assert.deepEqual(rules, [
      orRules([
        {
          uriTemplate: {
            name: "uri-template",
            typedConfig: { "@type": "type.googleapis.com/envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig", pathTemplate: "/api/*/items/**" },
          },
        },
      ]),
    ]);
  });

  it("ports and notPorts → destination_port", () => {
    const rules = permissionRules({ to: [{ operation: { ports: ["8080"], notPorts: ["9090"] } }] });
    assert.deepEqual(rules, [orRules([{ destinationPort: 8080 }]), { notRule: orRules([{ destinationPort: 9090 }]) }]);
  });

  it("operation clauses are ordered hosts, methods, paths, ports", () => {
    const rules = permissionRules({ to: [{ operation: { ports: ["1"], paths: ["/p"], methods: ["GET"], hosts: ["h"] } }] });
    assert.deepEqual(rules.map((r) => Object.keys((r as { orRules: { rules: Record<string, unknown>[] } }).orRules.rules[0] ?? {})[0]), ["header", "header", "urlPath", "destinationPort"]);
  });
});

describe("authz field mapping: when keys", () => {
  const when = (key: string, values: string[], notValues?: string[]): { when: { key: string; values: string[]; notValues?: string[] }[] } => ({
    when: [{ key, values, ...(notValues !== undefined ? { notValues } : {}) }],
  });

  it("request.headers[X] → header matcher on the principal", () => {
    assert.deepEqual(principalIds(when("request.headers[X-Id]", ["a", "b*", "*"])), [
      or([
        { header: { name: "X-Id", stringMatch: { exact: "a" } } },
        { header: { name: "X-Id", stringMatch: { prefix: "b" } } },
        { header: { name: "X-Id", presentMatch: true } },
      ]),
    ]);
  });

  it("request.experimental.inline.headers[X] matches one element of a comma list", () => {
    assert.deepEqual(principalIds(when("request.experimental.inline.headers[X]", ["v.1"])), [
      or([{ header: { name: "X", safeRegexMatch: { regex: "^v\\.1$|^v\\.1,.*|.*,v\\.1,.*|.*,v\\.1$" } } }]),
    ]);
  });

  it("source.ip / remote.ip → direct_remote_ip / remote_ip", () => {
    assert.deepEqual(principalIds(when("source.ip", ["10.0.0.1"])), [or([{ directRemoteIp: { addressPrefix: "10.0.0.1", prefixLen: 32 } }])]);
    assert.deepEqual(principalIds(when("remote.ip", ["10.0.0.0/16"])), [or([{ remoteIp: { addressPrefix: "10.0.0.0", prefixLen: 16 } }])]);
  });

  it("source.namespace, source.principal, source.serviceAccount, source.trustDomain", () => {
    assert.deepEqual(principalIds(when("source.namespace", ["ns"])), [or([authn({ safeRegex: { regex: ".*/ns/ns/.*" } })])]);
    assert.deepEqual(principalIds(when("source.principal", ["cluster.local/ns/a/sa/b"])), [or([authn({ exact: "spiffe://cluster.local/ns/a/sa/b" })])]);
    assert.deepEqual(principalIds(when("source.serviceAccount", ["a/b"])), [or([authn({ safeRegex: { regex: "spiffe://.+/ns/a/(.+/|)sa/b(/.+)?" } })])]);
    assert.deepEqual(principalIds(when("source.trustDomain", ["td"]), { bundle: new TrustDomainBundle("x") }), [or([authn({ prefix: "spiffe://td/" })])]);
  });

  it("request.auth.principal is the same iss/sub matcher as requestPrincipals", () => {
    assert.deepEqual(principalIds(when("request.auth.principal", ["iss/sub"])), [{ andIds: { ids: [jwt("iss", { exact: "iss" }), jwt("sub", { exact: "sub" })] } }]);
  });

  it("request.auth.audiences / presenter / claims[a][b]: list element or plain value", () => {
    const listOrValue = (path: string[], values: unknown[]): unknown => {
      const v = values.length === 1 ? values[0] : { orMatch: { valueMatchers: values } };
      return { metadata: { filter: "envoy.filters.http.jwt_authn", path: ["payload", ...path].map((key) => ({ key })), value: { orMatch: { valueMatchers: [{ listMatch: { oneOf: v } }, v] } } } };
    };
    assert.deepEqual(principalIds(when("request.auth.audiences", ["api"])), [listOrValue(["aud"], [{ stringMatch: { exact: "api" } }])]);
    assert.deepEqual(principalIds(when("request.auth.presenter", ["app*"])), [listOrValue(["azp"], [{ stringMatch: { prefix: "app" } }])]);
    assert.deepEqual(principalIds(when("request.auth.claims[groups][admin]", ["x", "y"], ["z"])), [
      listOrValue(["groups", "admin"], [{ stringMatch: { exact: "x" } }, { stringMatch: { exact: "y" } }]),
      { notId: listOrValue(["groups", "admin"], [{ stringMatch: { exact: "z" } }]) },
    ]);
  });

  it("destination.ip, destination.port, connection.sni are permissions", () => {
    assert.deepEqual(permissionRules(when("destination.ip", ["10.0.0.0/24"])), [orRules([{ destinationIp: { addressPrefix: "10.0.0.0", prefixLen: 24 } }])]);
    assert.deepEqual(permissionRules(when("destination.port", ["443"])), [orRules([{ destinationPort: 443 }])]);
    assert.deepEqual(permissionRules(when("connection.sni", ["*.example.com"])), [orRules([{ requestedServerName: { suffix: ".example.com" } }])]);
  });

  it("experimental.envoy.filters.a.b[c] → dynamic metadata; [v] matches a list element", () => {
    assert.deepEqual(permissionRules(when("experimental.envoy.filters.a.b[c]", ["v", "[w]"])), [
      {
        metadata: {
          filter: "envoy.filters.a.b",
          path: [{ key: "c" }],
          value: { orMatch: { valueMatchers: [{ stringMatch: { exact: "v" } }, { listMatch: { oneOf: { stringMatch: { exact: "w" } } } }] } },
        },
      },
    ]);
  });

  it("when conditions are appended to every from and to entry", () => {
    const j = ruleJson({
      from: [{ source: { namespaces: ["a"] } }, { source: { namespaces: ["b"] } }],
      to: [{ operation: { ports: ["1"] } }, { operation: { ports: ["2"] } }],
      when: [{ key: "source.ip", values: ["1.1.1.1"] }, { key: "destination.port", values: ["3"] }],
    }) as { principals: { andIds: { ids: unknown[] } }[]; permissions: { andRules: { rules: unknown[] } }[] };
    assert.equal(j.principals.length, 2);
    assert.equal(j.permissions.length, 2);
    for (const p of j.principals) assert.deepEqual(p.andIds.ids[1], or([{ directRemoteIp: { addressPrefix: "1.1.1.1", prefixLen: 32 } }]));
    for (const p of j.permissions) assert.deepEqual(p.andRules.rules[1], orRules([{ destinationPort: 3 }]));
  });

  it("an unknown key makes the rule invalid", () => {
    assert.equal(ruleJson(when("destination.labels[app]", ["x"])), "unknown attribute destination.labels[app]");
  });
});

describe("authz field mapping: HTTP-only fields on TCP chains", () => {
  const httpOnlyRule = { from: [{ source: { namespaces: ["ns"] } }], to: [{ operation: { methods: ["GET"], ports: ["80"] } }] };

  it("ALLOW: the whole rule is dropped", () => {
    assert.equal(ruleJson(httpOnlyRule, { forTcp: true, action: "ALLOW" }), '":method" is HTTP only');
  });

  it("DENY and AUDIT: only the HTTP clause is dropped (broader match)", () => {
    for (const action of ["DENY", "LOG"] as const) {
      assert.deepEqual(permissionRules(httpOnlyRule, { forTcp: true, action }), [orRules([{ destinationPort: 80 }])]);
    }
  });

  it("every HTTP-only field and key refuses TCP", () => {
    const rules = [
      { to: [{ operation: { hosts: ["h"] } }] },
      { to: [{ operation: { paths: ["/p"] } }] },
      { from: [{ source: { requestPrincipals: ["i/s"] } }] },
      { when: [{ key: "request.headers[x]", values: ["v"] }] },
      { when: [{ key: "request.auth.claims[x]", values: ["v"] }] },
      { when: [{ key: "request.auth.audiences", values: ["v"] }] },
      { when: [{ key: "request.auth.presenter", values: ["v"] }] },
    ];
    for (const r of rules) assert.match(String(ruleJson(r, { forTcp: true })), /is HTTP only/, JSON.stringify(r));
  });
});

describe("authz trust-domain aliases", () => {
  it("expands principals of the mesh trust domain, an alias or cluster.local to every member", () => {
    const bundle = new TrustDomainBundle("td-new", ["td-old"]);
    assert.deepEqual(bundle.replaceTrustDomainAliases(["td-old/ns/a/sa/b", "cluster.local/ns/a/sa/c"]), [
      "td-new/ns/a/sa/b", "td-old/ns/a/sa/b", "td-new/ns/a/sa/c", "td-old/ns/a/sa/c",
    ]);
  });

  it("leaves other trust domains, `*` trust domains and non-SPIFFE values alone", () => {
    const bundle = new TrustDomainBundle("td-new", ["td-old"]);
    assert.deepEqual(bundle.replaceTrustDomainAliases(["other/ns/a/sa/b", "*/ns/a/sa/b", "sa-only"]), ["other/ns/a/sa/b", "*/ns/a/sa/b", "sa-only"]);
  });

  it("applies to principals in policies and to trustDomains values", () => {
    const bundle = new TrustDomainBundle("td-new", ["td-old"]);
    assert.deepEqual(principalIds({ from: [{ source: { principals: ["td-old/ns/a/sa/b"] } }] }, { bundle }), [
      or([authn({ exact: "spiffe://td-new/ns/a/sa/b" }), authn({ exact: "spiffe://td-old/ns/a/sa/b" })]),
    ]);
    assert.deepEqual(principalIds({ from: [{ source: { trustDomains: ["td-old"] } }] }, { bundle }), [
      or([authn({ prefix: "spiffe://td-new/" }), authn({ prefix: "spiffe://td-old/" })]),
    ]);
  });
});
