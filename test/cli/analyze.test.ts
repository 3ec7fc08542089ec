// `meshward analyze` (issue 14 item 1): each cross-object finding on a fixture that breaks one
// rule (test/cli/analyze/broken, golden output of the real binary), the same analyzers staying
// quiet once the config is fixed, and quarantines in force read from a data dir a control plane
// wrote. Regenerate the golden file with UPDATE_GOLDEN=1 and review the diff.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { analyzeFiles } from "../../src/cli/analyze.js";
import { AuditStore } from "../../src/risk/audit.js";
import { ManualClock, systemClock } from "../../src/risk/clock.js";
import { RiskEngine } from "../../src/risk/engine.js";
import { EnforcementSet } from "../../src/risk/quarantine.js";
import { compileRuntimePolicies } from "../../src/risk/runtime-policy.js";
import { ESCAPE_QUARANTINE_POLICY, configObjects, podA, signal } from "../risk/fixtures.js";
import { runMeshwardIn } from "../support/meshward-cli.js";

const repoRoot = fileURLToPath(new URL("../../..", import.meta.url));
const fixture = path.join(repoRoot, "test", "cli", "analyze", "broken");
const update = process.env["UPDATE_GOLDEN"] === "1";
const meshward = (...args: string[]) => runMeshwardIn(repoRoot, ...args);

describe("meshward analyze", function () {
  this.timeout(60_000);
  let tmp = "";
  before(() => (tmp = mkdtempSync(path.join(tmpdir(), "meshward-analyze-"))));
  after(() => rmSync(tmp, { recursive: true, force: true }));

  /** The fixture's files with `replace` applied to one of them, written to a fresh directory. */
  function variant(file: string, replace: (text: string) => string): string[] {
    const dir = mkdtempSync(path.join(tmp, "v-"));
    return ["mesh.yaml", "services.yaml", "conflicts.yaml", "policies.yaml"].map((f) => {
      const text = readFileSync(path.join(fixture, f), "utf8");
      const out = path.join(dir, f);
      writeFileSync(out, f === file ? replace(text) : text);
      return out;
    });
  }
  const codes = (files: string[], dataDir?: string): string[] => analyzeFiles(files, dataDir).map((f) => `${f.type.code} ${f.object}`);

  it("finds nothing in the embedded mesh-config (exit 0)", async () => {
    const r = await meshward("analyze", "--data-dir", tmp);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "✔ No validation issues found when analyzing the given files.\n");
  });

  it("reports every broken rule of the fixture with istioctl's codes (golden output, exit 1)", async () => {
    const r = await meshward("analyze", "-f", "test/cli/analyze/broken");
    assert.equal(r.code, 1, r.stderr);
    const file = path.join(repoRoot, "test", "cli", "analyze", "broken.out");
    if (update) writeFileSync(file, r.stdout);
    assert.equal(r.stdout, readFileSync(file, "utf8"), `${file} differs; if intended, regenerate with UPDATE_GOLDEN=1`);
    for (const code of ["IST0101", "IST0106", "IST0113", "IST0127", "IST0174", "IST0177", "MW0001"]) assert.match(r.stdout, new RegExp(`\\[${code}\\]`));
  });

  it("IST0113 goes away with ISTIO_MUTUAL, and comes back for ISTIO_MUTUAL towards mTLS DISABLE", () => {
    const fixed = codes(variant("conflicts.yaml", (t) => t.replace("mode: DISABLE", "mode: ISTIO_MUTUAL")));
    assert.ok(!fixed.some((c) => c.startsWith("IST0113")), fixed.join("\n"));
    const reversed = codes(variant("conflicts.yaml", (t) => t.replace("mode: DISABLE", "mode: ISTIO_MUTUAL").replace("mode: STRICT", "mode: DISABLE")));
    assert.ok(reversed.includes("IST0113 DestinationRule default/reviews-plaintext"), reversed.join("\n"));
  });

  it("IST0127 goes away once a workload carries the selected labels", () => {
    const found = codes(variant("services.yaml", (t) => `${t}---\napiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: ghost-1, namespace: default}\nspec: {address: 127.0.0.30, labels: {app: ghost}}\n`));
    assert.ok(!found.includes("IST0127 AuthorizationPolicy default/ghost"), found.join("\n"));
    assert.ok(found.includes("IST0127 PeerAuthentication default/nobody"));
  });

  it("MW0001 and IST0101 go away when the policies allow something and the provider exists", () => {
    const found = codes(variant("policies.yaml", (t) => t.replace("rules: [{}]", "rules: [{to: [{operation: {paths: [/admin]}}]}]").replace("selector: {matchLabels: {app: ratings}}", "selector: {matchLabels: {app: ratings}}\n  rules: [{}]").replace("missing-opa", "opa")));
    assert.deepEqual(found.filter((c) => /^(MW0001|IST0101)/.test(c)), []);
  });

  it("IST0174 goes away when the DestinationRule names the service's full host", () => {
    const before = codes(variant("conflicts.yaml", (t) => t));
    assert.ok(before.includes("IST0174 DestinationRule default/ratings-short"), before.join("\n"));
    const found = codes(variant("conflicts.yaml", (t) => t.replace("host: ratings\n", "host: ratings.default.svc.cluster.local\n")));
    assert.ok(!found.some((c) => c.startsWith("IST0174")), found.join("\n"));
  });

  it("IST0177 needs two ServiceEntries with different protocols on one host and port", () => {
    const found = codes(variant("conflicts.yaml", (t) => t.replace("protocol: TCP", "protocol: HTTP")));
    assert.ok(!found.some((c) => c.startsWith("IST0177")), found.join("\n"));
  });

  it("fails on warnings with --failure-threshold Warning and prints JSON with -o json", async () => {
    const r = await meshward("analyze", "-f", "test/cli/analyze/broken/services.yaml", "-f", "test/cli/analyze/broken/policies.yaml", "--failure-threshold", "Warning", "-o", "json");
    assert.equal(r.code, 1);
    const json = JSON.parse(r.stdout) as { code: string; level: string; object: string; origin: string }[];
    assert.ok(json.length > 0);
    for (const f of json) assert.match(f.code, /^(IST|MW)\d{4}$/);
    assert.ok(json.some((f) => f.code === "IST0127" && f.origin === "test/cli/analyze/broken/policies.yaml"));
    const bad = await meshward("analyze", "--failure-threshold", "Fatal");
    assert.equal(bad.code, 2);
  });

  it("reports the quarantines in force in the data dir (MW0002)", async () => {
    const dataDir = mkdtempSync(path.join(tmp, "data-"));
    const now = systemClock.nowMs();
    const clock = new ManualClock(now);
    const store = AuditStore.open(dataDir, { clock });
    try {
      const engine = new RiskEngine({ clock });
      engine.setPolicies(compileRuntimePolicies(configObjects(ESCAPE_QUARANTINE_POLICY)).policies);
      const set = new EnforcementSet(store.enforcementStore(), clock);
      const s = signal({ id: "e1", pod: podA, detection: "escape.setns-host-mnt", severity: "high", receivedAtMs: now });
      store.recordSignal(s);
      const ev = engine.evaluate(s);
      store.recordEvaluation(ev);
      for (const v of ev.verdicts) set.apply(v);
    } finally {
      store.close();
    }
    const files = [path.join(repoRoot, "mesh-config", "bookinfo.yaml")];
    const found = analyzeFiles(files, dataDir).filter((f) => f.type.code === "MW0002");
    assert.equal(found.length, 1);
    assert.equal(found[0]!.object, `Pod ${podA.namespace}/${podA.name}`);
    assert.match(found[0]!.message, /^quarantine \(pod\) q-[0-9a-f]+ in force since .*, expires in/);
    assert.deepEqual(analyzeFiles(files, path.join(tmp, "no-such-dir")).filter((f) => f.type.code === "MW0002"), []);
    const r = await meshward("analyze", "-f", "mesh-config", "--data-dir", dataDir);
    assert.equal(r.code, 0, "an Info finding does not fail the default threshold");
    assert.match(r.stdout, /^Info \[MW0002\] \(Pod /m);
  });
});
