// Golden tests of the IR stage (model -> IR, before any Envoy resource): for every golden input and
// proxy, the route tables and outbound listeners of its kind (Envoy sidecars: also the inbound ports
// and clusters) as plain data, in
// test/golden/ir/<case>.<proxy>.yaml. Together with golden.test.ts (the Envoy stage) a change shows
// in the stage that made it. Regenerate with UPDATE_GOLDEN=1 and review the diff like code.
import { strict as assert } from "node:assert";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse, stringify } from "yaml";
import type { JsonObject } from "@bufbuild/protobuf";
import { buildSnapshot } from "../../src/mesh/model.js";
import { parseProxyNode } from "../../src/model/proxy.js";
import { FileSource } from "../../src/sources/file.js";
import { inboundIR, proxylessOutboundIR, sidecarOutboundIR } from "../../src/ir/index.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const golden = join(root, "test/golden");
const out = join(golden, "ir");
const update = process.env["UPDATE_GOLDEN"] === "1";

const proxies = Object.entries(parse(readFileSync(join(golden, "proxies.yaml"), "utf8")) as Record<string, { id: string; metadata: JsonObject }>).map(([name, node]) => ({ name, proxy: parseProxyNode(node) }));

describe("golden: mesh-config -> IR (route tables and outbound listeners per proxy kind)", () => {
  const inputs = readdirSync(join(golden, "in")).filter((f) => f.endsWith(".yaml")).sort();

  it("has an input for every case it checks", () => assert.ok(inputs.length >= 10));

  for (const file of inputs) {
    for (const { name: proxyName, proxy } of proxies) {
      it(`${basename(file, ".yaml")} for ${proxyName}`, () => {
        const dir = mkdtempSync(join(tmpdir(), "meshward-ir-golden-"));
        let text: string;
        try {
          copyFileSync(join(golden, "in", file), join(dir, file));
          const scope = { snapshot: buildSnapshot(new FileSource({ dir, log: () => {} }).load()), proxy };
          // The Envoy stage's golden files pin everything; here the IR: routes, and listeners as decided (gRPC: name -> RDS).
          const routes = (proxy.flavour === "grpc" ? proxylessOutboundIR(scope) : sidecarOutboundIR(scope)).routes.map((t) => t.ir());
          const listeners =
            proxy.flavour === "grpc" ? proxylessOutboundIR(scope).listeners.map((l) => ({ name: l.name, rds: l.ir().rds })) : sidecarOutboundIR(scope).listeners.map((l) => l.ir());
          // Envoy sidecars: the inbound ports and clusters (service targets, or the Sidecar's ingress listeners).
          const inbound = proxy.flavour === "grpc" ? undefined : (({ ports, clusters }) => ({ ports, clusters }))(inboundIR(scope));
          text = stringify({ routes, listeners, ...(inbound ? { inbound } : {}) }, { lineWidth: 0, aliasDuplicateObjects: false });
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
        const target = join(out, `${basename(file, ".yaml")}.${proxyName}.yaml`);
        mkdirSync(out, { recursive: true });
        if (update || !existsSync(target)) {
          writeFileSync(target, text);
          if (!update) assert.fail(`${target} did not exist; written, review it and re-run`);
        }
        assert.equal(text, readFileSync(target, "utf8"), `${target} differs; if intended, regenerate with UPDATE_GOLDEN=1 and review the diff`);
      });
    }
  }
});
