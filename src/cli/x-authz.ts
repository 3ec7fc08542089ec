// `meshward x authz`: the authorization filters one workload receives, as proto3 JSON, in the
// order they are emitted. The conformance suite calls authzFiltersForRequest, the same path.
import type { JsonValue } from "@bufbuild/protobuf";
import { FlagError, parseFlags, parseLabels, required, runCommand } from "./flags.js";
import type { Command } from "./main.js";
import { type ConfigError, formatConfigError } from "../model/config.js";
import { buildSnapshot } from "../mesh/model.js";
import { readConfigFiles } from "../sources/file.js";
import { authzInputFor } from "../authz/mesh-input.js";
import { authzGrpcFilters, authzHttpFilters, authzNetworkFilters } from "../authz/filters.js";
import { httpFilterToJson, networkFilterToJson } from "../authz/json.js";

export type AuthzChain = "http" | "tcp" | "grpc";

export interface AuthzRequest {
  readonly meshFile?: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly chain: AuthzChain;
  readonly configFiles: readonly string[];
}

export interface AuthzResponse {
  /** proto3 JSON of each filter, in emission order. */
  readonly filters: JsonValue[];
  /** Rejected objects and files (errors) and accepted-with-warnings policies. */
  readonly findings: ConfigError[];
}

const USAGE = `usage: meshward x authz --namespace <ns> [--labels k=v,...] [--chain http|tcp|grpc] [--mesh <mesh.yaml>] <config.yaml>...

Prints, as a JSON array, the authorization filters an inbound chain of the workload receives:
HttpFilters for --chain http (default) and --chain grpc (proxyless gRPC), listener Filters for --chain tcp.`;

/** The request a command line asks for; throws FlagError. */
export function parseAuthzArgs(args: readonly string[]): AuthzRequest {
  const { values, positionals } = parseFlags(
    args,
    { mesh: { type: "string" }, namespace: { type: "string" }, labels: { type: "string" }, chain: { type: "string", default: "http" } },
    true,
  );
  const namespace = required(values.namespace, "namespace");
  const chain = values.chain;
  if (chain !== "http" && chain !== "tcp" && chain !== "grpc") throw new FlagError(`--chain must be http, tcp or grpc, found "${chain}"`);
  const labels = parseLabels(values.labels);
  return { namespace, labels, chain, configFiles: positionals, ...(values.mesh !== undefined ? { meshFile: values.mesh } : {}) };
}

/**
 * The filters the workload gets from these files, through the same path `meshward serve` takes:
 * the files are read as the file source reads them, admitted by the mesh model (a bad object is
 * rejected alone and reported), and translated for the workload.
 */
export function authzFiltersForRequest(req: AuthzRequest): AuthzResponse {
  const snapshot = buildSnapshot(readConfigFiles(req.configFiles, req.meshFile));
  const input = authzInputFor(snapshot, { namespace: req.namespace, labels: req.labels });
  if (req.chain === "tcp") {
    const out = authzNetworkFilters(input);
    return { filters: out.filters.map(networkFilterToJson), findings: [...snapshot.errors, ...out.problems] };
  }
  const out = req.chain === "grpc" ? authzGrpcFilters(input) : authzHttpFilters(input);
  return { filters: out.filters.map(httpFilterToJson), findings: [...snapshot.errors, ...out.problems] };
}

export const xAuthzCommand: Command = {
  summary: "print the authorization filters (proto3 JSON) a workload receives from AuthorizationPolicies",
  run: (args) => runCommand("x authz", USAGE, () => {
    const res = authzFiltersForRequest(parseAuthzArgs(args));
    for (const f of res.findings) console.error(formatConfigError(f));
    process.stdout.write(`${JSON.stringify(res.filters, null, 2)}\n`);
    // The filters printed are what the workload gets with the bad objects left out; still a failure.
    return res.findings.some((f) => f.severity === "error") ? 1 : 0;
  }),
};
