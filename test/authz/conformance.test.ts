// Istio's own AuthorizationPolicy builder cases (shared/conformance/istio-authz/cases.yaml), run
// through the code path of `meshward x authz` and compared semantically with istiod's output:
// both sides are parsed into the Envoy message type and rendered as proto3 JSON again.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import { HttpFilterSchema } from "../../src/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js";
import { FilterSchema } from "../../src/gen/envoy/config/listener/v3/listener_components_pb.js";
import { authzTypeRegistry } from "../../src/authz/json.js";
import { type AuthzChain, authzFiltersForRequest } from "../../src/cli/x-authz.js";
import { formatViolations, validateMessage } from "../../src/validate/pgv.js";

const repoRoot = fileURLToPath(new URL("../../..", import.meta.url));
/** `../shared/conformance` beside the checkout; for a git worktree, beside the main checkout too. */
function findConformanceRoot(): string {
  const beside = path.resolve(repoRoot, "..", "shared", "conformance");
  if (process.env["MESHWARD_CONFORMANCE_DIR"] !== undefined) return process.env["MESHWARD_CONFORMANCE_DIR"];
  if (existsSync(beside)) return beside;
  try {
    const common = execFileSync("git", ["rev-parse", "--path-format=absolute", "--git-common-dir"], { cwd: repoRoot, encoding: "utf8" }).trim();
    const besideMain = path.resolve(path.dirname(common), "..", "shared", "conformance");
    if (existsSync(besideMain)) return besideMain;
  } catch {
    // Not a git checkout: only the primary location applies.
  }
  return beside;
}
const conformanceRoot = findConformanceRoot();
/** Istio's alias cases kept in this repository (same format). */
const repoCasesDir = path.join(repoRoot, "test", "authz", "istio-cases");

interface ConformanceCase {
  name: string;
  chain: "http" | "tcp";
  input: string;
  mesh?: string | Record<string, unknown>;
  config?: string[];
  want: string[];
}
interface CasesFile {
  workload: { namespace: string; labels: Record<string, string> };
  cases: ConformanceCase[];
}

/** proto3 JSON → message → proto3 JSON: defaults, key order and number forms stop mattering. */
function normalise(chain: "http" | "tcp", json: unknown): JsonValue {
  const opts = { registry: authzTypeRegistry };
  return chain === "http"
    ? toJson(HttpFilterSchema, fromJson(HttpFilterSchema, json as JsonValue, opts), opts)
    : toJson(FilterSchema, fromJson(FilterSchema, json as JsonValue, opts), opts);
}

function describeCases(title: string, casesDir: string, viaBinary: readonly string[]): void {
  describe(title, function () {
    const casesFile = path.join(casesDir, "cases.yaml");
    const expected = (c: ConformanceCase): JsonValue[] =>
      c.want.map((f) => normalise(c.chain, parseYaml(readFileSync(path.join(casesDir, f), "utf8"))));
    if (!existsSync(casesFile)) {
      if (process.env["CI"] === "true") {
        it("finds the conformance data", () => assert.fail(`conformance cases not found at ${casesFile}`));
      } else {
        console.log(`  skipping authz conformance: ${casesFile} not found (set MESHWARD_CONFORMANCE_DIR)`);
      }
      return;
    }
    const spec = parseYaml(readFileSync(casesFile, "utf8")) as CasesFile;
    let tmp = "";
    before(() => (tmp = mkdtempSync(path.join(tmpdir(), "meshward-authz-conf-"))));
    after(() => rmSync(tmp, { recursive: true, force: true }));

    function meshFileOf(c: ConformanceCase): string | undefined {
      if (c.mesh === undefined) return undefined;
      if (typeof c.mesh === "string") return path.join(casesDir, c.mesh);
      const file = path.join(tmp, `${c.name}-mesh.yaml`);
      writeFileSync(file, stringifyYaml(c.mesh));
      return file;
    }

    function requestOf(c: ConformanceCase): { meshFile?: string; configFiles: string[]; chain: AuthzChain } {
      const meshFile = meshFileOf(c);
      const configFiles = [c.input, ...(c.config ?? [])].map((f) => path.join(casesDir, f));
      return { configFiles, chain: c.chain, ...(meshFile !== undefined ? { meshFile } : {}) };
    }

    it("has cases", () => assert.ok(spec.cases.length > 0));

    for (const c of spec.cases) {
      it(c.name, () => {
        const res = authzFiltersForRequest({ namespace: spec.workload.namespace, labels: spec.workload.labels, ...requestOf(c) });
        assert.deepEqual(res.findings.filter((f) => f.severity === "error"), []);
        assert.deepEqual(res.filters.map((f) => normalise(c.chain, f)), expected(c));
        // And Envoy would accept them: its validate.rules, recursing into every Any.
        const opts = { registry: authzTypeRegistry };
        for (const f of res.filters) {
          const v = c.chain === "http"
            ? validateMessage(HttpFilterSchema, fromJson(HttpFilterSchema, f, opts), { strictAny: true })
            : validateMessage(FilterSchema, fromJson(FilterSchema, f, opts), { strictAny: true });
          assert.equal(formatViolations(v), "");
        }
      });
    }

    // The same cases through the real binary: flags, file reading, stdout, exit status.
    for (const name of viaBinary) {
      it(`${name} via ./bin/meshward x authz`, function () {
        const c = spec.cases.find((x) => x.name === name);
        if (c === undefined) return this.skip();
        const req = requestOf(c);
        const labels = Object.entries(spec.workload.labels).map(([k, v]) => `${k}=${v}`).join(",");
        const args = ["x", "authz", "--namespace", spec.workload.namespace, "--labels", labels, "--chain", c.chain];
        if (req.meshFile !== undefined) args.push("--mesh", req.meshFile);
        const stdout = execFileSync(path.join(repoRoot, "bin", "meshward"), [...args, ...req.configFiles], { encoding: "utf8" });
        const filters = JSON.parse(stdout) as unknown[];
        assert.deepEqual(filters.map((f) => normalise(c.chain, f)), expected(c));
      });
    }
  });
}

describeCases("authz conformance: Istio builder cases", path.join(conformanceRoot, "istio-authz"), ["allow-full-rule", "tcp-custom-both-http-tcp"]);
describeCases("authz conformance: Istio trust-domain alias cases", repoCasesDir, ["trust-domain-wildcard-in-principal"]);
