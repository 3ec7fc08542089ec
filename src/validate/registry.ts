// Every message type meshward generated (src/gen/all_files.ts, written by the build) and the
// files they import (which brings in google.protobuf's well-known types), for resolving Any.
import { createRegistry, type DescFile, type Registry } from "@bufbuild/protobuf";
import { allGeneratedFiles } from "../gen/all_files.js";

let registry: Registry | undefined;

export function generatedTypes(): Registry {
  if (registry === undefined) {
    const files = new Set<DescFile>();
    const add = (file: DescFile): void => {
      if (files.has(file)) return;
      files.add(file);
      for (const dep of file.dependencies) add(dep);
    };
    for (const file of allGeneratedFiles) add(file);
    registry = createRegistry(...files);
  }
  return registry;
}
