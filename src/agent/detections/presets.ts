// The preset detection templates: what no healthy workload does, each with its id, severity and
// MITRE ATT&CK technique. Custom rules with the same id replace (or, with enabled: false, disable) them.
import type { Rule, RuleMatch, Severity } from "./rule.js";

const SHELLS = ["sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "csh", "tcsh", "fish", "busybox"];
const NETCATS = ["nc", "ncat", "netcat", "nc.traditional", "nc.openbsd"];
const FILE_TOOLS = ["cat", "head", "tail", "less", "more", "base64", "xxd", "od", "strings", "dd", "cp", "grep", "curl", "wget", "python", "python3", "perl", "jq", ...SHELLS];

/**
 * The container runtime sets up namespaces, mounts and capabilities from inside the container's
 * cgroup (runc init joins the cgroup before it calls setns/unshare/mount/capset), at every
 * container start and every `kubectl exec`. Matched by binary name or comm; a process can fake
 * its comm, which is the price of not alerting on every exec (Falco makes the same trade).
 */
export const CONTAINER_RUNTIME = [
  "runc", "crun", "youki", "runc:[0:PARENT]", "runc:[1:CHILD]", "runc:[2:INIT]", "containerd-shim", "containerd-shim-runc-v2", "conmon",
];

function preset(id: string, severity: Severity, mitre: string, description: string, match: RuleMatch): Rule {
  return { id, severity, mitre, description, match, enabled: true, source: "preset" };
}

export const PRESET_RULES: readonly Rule[] = [
  preset("terminal-shell-in-container", "medium", "T1059.004", "A shell with a terminal started in a container (interactive exec)", {
    event: ["exec"], binary: SHELLS, tty: true,
  }),
  preset("namespace-setns", "high", "T1611", "A container process joined another namespace (setns, nsenter)", { event: ["setns"], notBinary: CONTAINER_RUNTIME }),
  preset("namespace-unshare", "high", "T1611", "A container process created new namespaces (unshare)", { event: ["unshare"], notBinary: CONTAINER_RUNTIME }),
  preset("namespace-clone", "medium", "T1611", "A container process cloned a child into new namespaces", { event: ["clone"], notBinary: CONTAINER_RUNTIME }),
  preset("setuid-to-root", "high", "T1548", "A non-root process asked for uid 0 (setuid/setreuid/setresuid)", { event: ["setuid"] }),
  preset("capset-raise", "medium", "T1548", "capset asked for effective capabilities the process did not have", {
    event: ["capset"], addsCapabilities: true, notBinary: CONTAINER_RUNTIME,
  }),
  preset("setuid-binary-exec", "medium", "T1548.001", "A non-root process executed a setuid binary", {
    event: ["exec"], execFlags: ["setuid"], nonRoot: true,
  }),
  preset("mount-in-container", "high", "T1611", "mount(2) from a container", { event: ["mount"], notBinary: CONTAINER_RUNTIME }),
  preset("cgroup-mount-in-container", "critical", "T1611", "A cgroup filesystem was mounted from a container (release_agent escape setup)", {
    event: ["mount"], fsTypes: ["cgroup", "cgroup2"], notBinary: CONTAINER_RUNTIME,
  }),
  preset("cgroup-release-agent-write", "critical", "T1611", "A container opened a cgroup release_agent or notify_on_release for writing", {
    event: ["open"], openReason: "cgroup-escape",
  }),
  preset("ptrace-attach", "high", "T1055.008", "ptrace attach, seize or poke from a container", { event: ["ptrace"] }),
  preset("kernel-module-load", "critical", "T1547.006", "A container tried to load a kernel module", { event: ["module"] }),
  preset("bpf-prog-load-in-container", "high", "T1014", "A container loaded an eBPF program", { event: ["bpf"] }),
  preset("fileless-exec-memfd", "critical", "T1620", "A binary was executed from a memfd (fileless execution)", {
    event: ["exec"], execFlags: ["memfd"], notBinary: CONTAINER_RUNTIME,
  }),
  preset("deleted-binary-exec", "high", "T1070.004", "A binary that was deleted from disk was executed", {
    event: ["exec"], execFlags: ["deleted"],
  }),
  preset("reverse-shell", "critical", "T1059", "A network socket was duplicated onto stdin, stdout or stderr", {
    event: ["dup_socket"], socketFamilies: ["inet", "inet6"],
  }),
  preset("netcat-remote-exec", "high", "T1059", "netcat/ncat started with a program to execute (nc -e, ncat --exec)", {
    event: ["exec"], binary: NETCATS, args: ["-e", "-c", "--exec", "--sh-exec", "--lua-exec"],
  }),
  preset("crypto-miner-stratum", "high", "T1496", "A process was started with a Stratum mining-pool URL", {
    event: ["exec"], argsContain: ["stratum+tcp://", "stratum+ssl://", "stratum2+tcp://", "stratum+tls://"],
  }),
  preset("sensitive-file-read", "high", "T1003.008", "A container read /etc/shadow, /etc/gshadow or sudoers", {
    event: ["open"], paths: ["/etc/shadow", "/etc/gshadow", "/etc/sudoers"],
  }),
  preset("service-account-token-read", "high", "T1528", "A shell or file tool read the pod's service-account credentials", {
    event: ["open"], paths: ["/var/run/secrets/kubernetes.io/", "/run/secrets/kubernetes.io/"], binary: FILE_TOOLS,
  }),
  preset("privilege-gain-without-syscall", "high", "T1068", "A process became root outside the set*id syscalls (kernel exploit)", {
    event: ["cred_change"],
  }),
];
