// istiod's own unit-test tables, replayed against meshward's translator: trust-domain alias
// expansion (pilot/pkg/security/trustdomain/bundle_test.go, util_test.go) and the regex escaping of
// values (pilot/pkg/security/authz/model/generator_test.go). Issue 15 item 12: these differed.
import assert from "node:assert/strict";
import { TrustDomainBundle, wildcardMatchEitherWay } from "../../src/authz/trust-domain.js";
import { authn, or, principalIds } from "./helpers.js";

describe("authz parity with istiod: trust-domain alias expansion", () => {
  // bundle_test.go TestReplaceTrustDomainAliases, row for row.
  const rows: { name: string; td: string; aliases: string[]; principals: string[]; expect: string[] }[] = [
    { name: "no trust domain aliases", td: "cluster.local", aliases: [], principals: ["cluster.local/ns/foo/sa/bar"], expect: ["cluster.local/ns/foo/sa/bar"] },
    { name: "principal *", td: "cluster.local", aliases: [], principals: ["*"], expect: ["*"] },
    { name: "principal with * trust domain", td: "cluster.local", aliases: [], principals: ["*/ns/foo/sa/bar"], expect: ["*/ns/foo/sa/bar"] },
    { name: "one alias, one principal", td: "td2", aliases: ["td1"], principals: ["td1/ns/foo/sa/bar"], expect: ["td2/ns/foo/sa/bar", "td1/ns/foo/sa/bar"] },
    {
      name: "one alias, two principals", td: "td1", aliases: ["cluster.local"],
      principals: ["cluster.local/ns/foo/sa/bar", "cluster.local/ns/yyy/sa/zzz"],
      expect: ["td1/ns/foo/sa/bar", "cluster.local/ns/foo/sa/bar", "td1/ns/yyy/sa/zzz", "cluster.local/ns/yyy/sa/zzz"],
    },
    {
      name: "one alias, principals with * kept as they are", td: "td1", aliases: ["cluster.local"],
      principals: ["*/ns/foo/sa/bar", "*sa/zzz", "*"], expect: ["*/ns/foo/sa/bar", "*sa/zzz", "*"],
    },
    {
      name: "two aliases, two principals", td: "td2", aliases: ["td1", "cluster.local"],
      principals: ["cluster.local/ns/foo/sa/bar", "td1/ns/yyy/sa/zzz"],
      expect: ["td2/ns/foo/sa/bar", "td1/ns/foo/sa/bar", "cluster.local/ns/foo/sa/bar", "td2/ns/yyy/sa/zzz", "td1/ns/yyy/sa/zzz", "cluster.local/ns/yyy/sa/zzz"],
    },
    {
      name: "two aliases, a *-prefixed trust domain in the principal", td: "td2", aliases: ["foo-td1", "cluster.local"],
      principals: ["*-td1/ns/foo/sa/bar"], expect: ["td2/ns/foo/sa/bar", "*-td1/ns/foo/sa/bar", "cluster.local/ns/foo/sa/bar"],
    },
    { name: "principal matching no trust domain", td: "td1", aliases: ["td2"], principals: ["some-td/ns/foo/sa/bar"], expect: ["some-td/ns/foo/sa/bar"] },
    {
      name: "principal matching one alias", td: "td1", aliases: ["td2", "some-td"],
      principals: ["some-td/ns/foo/sa/bar"], expect: ["td1/ns/foo/sa/bar", "td2/ns/foo/sa/bar", "some-td/ns/foo/sa/bar"],
    },
    {
      name: "one of two principals matching an alias", td: "new-td", aliases: ["td2", "td3"],
      principals: ["td1/ns/some-ns/sa/some-sa", "td2/ns/foo/sa/bar"],
      expect: ["td1/ns/some-ns/sa/some-sa", "new-td/ns/foo/sa/bar", "td2/ns/foo/sa/bar", "td3/ns/foo/sa/bar"],
    },
    // Beyond istiod's table, same rules: a `prefix*` trust domain in the principal is replaced by every member it matches.
    {
      name: "a prefix-* trust domain in the principal", td: "td1", aliases: ["td2"],
      principals: ["td*/ns/foo/sa/bar"], expect: ["td1/ns/foo/sa/bar", "td2/ns/foo/sa/bar"],
    },
  ];
  for (const r of rows) {
    it(`replaces trust domains as istiod does: ${r.name}`, () => {
      assert.deepEqual(new TrustDomainBundle(r.td, r.aliases).replaceTrustDomainAliases(r.principals), r.expect);
    });
  }

  it("matches a wildcard on either side as istiod's stringMatch does (util_test.go)", () => {
    assert.equal(wildcardMatchEitherWay("*-td", ["old-td"]), true);
    assert.equal(wildcardMatchEitherWay("old-td", ["*-td"]), true);
    assert.equal(wildcardMatchEitherWay("td*", ["td1"]), true);
    assert.equal(wildcardMatchEitherWay("td1", ["td*"]), true);
    assert.equal(wildcardMatchEitherWay("anything", ["*"]), true);
    assert.equal(wildcardMatchEitherWay("td1", ["td2", "x*", "*y"]), false);
  });

  it("expands trustDomains values and drops repeats, keeping first-seen order", () => {
    const bundle = new TrustDomainBundle("td1", ["td2"]);
    assert.deepEqual(bundle.expandTrustDomainAliases(["td2", "other", "td1"]), ["td1", "td2", "other"]);
  });

  it("puts the `*-td` principal through as written next to the replaced members in the RBAC principal", () => {
    const ids = principalIds({ from: [{ source: { principals: ["*-td/ns/foo/sa/x"] } }] }, { bundle: new TrustDomainBundle("new-td", ["old-td", "other"]) });
    assert.deepEqual(ids, [
      or([
        authn({ safeRegex: { regex: "spiffe://.*-td/ns/foo/sa/x" } }),
        authn({ exact: "spiffe://other/ns/foo/sa/x" }),
      ]),
    ]);
  });
});

describe("authz parity with istiod: values placed into regexes are QuoteMeta'd", () => {
  /** Envoy's safe_regex is a full match; these patterns mean the same in RE2 and JavaScript. */
  const fullMatch = (regex: string, s: string): boolean => new RegExp(`^(?:${regex})$`).test(s);
  const regexOf = (ids: unknown): string => {
    const json = JSON.stringify(ids);
    const m = /"regex":"((?:[^"\\]|\\.)*)"/.exec(json);
    assert.ok(m?.[1] !== undefined, `no regex in ${json}`);
    return JSON.parse(`"${m[1]}"`) as string;
  };

  it("serviceAccounts escape the namespace and the name (TestServiceAccountRegex)", () => {
    const cases: [string, string, string][] = [
      ["", "my-ns/my-sa", "spiffe://.+/ns/my-ns/(.+/|)sa/my-sa(/.+)?"],
      ["my-ns", "my-sa", "spiffe://.+/ns/my-ns/(.+/|)sa/my-sa(/.+)?"],
      ["", "my.ns/my.sa", "spiffe://.+/ns/my\\.ns/(.+/|)sa/my\\.sa(/.+)?"],
      ["ns+foo", "sa(bar)", "spiffe://.+/ns/ns\\+foo/(.+/|)sa/sa\\(bar\\)(/.+)?"],
    ];
    for (const [ns, value, want] of cases) {
      assert.equal(regexOf(principalIds({ from: [{ source: { serviceAccounts: [value] } }] }, { namespace: ns === "" ? "unused" : ns })), want, value);
    }
  });

  it("a dot in a service account matches only a dot", () => {
    const re = regexOf(principalIds({ from: [{ source: { serviceAccounts: ["my.ns/my.sa"] } }] }));
    assert.equal(fullMatch(re, "spiffe://cluster.local/ns/my.ns/sa/my.sa"), true);
    assert.equal(fullMatch(re, "spiffe://cluster.local/ns/myXns/sa/my.sa"), false);
    assert.equal(fullMatch(re, "spiffe://cluster.local/ns/my.ns/sa/myXsa"), false);
  });

  it("namespaces escape each literal, then `*` becomes `.*` (TestNamespaceMatcherRegex_Match)", () => {
    const cases: { v: string; regex: string; match: string; noMatch: string }[] = [
      { v: "ns.prod", regex: ".*/ns/ns\\.prod/.*", match: "spiffe://cluster.local/ns/ns.prod/sa/admin", noMatch: "spiffe://cluster.local/ns/nsXprod/sa/admin" },
      { v: "ns.*.prod", regex: ".*/ns/ns\\..*\\.prod/.*", match: "spiffe://cluster.local/ns/ns.any.prod/sa/admin", noMatch: "spiffe://cluster.local/ns/nsXanyXprod/sa/admin" },
      { v: "a+b", regex: ".*/ns/a\\+b/.*", match: "spiffe://td/ns/a+b/sa/x", noMatch: "spiffe://td/ns/aab/sa/x" },
    ];
    for (const c of cases) {
      for (const source of [{ namespaces: [c.v] }, { notNamespaces: [c.v] }]) {
        const re = regexOf(principalIds({ from: [{ source }] }));
        assert.equal(re, c.regex, JSON.stringify(source));
        assert.equal(fullMatch(re, c.match), true, c.match);
        assert.equal(fullMatch(re, c.noMatch), false, c.noMatch);
      }
      const re = regexOf(principalIds({ when: [{ key: "source.namespace", values: [c.v] }] }));
      assert.equal(re, c.regex, `source.namespace ${c.v}`);
    }
  });

  it("trustDomains wildcards escape the literal around the `*` (srcTrustDomainGenerator)", () => {
    const bundle = new TrustDomainBundle("x");
    assert.equal(regexOf(principalIds({ from: [{ source: { trustDomains: ["cluster.*"] } }] }, { bundle })), "spiffe://cluster\\.[^/]*/.*");
    assert.equal(regexOf(principalIds({ from: [{ source: { trustDomains: ["*local"] } }] }, { bundle })), "spiffe://[^/]*local/.*");
    assert.equal(regexOf(principalIds({ from: [{ source: { trustDomains: ["*.example.org"] } }] }, { bundle })), "spiffe://[^/]*\\.example\\.org/.*");
  });

  it("principals with a leading `*` escape the rest after spiffe://.* (StringMatcherWithPrefix)", () => {
    assert.equal(regexOf(principalIds({ from: [{ source: { principals: ["*/ns/foo/sa/rule[0]"] } }] })), "spiffe://.*/ns/foo/sa/rule\\[0\\]");
    assert.equal(regexOf(principalIds({ when: [{ key: "source.principal", values: ["*.td/ns/a/sa/b"] }] })), "spiffe://.*\\.td/ns/a/sa/b");
  });
});
