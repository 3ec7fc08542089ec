// Detection rules: the shape shared by the preset templates and custom YAML rules, and the
// validation that turns untrusted YAML into rules (errors name file, rule index and field).
import type { EventKind } from "../native/event-layout.js";

export const SEVERITIES = ["info", "low", "medium", "high", "critical"] as const;
export type Severity = (typeof SEVERITIES)[number];

export const EVENT_KINDS: readonly EventKind[] = [
  "exec", "fork", "exit", "setns", "unshare", "clone", "setuid", "capset", "mount", "open", "ptrace", "module", "bpf", "dup_socket", "cred_change",
  "socket", "connect", "link", "chmod",
];
export const NAMESPACE_KINDS = ["mnt", "net", "pid", "user", "uts", "ipc", "cgroup", "time", "any"] as const;
export const EXEC_FLAGS = ["setuid", "setgid", "memfd", "deleted", "cred-elevated", "dev-shm"] as const;
export const OPEN_REASONS = ["sensitive", "cgroup-escape", "kernel-knob", "system-write", "log-truncate", "host-device"] as const;
export const SOCKET_FAMILIES = ["unix", "inet", "inet6", "packet"] as const;
export const CONNECT_REASONS = ["runtime-socket", "kube-api", "cloud-metadata"] as const;
export const LINK_KINDS = ["symlink", "hardlink"] as const;

/** Every condition present must hold (AND); list-valued conditions match if any element does. */
export interface RuleMatch {
  readonly event: readonly EventKind[];
  /** Binary base names or absolute paths of the acting process. */
  readonly binary?: readonly string[];
  readonly notBinary?: readonly string[];
  /** An argv element (after argv[0]) equal to one of these, or starting with `<value>=`. */
  readonly args?: readonly string[];
  /** A substring of the command line, case-insensitive (as Falco's icontains). */
  readonly argsContain?: readonly string[];
  readonly namespaces?: readonly (typeof NAMESPACE_KINDS)[number][];
  /** Capabilities that must all be in the effective set, e.g. CAP_SYS_ADMIN. */
  readonly capabilities?: readonly string[];
  readonly addsCapabilities?: boolean;
  readonly podLabels?: Readonly<Record<string, string>>;
  /** The pod must not carry every one of these labels (an opt-out, e.g. for API clients). */
  readonly notPodLabels?: Readonly<Record<string, string>>;
  readonly podNamespaces?: readonly string[];
  readonly tty?: boolean;
  readonly nonRoot?: boolean;
  readonly execFlags?: readonly (typeof EXEC_FLAGS)[number][];
  /** Path prefixes: the opened file, the mount target, the executed file, the link target, the socket path or the chmod'ed file. */
  readonly paths?: readonly string[];
  readonly notPaths?: readonly string[];
  readonly fsTypes?: readonly string[];
  readonly openReason?: (typeof OPEN_REASONS)[number];
  /** dup_socket: the duplicated socket's family; socket: the new socket's family. */
  readonly socketFamilies?: readonly (typeof SOCKET_FAMILIES)[number][];
  readonly connectReason?: (typeof CONNECT_REASONS)[number];
  readonly link?: (typeof LINK_KINDS)[number];
  /** exec of a file created, written or made executable after its container started. */
  readonly drift?: boolean;
  /** The process runs in a user namespace a process of its container created. */
  readonly inCreatedUserNamespace?: boolean;
}

export interface Rule {
  readonly id: string;
  readonly description: string;
  readonly severity: Severity;
  /** MITRE ATT&CK technique, e.g. T1611. */
  readonly mitre: string;
  readonly enabled: boolean;
  readonly match: RuleMatch;
  /** "preset" or the file the rule came from. */
  readonly source: string;
}

export const CAPABILITIES = [
  "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID",
  "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
  "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
  "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
] as const;

export class RuleFileError extends Error {}

type Raw = Record<string, unknown>;

function fail(where: string, msg: string): never {
  throw new RuleFileError(`${where}: ${msg}`);
}

function stringList(v: unknown, where: string, allowed?: readonly string[]): string[] {
  const list = typeof v === "string" ? [v] : v;
  if (!Array.isArray(list) || list.length === 0) fail(where, "expected a string or a non-empty list of strings");
  return list.map((x, i) => {
    if (typeof x !== "string" || x === "") fail(`${where}[${i}]`, "expected a non-empty string");
    if (allowed !== undefined && !allowed.includes(x)) fail(`${where}[${i}]`, `unknown value "${x}" (expected one of ${allowed.join(", ")})`);
    return x;
  });
}

/** One value of an enumeration. */
function single<T extends string>(v: unknown, where: string, allowed: readonly T[]): T {
  if (typeof v !== "string") fail(where, `expected one of ${allowed.join(", ")}`);
  return stringList(v, where, allowed)[0] as T;
}

function bool(v: unknown, where: string): boolean {
  if (typeof v !== "boolean") fail(where, "expected true or false");
  return v;
}

const MATCH_FIELDS = new Set([
  "event", "binary", "notBinary", "args", "argsContain", "namespaces", "capabilities", "addsCapabilities", "podLabels",
  "podNamespaces", "tty", "nonRoot", "execFlags", "paths", "fsTypes", "openReason", "socketFamilies",
  "notPodLabels", "notPaths", "connectReason", "link", "drift", "inCreatedUserNamespace",
]);

export function parseMatch(raw: unknown, where: string): RuleMatch {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) fail(where, "expected a mapping");
  const m = raw as Raw;
  for (const k of Object.keys(m)) if (!MATCH_FIELDS.has(k)) fail(`${where}.${k}`, `unknown field (expected one of ${[...MATCH_FIELDS].join(", ")})`);
  if (m.event === undefined) fail(`${where}.event`, "required");
  const out: { -readonly [K in keyof RuleMatch]: RuleMatch[K] } = { event: stringList(m.event, `${where}.event`, EVENT_KINDS) as EventKind[] };
  const lists = ["binary", "notBinary", "args", "argsContain", "paths", "notPaths", "fsTypes", "podNamespaces"] as const;
  for (const k of lists) if (m[k] !== undefined) out[k] = stringList(m[k], `${where}.${k}`);
  if (m.namespaces !== undefined) out.namespaces = stringList(m.namespaces, `${where}.namespaces`, NAMESPACE_KINDS) as RuleMatch["namespaces"];
  if (m.capabilities !== undefined) out.capabilities = stringList(m.capabilities, `${where}.capabilities`, CAPABILITIES);
  if (m.execFlags !== undefined) out.execFlags = stringList(m.execFlags, `${where}.execFlags`, EXEC_FLAGS) as RuleMatch["execFlags"];
  if (m.socketFamilies !== undefined) out.socketFamilies = stringList(m.socketFamilies, `${where}.socketFamilies`, SOCKET_FAMILIES) as RuleMatch["socketFamilies"];
  if (m.openReason !== undefined) out.openReason = single(m.openReason, `${where}.openReason`, OPEN_REASONS);
  if (m.connectReason !== undefined) out.connectReason = single(m.connectReason, `${where}.connectReason`, CONNECT_REASONS);
  if (m.link !== undefined) out.link = single(m.link, `${where}.link`, LINK_KINDS);
  for (const k of ["addsCapabilities", "tty", "nonRoot", "drift", "inCreatedUserNamespace"] as const) if (m[k] !== undefined) out[k] = bool(m[k], `${where}.${k}`);
  for (const f of ["podLabels", "notPodLabels"] as const) {
    const l = m[f];
    if (l === undefined) continue;
    if (typeof l !== "object" || l === null || Array.isArray(l)) fail(`${where}.${f}`, "expected a mapping of label to value");
    for (const [k, v] of Object.entries(l)) if (typeof v !== "string") fail(`${where}.${f}.${k}`, "expected a string value");
    out[f] = l as Record<string, string>;
  }
  return out;
}

/** Parses one rule; `where` is e.g. `rules.yaml: rules[3]`. */
export function parseRule(raw: unknown, where: string, source: string): Rule {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) fail(where, "expected a mapping");
  const r = raw as Raw;
  const known = new Set(["id", "description", "severity", "mitre", "enabled", "match"]);
  for (const k of Object.keys(r)) if (!known.has(k)) fail(`${where}.${k}`, `unknown field (expected one of ${[...known].join(", ")})`);
  if (typeof r.id !== "string" || !/^[a-z0-9][a-z0-9-]*$/.test(r.id)) fail(`${where}.id`, "required, lower-case letters, digits and dashes");
  const enabled = r.enabled === undefined ? true : bool(r.enabled, `${where}.enabled`);
  // A rule that only disables a preset needs nothing else.
  if (!enabled && r.match === undefined) {
    return { id: r.id, description: "", severity: "info", mitre: "", enabled, match: { event: [] }, source };
  }
  if (typeof r.severity !== "string" || !(SEVERITIES as readonly string[]).includes(r.severity)) {
    fail(`${where}.severity`, `required, one of ${SEVERITIES.join(", ")}`);
  }
  if (r.mitre !== undefined && (typeof r.mitre !== "string" || !/^(T|TA)\d{4}(\.\d{3})?$/.test(r.mitre))) {
    fail(`${where}.mitre`, "expected a MITRE ATT&CK id such as T1611 or T1055.008");
  }
  if (r.description !== undefined && typeof r.description !== "string") fail(`${where}.description`, "expected a string");
  return {
    id: r.id, description: (r.description as string | undefined) ?? r.id, severity: r.severity as Severity,
    mitre: (r.mitre as string | undefined) ?? "", enabled, match: parseMatch(r.match, `${where}.match`), source,
  };
}
