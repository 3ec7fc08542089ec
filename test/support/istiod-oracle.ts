// istiod's own translation as a test peer (test/oracle/main.go imports istio.io/istio/pilot as a
// Go module): built once per content of its module (go-build.ts), then run per case to print the
// LDS/CDS/RDS/EDS istiod would push to a node for a directory of Istio YAML.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { buildGoBinary, type GoBinary } from "./go-build.js";
import { repoRoot } from "./grpc-go-peer.js";

/** An xDS node as the client sends it: id and metadata (LABELS an object, GENERATOR=grpc for proxyless). */
export interface OracleNode {
  readonly id: string;
  readonly metadata: JsonObject;
  /** The node's `locality` as `region/zone/subzone` (the oracle's --locality). */
  readonly locality?: string;
}

/** What istiod pushes, by xDS type, as proto3 JSON sorted by resource name. */
export interface OracleOutput {
  readonly lds: JsonObject[];
  readonly cds: JsonObject[];
  readonly rds: JsonObject[];
  readonly eds: JsonObject[];
}

let building: Promise<GoBinary> | undefined;

/** The built oracle, or why not (a skip outside CI only; a cold build takes minutes). */
export function istiodOracle(): Promise<GoBinary> {
  building ??= buildGoBinary({ what: "istiod oracle", dir: join(repoRoot(), "test", "oracle"), pkg: ".", cacheName: "meshward-istiod-oracle", binary: "istiod-oracle" });
  return building;
}

/** For a mocha `before` hook: the oracle's path, or the suite skips with a printed reason. */
export async function istiodOracleOrSkip(hook: Mocha.Context): Promise<string> {
  hook.timeout(900_000);
  const built = await istiodOracle();
  if ("path" in built) return built.path;
  console.log(`      skipping istiod oracle comparison: ${built.skip}`);
  return hook.skip();
}

function list(v: JsonValue | undefined): JsonObject[] {
  return Array.isArray(v) ? (v.filter((x) => typeof x === "object" && x !== null && !Array.isArray(x)) as JsonObject[]) : [];
}

/**
 * Runs istiod's generators for `node` on the Istio YAML in `configDir` (its mesh.yaml, else Istio's
 * defaults). A proxyless client names the listeners it asks for (`grpcListeners`); else it gets
 * every outbound one.
 */
export function oracleGenerate(binary: string, configDir: string, node: OracleNode, grpcListeners: readonly string[] = []): OracleOutput {
  const args = ["gen", "--config", configDir, "--proxy-id", node.id, "--meta", JSON.stringify(node.metadata), "--compact", "--log-level", "none"];
  for (const l of grpcListeners) args.push("--grpc-listener", l);
  if (node.locality !== undefined) args.push("--locality", node.locality);
  const ns = node.metadata["NAMESPACE"];
  if (typeof ns === "string") args.push("--namespace", ns);
  const r = spawnSync(binary, args, { encoding: "utf8", maxBuffer: 256 << 20 });
  if (r.error !== undefined || r.status !== 0) {
    throw new Error(`istiod oracle failed (exit ${r.status}) for ${node.id} on ${configDir}: ${r.error?.message ?? r.stderr}`);
  }
  const out = JSON.parse(r.stdout) as JsonObject;
  return { lds: list(out["lds"]), cds: list(out["cds"]), rds: list(out["rds"]), eds: list(out["eds"]) };
}
