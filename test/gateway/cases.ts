// The gateway golden cases: test/gateway/cases/<case>.in.yaml, each translated for the router named
// in test/gateway/cases.yaml. Shared by the golden test and the istiod oracle comparison.
import { copyFileSync, existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { parse } from "yaml";
import type { JsonObject } from "@bufbuild/protobuf";

export interface GatewayCase {
  readonly name: string;
  /** The case's input file. */
  readonly file: string;
  /** Its MeshConfig (`<case>.mesh.yaml`), when it has one. */
  readonly mesh?: string;
  readonly router: { readonly name: string; readonly id: string; readonly metadata: JsonObject };
}

export function gatewayCases(root: string): GatewayCase[] {
  const dir = join(root, "test/gateway/cases");
  const routers = parse(readFileSync(join(root, "test/gateway/cases.yaml"), "utf8")) as Record<string, { id: string; metadata: JsonObject }>;
  return readdirSync(dir)
    .filter((f) => f.endsWith(".in.yaml"))
    .sort()
    .map((f) => {
      const name = basename(f, ".in.yaml");
      const router = routers[name];
      if (router === undefined) throw new Error(`test/gateway/cases.yaml names no router for case ${name}`);
      const mesh = join(dir, `${name}.mesh.yaml`);
      return { name, file: join(dir, f), ...(existsSync(mesh) ? { mesh } : {}), router: { name: router.id.split("~")[2] ?? router.id, ...router } };
    });
}

/** Puts a case's files into `dir` as a mesh-config directory: its objects, and its MeshConfig as mesh.yaml. */
export function copyCase(c: GatewayCase, dir: string): void {
  copyFileSync(c.file, join(dir, basename(c.file)));
  if (c.mesh !== undefined) copyFileSync(c.mesh, join(dir, "mesh.yaml"));
}
