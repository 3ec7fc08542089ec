// `meshward validate` (issue 14 item 1): istiod's own validation cases for the kinds meshward
// reads (test/cli/validate/istiod-cases.yaml, each with the outcome istiod gives), and golden
// output of the real binary on the embedded mesh-config and on broken inputs. Regenerate the
// golden files with UPDATE_GOLDEN=1 and review the diff.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { validateFiles } from "../../src/cli/validate.js";
import { runMeshwardIn } from "../support/meshward-cli.js";

const repoRoot = fileURLToPath(new URL("../../..", import.meta.url));
const dir = path.join(repoRoot, "test", "cli", "validate");
const update = process.env["UPDATE_GOLDEN"] === "1";

/** Runs bin/meshward from the repository root (paths in its output stay relative). */
const meshward = (...args: string[]) => runMeshwardIn(repoRoot, ...args);

function golden(name: string, text: string): void {
  const file = path.join(dir, name);
  if (update) writeFileSync(file, text);
  assert.equal(text, readFileSync(file, "utf8"), `${file} differs; if intended, regenerate with UPDATE_GOLDEN=1 and review the diff`);
}

describe("meshward validate", () => {
  describe("istiod's validation cases for the kinds meshward reads", () => {
    const file = path.join(dir, "istiod-cases.yaml");
    const cases = parseAllDocuments(readFileSync(file, "utf8")).map((d) => d.toJS() as { kind: string; metadata: { name: string; namespace: string; annotations: { case: string; expect: string; differs?: string } } });
    const report = validateFiles([file]);

    it("reads every case as an object", () => {
      assert.equal(report.objects, cases.length);
      assert.ok(cases.length >= 30);
    });

    for (const c of cases) {
      const ref = `${c.kind} ${c.metadata.namespace}/${c.metadata.name}`;
      const { case: name, expect, differs } = c.metadata.annotations;
      it(`${c.kind} "${name}" is ${expect}${differs === undefined ? ", as istiod says" : ` (${differs})`}`, () => {
        const mine = report.findings.filter((f) => f.object === ref);
        const outcome = mine.some((f) => f.severity === "error") ? "invalid" : mine.length > 0 ? "warning" : "valid";
        assert.equal(outcome, expect, JSON.stringify(mine));
        for (const f of mine) assert.match(f.path, /^(spec|metadata)\b/, `a finding without a field path: ${JSON.stringify(f)}`);
      });
    }
  });

  it("passes the embedded mesh-config (golden output, exit 0)", async () => {
    const r = await meshward("validate", "-f", "mesh-config");
    assert.equal(r.code, 0, r.stderr);
    golden("mesh-config.out", r.stdout);
  });

  it("reports every broken object with file, object and field path (golden output, exit 1)", async () => {
    const r = await meshward("validate", "-f", "test/golden/in/invalid.yaml", "-f", "test/golden/in/mtls-disable-and-invalid.yaml", "-f", "test/cli/validate/other-kinds.yaml", "-f", "test/cli/validate/broken-mesh");
    assert.equal(r.code, 1, r.stderr);
    golden("broken.out", r.stdout);
  });

  it("is quiet with -q on valid input and exits 2 on a bad command line", async () => {
    assert.deepEqual(await meshward("validate", "-q", "-f", "mesh-config/bookinfo.yaml"), { code: 0, stdout: "", stderr: "" });
    const none = await meshward("validate");
    assert.equal(none.code, 2);
    assert.match(none.stderr, /-f <file\|dir> is required/);
    const missing = await meshward("validate", "-f", "no/such/file.yaml");
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /no\/such\/file\.yaml/);
  });
});
