// `meshward proxy-config <proxy> listeners|routes|clusters|endpoints|secrets` (istioctl
// proxy-config): what a connected proxy was sent, from the control plane's CSDS, as a short table
// (default) or the resources in proto3 JSON / YAML. Private keys are never shown: the control plane
// redacts them before they leave it.
import { X509Certificate } from "node:crypto";
import { fromBinary, toJson, type JsonValue } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { stringify } from "yaml";
import type { ClientConfig, ClientConfig_GenericXdsConfig } from "../gen/envoy/service/status/v3/csds_pb.js";
import { ClusterSchema, type Cluster } from "../gen/envoy/config/cluster/v3/cluster_pb.js";
import { ClusterLoadAssignmentSchema, type ClusterLoadAssignment } from "../gen/envoy/config/endpoint/v3/endpoint_pb.js";
import { ListenerSchema, type Listener } from "../gen/envoy/config/listener/v3/listener_pb.js";
import { RouteConfigurationSchema, type RouteConfiguration } from "../gen/envoy/config/route/v3/route_pb.js";
import { SecretSchema, type Secret } from "../gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js";
import { resourceRegistry } from "../translate/registry.js";
import { TypeUrl } from "../xds/types.js";
import { CONTROL_PLANE_FLAGS, CONTROL_PLANE_USAGE, fetchClientConfigs, proxyMatches, targetOf } from "./proxy-status.js";
import { DEFAULT_ADDRESSES, FlagError, parseFlags, runCommand } from "./flags.js";
import type { Command } from "./main.js";

const sections = {
  listeners: { typeUrl: TypeUrl.Listener, schema: ListenerSchema },
  routes: { typeUrl: TypeUrl.RouteConfiguration, schema: RouteConfigurationSchema },
  clusters: { typeUrl: TypeUrl.Cluster, schema: ClusterSchema },
  endpoints: { typeUrl: TypeUrl.ClusterLoadAssignment, schema: ClusterLoadAssignmentSchema },
  secrets: { typeUrl: TypeUrl.Secret, schema: SecretSchema },
} as const;
type Section = keyof typeof sections;
const isSection = (s: string): s is Section => s in sections;

const USAGE = `usage: meshward proxy-config <proxy> ${Object.keys(sections).join("|")} [-o short|json|yaml] [--server ${DEFAULT_ADDRESSES.xds}] [--token-file F] [--tls-ca F]
  <proxy>       a node id, or pod.namespace, or pod (as meshward proxy-status lists them)
  -o            short (default: a table), json or yaml (the resources in proto3 JSON)
${CONTROL_PLANE_USAGE}`;

function table(header: string[], rows: string[][]): string {
  if (rows.length === 0) return "(none)";
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  return [header, ...rows].map((r) => r.map((v, i) => (v ?? "").padEnd(widths[i]!)).join("  ").trimEnd()).join("\n");
}

function listenerRow(l: Listener): string[] {
  const a = l.address?.address.case === "socketAddress" ? l.address.address.value : undefined;
  const where = a ? `${a.address}:${a.portSpecifier.case === "portValue" ? a.portSpecifier.value : ""}` : l.apiListener ? "(api listener)" : "";
  return [l.name, where, String(l.filterChains.length + (l.defaultFilterChain ? 1 : 0))];
}

function clusterRow(c: Cluster): string[] {
  const [direction = "", port = "", subset = "", host = ""] = c.name.split("|");
  const type = c.clusterDiscoveryType.case === "type" ? ["STATIC", "STRICT_DNS", "LOGICAL_DNS", "EDS", "ORIGINAL_DST"][c.clusterDiscoveryType.value] ?? "" : "";
  return c.name.includes("|") ? [host, port, subset, direction, type] : [c.name, "-", "-", "-", type];
}

function routeRow(r: RouteConfiguration): string[] {
  return [r.name, String(r.virtualHosts.length), r.virtualHosts.flatMap((v) => v.domains).slice(0, 4).join(",")];
}

function endpointRows(e: ClusterLoadAssignment): string[][] {
  return e.endpoints.flatMap((l) =>
    l.lbEndpoints.map((lb) => {
      const ep = lb.hostIdentifier.case === "endpoint" ? lb.hostIdentifier.value : undefined;
      const a = ep?.address?.address.case === "socketAddress" ? ep.address.address.value : undefined;
      const addr = a ? `${a.address}:${a.portSpecifier.case === "portValue" ? a.portSpecifier.value : ""}` : "";
      return [addr, ["UNKNOWN", "HEALTHY", "UNHEALTHY", "DRAINING", "TIMEOUT", "DEGRADED"][lb.healthStatus] ?? "", e.clusterName];
    }),
  );
}

function secretRows(s: Secret, status: string): string[][] {
  const pem = s.type.case === "tlsCertificate" ? s.type.value.certificateChain : s.type.case === "validationContext" ? s.type.value.trustedCa : undefined;
  const text = pem?.specifier.case === "inlineBytes" ? Buffer.from(pem.specifier.value).toString("utf8") : pem?.specifier.case === "inlineString" ? pem.specifier.value : "";
  const certs = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  const kind = s.type.case === "tlsCertificate" ? "Cert Chain" : "CA";
  if (certs.length === 0) return [[s.name, kind, status, "", "", ""]];
  // The leaf for a chain; every root for a bundle.
  return (kind === "CA" ? certs : certs.slice(0, 1)).map((c) => {
    const x = new X509Certificate(c);
    return [s.name, kind, status, x.serialNumber.toLowerCase(), new Date(x.validTo).toISOString(), new Date(x.validFrom).toISOString()];
  });
}

const syncName = ["UNKNOWN", "SYNCED", "NOT SENT", "STALE", "NACKED"];

export function shortTable(section: Section, entries: readonly ClientConfig_GenericXdsConfig[]): string {
  const decoded = entries.filter((e) => e.xdsConfig !== undefined).map((e) => ({ e, m: anyUnpack(e.xdsConfig!, resourceRegistry) }));
  switch (section) {
    case "listeners":
      return table(["NAME", "ADDRESS:PORT", "CHAINS"], decoded.map(({ m }) => listenerRow(m as Listener)));
    case "clusters":
      return table(["SERVICE FQDN", "PORT", "SUBSET", "DIRECTION", "TYPE"], decoded.map(({ m }) => clusterRow(m as Cluster)));
    case "routes":
      return table(["NAME", "VIRTUAL HOSTS", "DOMAINS"], decoded.map(({ m }) => routeRow(m as RouteConfiguration)));
    case "endpoints":
      return table(["ENDPOINT", "STATUS", "CLUSTER"], decoded.flatMap(({ m }) => endpointRows(m as ClusterLoadAssignment)));
    case "secrets":
      return table(["RESOURCE NAME", "TYPE", "STATUS", "SERIAL NUMBER", "NOT AFTER", "NOT BEFORE"], decoded.flatMap(({ e, m }) => secretRows(m as Secret, syncName[e.configStatus] ?? "")));
  }
}

export function resourcesJson(section: Section, entries: readonly ClientConfig_GenericXdsConfig[]): JsonValue[] {
  const { schema } = sections[section];
  return entries.filter((e) => e.xdsConfig !== undefined).map((e) => toJson(schema, fromBinary(schema, e.xdsConfig!.value), { registry: resourceRegistry }));
}

export const proxyConfigCommand: Command = {
  summary: "what a connected proxy was sent: listeners, routes, clusters, endpoints or secrets (CSDS)",
  run: (args) =>
    runCommand("proxy-config", USAGE, async () => {
      const { values, positionals } = parseFlags(args, { ...CONTROL_PLANE_FLAGS, output: { type: "string", short: "o", default: "short" } }, true);
      if (!["short", "json", "yaml"].includes(values.output)) throw new FlagError(`-o: "${values.output}" is none of short, json, yaml`);
      if (positionals.length !== 2) throw new FlagError("want a proxy and one of " + Object.keys(sections).join(", "));
      // Both istioctl's order (section first) and the proxy first are accepted.
      const [a, b] = positionals as [string, string];
      const [section, proxy] = isSection(a) ? [a, b] : isSection(b) ? [b, a] : [undefined, a];
      if (section === undefined) throw new FlagError(`none of "${a}", "${b}" is one of ${Object.keys(sections).join(", ")}`);
      const configs = (await fetchClientConfigs(targetOf(values))).filter((c) => proxyMatches(c.node?.id ?? "", proxy));
      if (configs.length === 0) throw new Error(`no connected proxy matches "${proxy}" (meshward proxy-status lists them)`);
      if (configs.length > 1) throw new Error(`"${proxy}" matches ${configs.length} proxies: ${configs.map((c) => c.node?.id).join(", ")}; give the node id`);
      const entries = configs[0]!.genericXdsConfigs.filter((g) => g.typeUrl === sections[section].typeUrl);
      if (values.output === "short") console.log(shortTable(section, entries));
      else {
        const json = resourcesJson(section, entries);
        console.log(values.output === "json" ? JSON.stringify(json, null, 2) : stringify(json));
      }
      return 0;
    }),
};
