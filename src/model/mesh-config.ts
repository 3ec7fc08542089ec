// Istio's MeshConfig (the `mesh` key of istiod's ConfigMap), read from mesh-config/mesh.yaml with
// Istio's field names. Only the fields meshward acts on are typed; the rest stay raw so a later
// issue can type them without touching the source.
import { parseMeshNetworks, type MeshNetwork } from "./networks.js";
import { defaultLocalityLbSetting, parseLocalityLbSetting, type LocalityLbSetting } from "./locality.js";
import { FieldProblems, type Fields, enumField, isFields, mapField, stringField, stringListField, listField } from "./fields.js";

export interface MeshConfig {
  readonly trustDomain: string;
  readonly trustDomainAliases: readonly string[];
  /** Policies here apply mesh-wide (Istio default `istio-system`). */
  readonly rootNamespace: string;
  /** ProxyConfig defaults, kept raw for now. */
  readonly defaultConfig: Readonly<Record<string, unknown>>;
  /** Extension providers (ext_authz and friends), kept raw for the authorization issue. */
  readonly extensionProviders: readonly Readonly<Record<string, unknown>>[];
  /**
   * How sidecars normalise request paths before routing and authorization (MeshConfig
   * `pathNormalization.normalization`); absent = Istio's `DEFAULT` (same as `BASE`).
   */
  readonly pathNormalization?: PathNormalization;
  /**
   * Istio's MeshNetworks (istiod reads them from the `meshNetworks` key of its ConfigMap; meshward
   * from this key of mesh.yaml): which clusters and CIDRs form which network, and its gateways.
   */
  readonly meshNetworks: readonly MeshNetwork[];
  /**
   * Locality load balancing for every destination without its own DestinationRule setting
   * (MeshConfig `localityLbSetting`); default Istio's `{enabled: true}`.
   */
  readonly localityLbSetting: LocalityLbSetting;
  /** Every field as written, including the ones not typed above. */
  readonly raw: Readonly<Record<string, unknown>>;
}

export const pathNormalizations = ["DEFAULT", "NONE", "BASE", "MERGE_SLASHES", "DECODE_AND_MERGE_SLASHES"] as const;
export type PathNormalization = (typeof pathNormalizations)[number];

export const defaultMeshConfig: MeshConfig = {
  trustDomain: "cluster.local",
  trustDomainAliases: [],
  rootNamespace: "istio-system",
  defaultConfig: {},
  extensionProviders: [],
  meshNetworks: [],
  localityLbSetting: defaultLocalityLbSetting,
  raw: {},
};

const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const trustDomainPattern = /^[a-z0-9._-]+$/;

/** Reads a MeshConfig document; field paths are relative to the document. */
export function parseMeshConfig(doc: unknown, p: FieldProblems): MeshConfig | undefined {
  if (doc === undefined || doc === null) return defaultMeshConfig;
  if (!isFields(doc)) {
    p.error("", "mesh config must be a map");
    return undefined;
  }
  const path = "";
  const trustDomain = stringField(doc, "trustDomain", path, p) ?? defaultMeshConfig.trustDomain;
  if (!trustDomainPattern.test(trustDomain)) {
    p.error("trustDomain", `"${trustDomain}" is not a valid SPIFFE trust domain (lowercase letters, digits, ".", "-", "_")`);
  }
  const trustDomainAliases = stringListField(doc, "trustDomainAliases", path, p);
  trustDomainAliases.forEach((a, i) => {
    if (!trustDomainPattern.test(a)) p.error(`trustDomainAliases[${i}]`, `"${a}" is not a valid SPIFFE trust domain`);
  });
  const rootNamespace = stringField(doc, "rootNamespace", path, p) ?? defaultMeshConfig.rootNamespace;
  if (!dnsLabel.test(rootNamespace)) p.error("rootNamespace", `"${rootNamespace}" is not a valid namespace name`);
  const defaultConfig = mapField(doc, "defaultConfig", path, p) ?? {};
  const extensionProviders = listField(doc, "extensionProviders", path, p, (e, at): Fields | undefined => {
    if (isFields(e) && typeof e["name"] === "string") return e;
    p.error(at, "must be a map with a name");
    return undefined;
  });
  const pn = mapField(doc, "pathNormalization", path, p);
  const pathNormalization = pn === undefined ? undefined : enumField(pn, "normalization", "pathNormalization", p, pathNormalizations);
  const meshNetworks = parseMeshNetworks(doc["meshNetworks"], p);
  const lb = mapField(doc, "localityLbSetting", path, p);
  // A written setting replaces the default whole, as Istio's merge of the mesh document does; an
  // unset `enabled` there stays unset, which istiod treats as on.
  const localityLbSetting = lb !== undefined ? parseLocalityLbSetting(lb, "localityLbSetting", p) : defaultLocalityLbSetting;
  if (p.hasErrors) return undefined;
  return { trustDomain, trustDomainAliases, rootNamespace, defaultConfig, extensionProviders, meshNetworks, localityLbSetting, ...(pathNormalization ? { pathNormalization } : {}), raw: doc };
}

