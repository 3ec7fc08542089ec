// Evaluates rules against kernel events. Presets come first; a rule file adds rules or replaces
// presets by id. Reloading a bad file keeps the previous rules and reports why.
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { parse as parseYaml } from "yaml";
import type { KernelEvent } from "../native/event-layout.js";
import { ConnectReason, ExecFlag, OpenReason } from "../native/event-layout.js";
import type { Attribution } from "../attribution/attribution.js";
import type { ProcessNode } from "../process-tree.js";
import { CAPABILITIES, parseRule, RuleFileError, type Rule, type RuleMatch } from "./rule.js";
import { PRESET_RULES } from "./presets.js";

export interface EventContext {
  readonly event: KernelEvent;
  readonly process: ProcessNode;
  readonly attribution: Attribution;
  /** The process is in a user namespace its container created (UserNamespaceTracker). */
  readonly inCreatedUserNamespace?: boolean;
}

const CLONE_NS: Record<string, bigint> = {
  mnt: 0x00020000n, cgroup: 0x02000000n, uts: 0x04000000n, ipc: 0x08000000n, user: 0x10000000n, pid: 0x20000000n, net: 0x40000000n, time: 0x00000080n,
};
const FAMILIES: Record<number, string> = { 1: "unix", 2: "inet", 10: "inet6", 17: "packet" };
const EXEC_FLAG_BITS: Record<string, number> = {
  setuid: ExecFlag.setuid, setgid: ExecFlag.setgid, memfd: ExecFlag.memfd, deleted: ExecFlag.deleted, "cred-elevated": ExecFlag.credElevated,
  "dev-shm": ExecFlag.devShm,
};
const OPEN_REASON_BITS: Record<string, number> = {
  sensitive: OpenReason.sensitive, "cgroup-escape": OpenReason.cgroupEscape, "kernel-knob": OpenReason.kernelKnob,
  "system-write": OpenReason.systemWrite, "log-truncate": OpenReason.logTruncate, "host-device": OpenReason.hostDevice,
};
const CONNECT_REASONS: Record<string, number> = {
  "runtime-socket": ConnectReason.runtimeSocket, "kube-api": ConnectReason.kubeApi, "cloud-metadata": ConnectReason.cloudMetadata,
};

/**
 * Drift: the executable's inode changed (created, written, chmod'ed, linked) after its container's
 * cgroup was created. Image layers are unpacked before the container starts, so a binary installed
 * by the image build is never drift; the kernel keeps the change time, so no file is read and no
 * per-file state is kept (which an attacker could evict by creating files).
 */
export function isDrift(ev: KernelEvent, a: Attribution): boolean {
  return ev.kind === "exec" && a.containerStartNs !== undefined && ev.exeCtimeNs > a.containerStartNs;
}

function capMask(names: readonly string[]): bigint {
  let m = 0n;
  for (const n of names) m |= 1n << BigInt(CAPABILITIES.indexOf(n as (typeof CAPABILITIES)[number]));
  return m;
}

export function binaryMatches(list: readonly string[], p: ProcessNode): boolean {
  const base = basename(p.binary);
  return list.some((b) => (b.startsWith("/") ? p.binary === b : base === b || p.comm === b));
}

/** Namespaces named by an event's flags; setns with nstype 0 means "whatever the fd is". */
export function namespacesOf(ev: KernelEvent): string[] {
  if (ev.kind !== "setns" && ev.kind !== "unshare" && ev.kind !== "clone") return [];
  if (ev.kind === "setns" && ev.nsFlags === 0n) return ["any"];
  return Object.entries(CLONE_NS).filter(([, bit]) => (ev.nsFlags & bit) !== 0n).map(([k]) => k);
}

function pathOf(ev: KernelEvent): string | undefined {
  if (ev.kind === "open") return ev.path;
  if (ev.kind === "mount") return ev.target;
  if (ev.kind === "exec") return ev.filename;
  if (ev.kind === "link") return ev.target;
  if (ev.kind === "connect") return ev.path;
  if (ev.kind === "chmod") return ev.path;
  return undefined;
}

export function matches(m: RuleMatch, ctx: EventContext): boolean {
  const { event: ev, process: p, attribution: a } = ctx;
  if (!m.event.includes(ev.kind)) return false;
  if (m.binary && !binaryMatches(m.binary, p)) return false;
  if (m.notBinary && binaryMatches(m.notBinary, p)) return false;
  if (m.args) {
    const argv = p.args.slice(1);
    if (!argv.some((x) => m.args!.some((want) => x === want || x.startsWith(`${want}=`)))) return false;
  }
  if (m.argsContain) {
    // Case-insensitive, as Falco's icontains: "begin rsa private" is the same search.
    const line = p.args.join(" ").toLowerCase();
    if (!m.argsContain.some((s) => line.includes(s.toLowerCase()))) return false;
  }
  if (m.namespaces) {
    const ns = namespacesOf(ev);
    if (!m.namespaces.some((n) => ns.includes(n))) return false;
  }
  if (m.capabilities) {
    const mask = capMask(m.capabilities);
    if ((ev.proc.capEffective & mask) !== mask) return false;
  }
  if (m.addsCapabilities !== undefined) {
    const adds = ev.kind === "capset" && (ev.effective & ~ev.proc.capEffective) !== 0n;
    if (adds !== m.addsCapabilities) return false;
  }
  if (m.podLabels) {
    const labels = a.pod?.labels ?? {};
    if (!Object.entries(m.podLabels).every(([k, v]) => labels[k] === v)) return false;
  }
  if (m.notPodLabels) {
    const labels = a.pod?.labels ?? {};
    if (Object.entries(m.notPodLabels).every(([k, v]) => labels[k] === v)) return false;
  }
  if (m.podNamespaces && !m.podNamespaces.includes(a.pod?.namespace ?? "")) return false;
  if (m.tty !== undefined && (ev.proc.tty !== 0) !== m.tty) return false;
  if (m.nonRoot !== undefined && (ev.proc.uid !== 0) !== m.nonRoot) return false;
  if (m.execFlags) {
    if (ev.kind !== "exec" || !m.execFlags.some((f) => (ev.flags & EXEC_FLAG_BITS[f]) !== 0)) return false;
  }
  if (m.paths) {
    const path = pathOf(ev);
    if (path === undefined || !m.paths.some((pre) => path.startsWith(pre))) return false;
  }
  if (m.notPaths) {
    const path = pathOf(ev);
    if (path !== undefined && m.notPaths.some((pre) => path.startsWith(pre))) return false;
  }
  if (m.fsTypes && (ev.kind !== "mount" || !m.fsTypes.includes(ev.fsType))) return false;
  if (m.openReason && (ev.kind !== "open" || (ev.reason & OPEN_REASON_BITS[m.openReason]) === 0)) return false;
  if (m.socketFamilies && ((ev.kind !== "dup_socket" && ev.kind !== "socket") || !m.socketFamilies.includes(FAMILIES[ev.family] as "inet"))) return false;
  if (m.connectReason && (ev.kind !== "connect" || ev.reason !== CONNECT_REASONS[m.connectReason])) return false;
  if (m.link && (ev.kind !== "link" || ev.hard !== (m.link === "hardlink"))) return false;
  if (m.drift !== undefined && isDrift(ev, a) !== m.drift) return false;
  if (m.inCreatedUserNamespace !== undefined && (ctx.inCreatedUserNamespace ?? false) !== m.inCreatedUserNamespace) return false;
  return true;
}

/** Parses a rule file (`rules: [...]`). Throws RuleFileError naming the file, rule index and field. */
export function parseRuleFile(file: string, text: string): Rule[] {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new RuleFileError(`${file}: invalid YAML: ${(err as Error).message}`);
  }
  if (doc === null || doc === undefined) return [];
  if (typeof doc !== "object" || Array.isArray(doc)) throw new RuleFileError(`${file}: expected a mapping with a "rules" list`);
  const rules = (doc as Record<string, unknown>).rules;
  if (rules === undefined) return [];
  if (!Array.isArray(rules)) throw new RuleFileError(`${file}: rules: expected a list`);
  const seen = new Set<string>();
  return rules.map((r, i) => {
    const rule = parseRule(r, `${file}: rules[${i}]`, file);
    if (seen.has(rule.id)) throw new RuleFileError(`${file}: rules[${i}].id: duplicate id "${rule.id}"`);
    seen.add(rule.id);
    return rule;
  });
}

export class RuleEngine {
  private active: Rule[] = [...PRESET_RULES];

  get rules(): readonly Rule[] {
    return this.active;
  }

  /** Replaces the custom rules; presets with the same id are replaced or disabled. */
  setCustomRules(custom: readonly Rule[]): void {
    const byId = new Map<string, Rule>();
    for (const r of PRESET_RULES) byId.set(r.id, r);
    for (const r of custom) byId.set(r.id, r);
    this.active = [...byId.values()].filter((r) => r.enabled);
  }

  /** Loads a rule file; on error the previous rules stay and the error is returned. */
  loadFile(file: string): RuleFileError | undefined {
    try {
      this.setCustomRules(parseRuleFile(file, readFileSync(file, "utf8")));
      return undefined;
    } catch (err) {
      return err instanceof RuleFileError ? err : new RuleFileError(`${file}: ${(err as Error).message}`);
    }
  }

  evaluate(ctx: EventContext): Rule[] {
    return this.active.filter((r) => matches(r.match, ctx));
  }
}
