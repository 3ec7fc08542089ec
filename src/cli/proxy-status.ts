// `meshward proxy-status` (istioctl proxy-status): every proxy connected to a running control
// plane and, per xDS type, whether it holds what it was sent (SYNCED, NOT SENT, STALE, NACKED),
// from the control plane's CSDS.
import { create } from "@bufbuild/protobuf";
import { ClientStatusDiscoveryService, ClientStatusRequestSchema, ConfigStatus, type ClientConfig, type ClientStatusRequest, type ClientStatusResponse } from "../gen/envoy/service/status/v3/csds_pb.js";
import { typeShortName } from "../xds/resource.js";
import { PushOrder } from "../xds/types.js";
import { unaryCall, type ControlPlaneTarget } from "./control-plane-call.js";
import { DEFAULT_ADDRESSES, FlagError, parseFlags, runCommand } from "./flags.js";
import type { Command } from "./main.js";

export const CONTROL_PLANE_FLAGS = {
  server: { type: "string", default: DEFAULT_ADDRESSES.xds },
  "token-file": { type: "string" },
  "tls-ca": { type: "string" },
} as const;

export const CONTROL_PLANE_USAGE = `  --server      the control plane's gRPC address (default ${DEFAULT_ADDRESSES.xds}; TLS port 15012 with --tls-ca)
  --token-file  a bearer token for an identity in the control plane's namespace (istio-system), or $MESHWARD_TOKEN
  --tls-ca      the mesh root certificate: speak TLS and verify the server with it`;

const USAGE = `usage: meshward proxy-status [proxy] [--server ${DEFAULT_ADDRESSES.xds}] [--token-file F] [--tls-ca F] [-o table|json]
${CONTROL_PLANE_USAGE}
  -o            table (default) or json (one object per proxy)`;

export function targetOf(values: { server: string; "token-file"?: string; "tls-ca"?: string }): ControlPlaneTarget {
  return { server: values.server, ...(values["token-file"] ? { tokenFile: values["token-file"] } : {}), ...(values["tls-ca"] ? { tlsCa: values["tls-ca"] } : {}) };
}

export async function fetchClientConfigs(t: ControlPlaneTarget, init: Parameters<typeof create<typeof ClientStatusRequestSchema>>[1] = {}): Promise<ClientConfig[]> {
  const res = await unaryCall<ClientStatusRequest, ClientStatusResponse>(t, ClientStatusDiscoveryService, "FetchClientStatus", create(ClientStatusRequestSchema, init));
  return res.config;
}

const stateName: Readonly<Record<number, string>> = {
  [ConfigStatus.SYNCED]: "SYNCED",
  [ConfigStatus.NOT_SENT]: "NOT SENT",
  [ConfigStatus.STALE]: "STALE",
  [ConfigStatus.ERROR]: "NACKED",
  [ConfigStatus.UNKNOWN]: "UNKNOWN",
};
const worst = ["NACKED", "STALE", "UNKNOWN", "NOT SENT", "SYNCED"];

/** Per type short name (CDS, EDS, LDS, RDS, SDS): the worst state over the proxy's resources. */
export function proxySyncStates(c: ClientConfig): Record<string, string> {
  const out: Record<string, string> = {};
  for (const typeUrl of PushOrder) {
    const states = c.genericXdsConfigs.filter((g) => g.typeUrl === typeUrl).map((g) => stateName[g.configStatus] ?? "UNKNOWN");
    out[typeShortName(typeUrl).toUpperCase()] = states.length === 0 ? "NOT SENT" : worst.find((w) => states.includes(w))!;
  }
  return out;
}

export function proxyStatusTable(configs: readonly ClientConfig[]): string {
  const types = PushOrder.map((t) => typeShortName(t).toUpperCase());
  const rows = configs.map((c) => {
    const s = proxySyncStates(c);
    return [c.node?.id ?? "", c.node?.cluster ?? "", ...types.map((t) => s[t]!)];
  });
  const header = ["NAME", "CLUSTER", ...types];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [header, ...rows].map((r) => r.map((v, i) => v.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n");
}

export const proxyStatusCommand: Command = {
  summary: "the proxies connected to a running control plane and their sync state per xDS type (CSDS)",
  run: (args) =>
    runCommand("proxy-status", USAGE, async () => {
      const { values, positionals } = parseFlags(args, { ...CONTROL_PLANE_FLAGS, output: { type: "string", short: "o", default: "table" } }, true);
      if (values.output !== "table" && values.output !== "json") throw new FlagError(`-o: "${values.output}" is neither table nor json`);
      if (positionals.length > 1) throw new FlagError("at most one proxy");
      const all = await fetchClientConfigs(targetOf(values), { excludeResourceContents: true });
      const configs = positionals.length === 0 ? all : all.filter((c) => proxyMatches(c.node?.id ?? "", positionals[0]!));
      if (positionals.length === 1 && configs.length === 0) throw new Error(`no connected proxy matches "${positionals[0]}"`);
      if (values.output === "json") {
        for (const c of configs) console.log(JSON.stringify({ proxy: c.node?.id, cluster: c.node?.cluster, ...proxySyncStates(c) }));
      } else console.log(configs.length === 0 ? "no proxies connected" : proxyStatusTable(configs));
      return 0;
    }),
};

/** A node id given whole, or as `pod.namespace` / `pod` (istioctl's `<pod-name[.namespace]>`). */
export function proxyMatches(nodeId: string, wanted: string): boolean {
  if (nodeId === wanted) return true;
  const podDotNs = nodeId.split("~")[2] ?? "";
  return podDotNs === wanted || podDotNs.split(".")[0] === wanted;
}
