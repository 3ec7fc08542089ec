// RE2 syntax that Envoy-style patterns use, translated to JavaScript with RE2's matching.
import { strict as assert } from "node:assert";
import { re2ToRegExp } from "../../src/validate/formats.js";

describe("re2ToRegExp", () => {
  const cases: [pattern: string, matches: string[], rejects: string[]][] = [
    ["^$|^.*\\.mmdb$", ["", "/var/geo.mmdb"], ["geo.mmdb.bak"]],
    ["^[^?#]+[^?#/]$", ["/api"], ["/api/", "/a?b"]],
    ["\\A[a-z]+\\z", ["abc"], ["abc\n", "1abc"]],
    ["(?i)^mesh-[a-z]+$", ["MESH-Ward"], ["mesh-1"]],
    ["^(?P<svc>[a-z]+)\\.(?P<ns>[a-z]+)$", ["reviews.default"], ["reviews"]],
    ["^[[:digit:]]+[[:alpha:]]*$", ["80tcp"], ["tcp80"]],
    ["^\\pL+$", ["Grüße"], ["a1"]],
    ["\\Qa.b\\E$", ["xa.b"], ["xaxb"]],
    ["b", ["abc"], ["xyz"]], // unanchored, as RE2's PartialMatch
  ];
  for (const [pattern, matches, rejects] of cases) {
    it(pattern, () => {
      const re = re2ToRegExp(pattern);
      for (const s of matches) assert.ok(re.test(s), `${pattern} should match ${JSON.stringify(s)}`);
      for (const s of rejects) assert.ok(!re.test(s), `${pattern} should not match ${JSON.stringify(s)}`);
    });
  }

  it("refuses RE2 syntax it cannot translate", () => {
    assert.throws(() => re2ToRegExp("(?U)a+"), /ungreedy/);
    assert.throws(() => re2ToRegExp("a(?i)b"), /inline RE2 flags/);
    assert.throws(() => re2ToRegExp("[[:^alpha:]]"), /not supported/);
  });
});
