// The read API's mesh view (/api/v1/mesh) pinned by golden files: the embedded mesh-config, and
// analyze's broken fixture (policies selecting nothing, DENY-all, CUSTOM with an unknown provider,
// mTLS conflicts), so a change in who may call whom or in a workload's authorization shows as a
// diff. Regenerate with UPDATE_GOLDEN=1 and review the diff.
import { strict as assert } from "node:assert";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { configFilesUnder } from "../../src/cli/validate.js";
import { computeMeshView, meshView } from "../../src/console/mesh-view.js";
import { buildSnapshot } from "../../src/mesh/model.js";
import { meshConfigFile, readConfigFiles } from "../../src/sources/file.js";

const repoRoot = fileURLToPath(new URL("../../..", import.meta.url));
const update = process.env["UPDATE_GOLDEN"] === "1";

/** The view with file paths relative to the checkout, so the golden file does not depend on where it is. */
function viewOf(dir: string): string {
  const files = configFilesUnder([path.join(repoRoot, dir)]);
  const mesh = files.find((f) => path.basename(f) === meshConfigFile);
  const snapshot = buildSnapshot(readConfigFiles(files.filter((f) => f !== mesh), mesh));
  return JSON.stringify(meshView(snapshot), null, 2).replaceAll(repoRoot, "") + "\n";
}

describe("console: the mesh view of a config (golden)", () => {
  for (const [name, dir] of [["embedded-mesh-config", "mesh-config"], ["analyze-broken", "test/cli/analyze/broken"]] as const) {
    it(`${dir}: services, workloads with identity, mTLS and authorization, and who may call whom`, () => {
      const file = path.join(repoRoot, "test", "console", "golden", `${name}.json`);
      const got = viewOf(dir);
      if (update) writeFileSync(file, got);
      assert.ok(existsSync(file), `${file} is missing; create it with UPDATE_GOLDEN=1`);
      assert.equal(got, readFileSync(file, "utf8"), `${file} differs; if intended, regenerate with UPDATE_GOLDEN=1`);
      const view = JSON.parse(got) as ReturnType<typeof computeMeshView>;
      const called = view.workloads.filter((w) => w.services.length > 0).length;
      assert.ok(called > 0 && view.calls.length === called * (view.workloads.length - 1), "every caller with every workload that serves a service");
    });
  }
});
