// Compiles fixtures/pgv_cases.proto with the project's buf (against PGV's validate.proto from the
// same registry package as Envoy's protos) into a registry the checker can walk.
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createFileRegistry, fromBinary, type DescMessage, type FileRegistry } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";

const root = fileURLToPath(new URL("../../../", import.meta.url));

export function compileFixtureTypes(): FileRegistry {
  const dir = mkdtempSync(join(tmpdir(), "meshward-pgv-fixture-"));
  try {
    cpSync(join(root, "node_modules/@grpc/grpc-js-xds/deps/protoc-gen-validate/validate/validate.proto"), join(dir, "validate/validate.proto"));
    cpSync(join(root, "test/validate/fixtures/pgv_cases.proto"), join(dir, "pgv_cases.proto"));
    writeFileSync(join(dir, "buf.yaml"), "version: v2\n");
    execFileSync(join(root, "node_modules/.bin/buf"), ["build", "-o", "image.binpb"], { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
    // A buf image is wire-compatible with FileDescriptorSet and includes the imports.
    return createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(join(dir, "image.binpb"))));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function fixtureMessage(types: FileRegistry, name: string): DescMessage {
  const desc = types.getMessage(`meshward.test.pgv.${name}`);
  if (desc === undefined) throw new Error(`fixture message ${name} not found`);
  return desc;
}
