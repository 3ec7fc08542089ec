// Golden tests: mesh-config inputs -> the resources each proxy kind receives, as proto3 JSON in
// YAML. Regenerate with UPDATE_GOLDEN=1 and review the diff like code.
import { strict as assert } from "node:assert";
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse, stringify } from "yaml";
import { FileSource } from "../../src/sources/file.js";
import { buildSnapshot } from "../../src/mesh/model.js";
import { formatConfigError } from "../../src/model/config.js";
import { parseProxyNode } from "../../src/model/proxy.js";
import { dumpResources } from "../../src/translate/dump.js";
import { toBinary, type JsonObject } from "@bufbuild/protobuf";
import { translate } from "../../src/translate/index.js";
import { encodedResource } from "../../src/xds/resource.js";
import { expectEnvoyValidResources } from "../support/envoy-valid.js";
import { expectGrpcXdsAccepts } from "../support/grpc-xds-rules.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const golden = join(root, "test/golden");
const update = process.env["UPDATE_GOLDEN"] === "1";

const proxies = Object.entries(parse(readFileSync(join(golden, "proxies.yaml"), "utf8")) as Record<string, { id: string; metadata: JsonObject }>).map(
  ([name, node]) => ({ name, proxy: parseProxyNode(node) }),
);

/** A case is a directory to read: the embedded default, or a temp dir holding one input file. */
const cases: { name: string; dir: () => string; cleanup: () => void }[] = [
  { name: "default-mesh-config", dir: () => join(root, "mesh-config"), cleanup: () => {} },
  ...readdirSync(join(golden, "in"))
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((f) => {
      let tmp = "";
      return {
        name: basename(f, ".yaml"),
        dir: () => {
          tmp = mkdtempSync(join(tmpdir(), "meshward-golden-"));
          copyFileSync(join(golden, "in", f), join(tmp, f));
          return tmp;
        },
        cleanup: () => rmSync(tmp, { recursive: true, force: true }),
      };
    }),
];

describe("golden: mesh-config -> xDS resources", () => {
  for (const c of cases) {
    for (const { name: proxyName, proxy } of proxies) {
      it(`${c.name} for ${proxyName}`, () => {
        const dir = c.dir();
        try {
          const set = new FileSource({ dir, log: () => {} }).load();
          const snapshot = buildSnapshot(set);
          const errors = snapshot.errors.map((e) => formatConfigError({ ...e, file: basename(e.file) }));
          const text = stringify({ errors, ...dumpResources(snapshot, proxy) }, { lineWidth: 0 });
          const out = join(golden, "out", `${c.name}.${proxyName}.yaml`);
          if (update || !existsSync(out)) {
            writeFileSync(out, text);
            if (!update) assert.fail(`${out} did not exist; written, review it and re-run`);
          }
          assert.equal(text, readFileSync(out, "utf8"), `${out} differs; if intended, regenerate with UPDATE_GOLDEN=1 and review the diff`);
          // Every resource also passes Envoy's own validation rules (validate.rules, into Anys).
          const all = [...translate(snapshot, proxy)].flatMap(([typeUrl, planned]) =>
            planned.map((p) => {
              const { schema, message } = p.build();
              return encodedResource(typeUrl, p.name, toBinary(schema, message));
            }),
          );
          assert.ok(all.length > 0);
          expectEnvoyValidResources(all);
          if (proxy.flavour === "grpc") expectGrpcXdsAccepts(all);
        } finally {
          c.cleanup();
        }
      });
    }
  }
});
