// Fidelity against istiod: every golden case (and the embedded mesh-config, for each of its
// workloads) is translated by istiod's own code (the oracle, test/support/istiod-oracle.ts) and by
// meshward, and compared per resource (compare.ts). Only the differences listed with their reason
// in differences.ts may remain, and each listed difference must still occur somewhere.
import { strict as assert } from "node:assert";
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import type { JsonObject } from "@bufbuild/protobuf";
import { FileSource } from "../../src/sources/file.js";
import { buildSnapshot } from "../../src/mesh/model.js";
import { parseProxyNode } from "../../src/model/proxy.js";
import { dumpResources } from "../../src/translate/dump.js";
import { repoRoot } from "../support/grpc-go-peer.js";
import { istiodOracleOrSkip, oracleGenerate } from "../support/istiod-oracle.js";
import { compareResources, reachableFromListeners, type ResourcesByType } from "./compare.js";
import { differences } from "./differences.js";
import { goldenProxies, meshConfigProxies, type NamedNode } from "./proxies.js";
import { copyCase, gatewayCases } from "../gateway/cases.js";

const root = repoRoot();

function meshwardResources(dir: string, node: NamedNode): ResourcesByType {
  const snapshot = buildSnapshot(new FileSource({ dir, log: () => {} }).load());
  const d = dumpResources(snapshot, parseProxyNode(node));
  const objects = (k: string): JsonObject[] => (d[k] ?? []) as JsonObject[];
  return { lds: objects("listeners"), cds: objects("clusters"), rds: objects("routes"), eds: objects("endpoints") };
}

interface Case {
  readonly name: string;
  readonly proxies: readonly NamedNode[];
  /** A directory holding the case's YAML (the oracle reads every file in it); cleaned up after. */
  dir(): { path: string; cleanup: () => void };
}

const cases: Case[] = [
  { name: "mesh-config", proxies: meshConfigProxies, dir: () => ({ path: join(root, "mesh-config"), cleanup: () => {} }) },
  ...readdirSync(join(root, "test/golden/in"))
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((f) => ({
      name: `golden ${basename(f, ".yaml")}`,
      proxies: goldenProxies(root),
      dir: () => {
        const path = mkdtempSync(join(tmpdir(), "meshward-oracle-"));
        copyFileSync(join(root, "test/golden/in", f), join(path, f));
        return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
      },
    })),
  // Router proxies: each gateway golden case for its router (test/gateway/cases.yaml).
  ...gatewayCases(root).map((g) => ({
    name: `gateway ${g.name}`,
    proxies: [g.router],
    dir: () => {
      const path = mkdtempSync(join(tmpdir(), "meshward-oracle-"));
      copyCase(g, path);
      return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
    },
  })),
];

describe("fidelity: meshward's xDS output against istiod's own translation", function () {
  let oracle = "";
  const used = new Set<string>();
  let compared = 0;

  before(async function () {
    oracle = await istiodOracleOrSkip(this);
  });

  for (const c of cases) {
    for (const node of c.proxies) {
      it(`${c.name} for ${node.name} differs from istiod only where differences.ts says why`, function () {
        this.timeout(60_000);
        const { path, cleanup } = c.dir();
        try {
          const ours = meshwardResources(path, node);
          const grpc = node.metadata["GENERATOR"] === "grpc";
          const theirs = oracleGenerate(oracle, path, node, grpc ? ours.lds.map((l) => String(l["name"])) : []);
          assert.ok(theirs.lds.length > 0 && ours.lds.length > 0, "both sides produce listeners");
          const left = compareResources(theirs, grpc ? reachableFromListeners(ours) : ours, used, { caseName: c.name, proxyNamespace: String(node.metadata["NAMESPACE"]) });
          compared++;
          assert.deepEqual(left, [], `${left.length} unexplained differences from istiod:\n  ${left.join("\n  ")}`);
        } finally {
          cleanup();
        }
      });
    }
  }

  it("lists no difference that no longer occurs", function () {
    if (compared === 0) this.skip();
    const stale = differences.filter((d) => !used.has(d.id)).map((d) => d.id);
    assert.deepEqual(stale, [], "remove these from differences.ts: meshward now matches istiod there");
  });
});
