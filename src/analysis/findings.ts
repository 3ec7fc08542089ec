// What `meshward analyze` reports: findings with stable codes. Where istioctl analyze has a message
// for the same problem its code and name are used (pkg/config/analysis/msg/messages.yaml), so
// tooling keyed on IST codes keeps working; meshward's own findings use MW codes.
export type FindingLevel = "Error" | "Warning" | "Info";

export interface FindingType {
  readonly code: string;
  readonly name: string;
  readonly level: FindingLevel;
}

export const FINDINGS = {
  referencedResourceNotFound: { code: "IST0101", name: "ReferencedResourceNotFound", level: "Error" },
  schemaValidationError: { code: "IST0106", name: "SchemaValidationError", level: "Error" },
  mtlsPolicyConflict: { code: "IST0113", name: "MTLSPolicyConflict", level: "Error" },
  noMatchingWorkloadsFound: { code: "IST0127", name: "NoMatchingWorkloadsFound", level: "Warning" },
  schemaValidationWarning: { code: "IST0133", name: "SchemaWarning", level: "Warning" },
  destinationRuleHostNotFound: { code: "IST0174", name: "UnknownDestinationRuleHost", level: "Warning" },
  conflictingServiceEntryProtocols: { code: "IST0177", name: "ServiceEntryProtocolConflict", level: "Warning" },
  conflictingGateways: { code: "IST0145", name: "ConflictingGateways", level: "Error" },
  authorizationDeniesAll: { code: "MW0001", name: "AuthorizationDeniesAll", level: "Warning" },
  quarantineInForce: { code: "MW0002", name: "QuarantineInForce", level: "Info" },
} as const satisfies Record<string, FindingType>;

export interface Finding {
  readonly type: FindingType;
  /** `Kind namespace/name` of the object the finding is about (a pod for quarantines). */
  readonly object: string;
  /** Where the object came from (file, `k8s://...`, or the data dir for quarantines). */
  readonly origin: string;
  readonly message: string;
}

/** A finding as JSON (`analyze -o json`, and the read API's /api/v1/analysis). */
export interface FindingJson {
  readonly code: string;
  readonly name: string;
  readonly level: FindingLevel;
  readonly object: string;
  readonly origin: string;
  readonly message: string;
}

export function findingToJson(f: Finding): FindingJson {
  return { code: f.type.code, name: f.type.name, level: f.type.level, object: f.object, origin: f.origin, message: f.message };
}

export function findingFromJson(j: FindingJson): Finding {
  return { type: { code: j.code, name: j.name, level: j.level }, object: j.object, origin: j.origin, message: j.message };
}

const LEVEL_RANK: Readonly<Record<FindingLevel, number>> = { Info: 0, Warning: 1, Error: 2 };

export function atLeast(level: FindingLevel, threshold: FindingLevel): boolean {
  return LEVEL_RANK[level] >= LEVEL_RANK[threshold];
}

/** istioctl analyze's line: `Warning [IST0127] (AuthorizationPolicy foo/bar file.yaml) message`. */
export function formatFinding(f: Finding): string {
  return `${f.type.level} [${f.type.code}] (${f.object}${f.origin !== "" ? ` ${f.origin}` : ""}) ${f.message}`;
}

/** Errors first, then warnings, then info; stable within a level by code, object and message. */
export function sortFindings(fs: readonly Finding[]): Finding[] {
  return [...fs].sort(
    (a, b) =>
      LEVEL_RANK[b.type.level] - LEVEL_RANK[a.type.level] ||
      a.type.code.localeCompare(b.type.code) ||
      a.object.localeCompare(b.object) ||
      a.message.localeCompare(b.message),
  );
}
