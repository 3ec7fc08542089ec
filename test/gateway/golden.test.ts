// Golden tests for router proxies: each gateway case -> the listeners, routes, clusters and
// endpoints its router receives, one file per type (`<case>.listeners.yaml`, ...), as proto3 JSON
// in YAML. Regenerate with UPDATE_GOLDEN=1 and review the diff like code. Every resource also
// passes Envoy's validate.rules. (The same cases are diffed against istiod in test/oracle.)
import { strict as assert } from "node:assert";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { stringify } from "yaml";
import { toBinary } from "@bufbuild/protobuf";
import { FileSource } from "../../src/sources/file.js";
import { buildSnapshot } from "../../src/mesh/model.js";
import { formatConfigError } from "../../src/model/config.js";
import { parseProxyNode } from "../../src/model/proxy.js";
import { dumpResources } from "../../src/translate/dump.js";
import { translate } from "../../src/translate/index.js";
import { encodedResource } from "../../src/xds/resource.js";
import { expectEnvoyValidResources } from "../support/envoy-valid.js";
import { repoRoot } from "../support/grpc-go-peer.js";
import { mergedGatewayFor } from "../../src/gateway/merge.js";
import { copyCase, gatewayCases } from "./cases.js";

const root = repoRoot();
const update = process.env["UPDATE_GOLDEN"] === "1";

function expectGolden(path: string, text: string): void {
  if (update || !existsSync(path)) {
    writeFileSync(path, text);
    if (!update) assert.fail(`${path} did not exist; written, review it and re-run`);
  }
  assert.equal(text, readFileSync(path, "utf8"), `${path} differs; if intended, regenerate with UPDATE_GOLDEN=1 and review the diff`);
}

describe("golden: gateways -> a router proxy's xDS resources", () => {
  for (const c of gatewayCases(root)) {
    it(`${c.name} gives ${c.router.name} the listeners, routes, clusters and endpoints in its golden files, all valid for Envoy`, () => {
      const dir = mkdtempSync(join(tmpdir(), "meshward-gateway-golden-"));
      try {
        copyCase(c, dir);
        const snapshot = buildSnapshot(new FileSource({ dir, log: () => {} }).load());
        const proxy = parseProxyNode(c.router);
        assert.equal(proxy.type, "router");
        const dump = dumpResources(snapshot, proxy);
        const errors = snapshot.errors.map((e) => formatConfigError({ ...e, file: basename(e.file) }));
        for (const type of ["listeners", "routes", "clusters", "endpoints"]) {
          // Servers the merge left out, with why (istiod logs them and counts the gateway as rejected).
          const skipped = mergedGatewayFor(snapshot, proxy).rejected.map((r) => `Gateway ${r.gatewayRef}: spec.servers[${r.index}]: ${r.why}`);
          const body = type === "listeners" ? { errors, skipped, listeners: dump[type] } : { [type]: dump[type] };
          expectGolden(join(root, "test/gateway/cases", `${c.name}.${type}.yaml`), stringify(body, { lineWidth: 0 }));
        }
        const all = [...translate(snapshot, proxy)].flatMap(([typeUrl, planned]) =>
          planned.map((p) => {
            const { schema, message } = p.build();
            return encodedResource(typeUrl, p.name, toBinary(schema, message));
          }),
        );
        assert.ok(all.some((r) => r.typeUrl.endsWith("Listener")), "the router gets listeners");
        expectEnvoyValidResources(all);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
