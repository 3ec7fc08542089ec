// The preset detection templates: what no healthy workload does, each with its id, severity,
// MITRE ATT&CK technique and the action the default RuntimePolicy takes on it. Custom rules with
// the same id replace (or, with enabled: false, disable) them. src/agent/README.md maps them to
// Falco's rules and Tetragon's policies.
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

/** Package managers: Falco's package_mgmt_binaries. Writing below the binary directories is their job. */
const PACKAGE_MANAGERS = ["dpkg", "apt", "apt-get", "aptitude", "rpm", "yum", "dnf", "microdnf", "zypper", "apk", "pacman", "pip", "pip3", "npm", "gem"];
const SEARCH_TOOLS = ["grep", "egrep", "fgrep", "rg", "find", "ag", "ack"];

/**
 * Sysctls that belong to the container's own namespaces (network, IPC, UTS, user), which a pod may
 * set (securityContext.sysctls, applied by runc inside the container): not host knobs.
 */
const NAMESPACED_SYSCTLS = [
  "/proc/sys/net/", "/proc/sys/kernel/shm", "/proc/sys/kernel/msg", "/proc/sys/kernel/sem", "/proc/sys/kernel/hostname",
  "/proc/sys/kernel/domainname", "/proc/sys/fs/mqueue/", "/proc/sys/user/",
];

/** What the default RuntimePolicy (presetRuntimePolicy) does when a preset fires. */
export type PresetAction = "ALERT" | "QUARANTINE" | "ISOLATE_EGRESS";
export const PRESET_ACTIONS = new Map<string, PresetAction>();

function preset(id: string, severity: Severity, mitre: string, action: PresetAction, description: string, match: RuleMatch): Rule {
  PRESET_ACTIONS.set(id, action);
  return { id, severity, mitre, description, match, enabled: true, source: "preset" };
}

export const PRESET_RULES: readonly Rule[] = [
  preset("terminal-shell-in-container", "medium", "T1059.004", "ALERT", "A shell with a terminal started in a container (interactive exec)", {
    event: ["exec"], binary: SHELLS, tty: true,
  }),
  preset("namespace-setns", "high", "T1611", "QUARANTINE", "A container process joined another namespace (setns, nsenter)", { event: ["setns"], notBinary: CONTAINER_RUNTIME }),
  preset("namespace-unshare", "high", "T1611", "QUARANTINE", "A container process created new namespaces (unshare)", { event: ["unshare"], notBinary: CONTAINER_RUNTIME }),
  preset("namespace-clone", "medium", "T1611", "ALERT", "A container process cloned a child into new namespaces", { event: ["clone"], notBinary: CONTAINER_RUNTIME }),
  preset("setuid-to-root", "high", "T1548", "QUARANTINE", "A non-root process asked for uid 0 (setuid/setreuid/setresuid)", { event: ["setuid"] }),
  preset("capset-raise", "medium", "T1548", "ALERT", "capset asked for effective capabilities the process did not have", {
    event: ["capset"], addsCapabilities: true, notBinary: CONTAINER_RUNTIME,
  }),
  preset("setuid-binary-exec", "medium", "T1548.001", "ALERT", "A non-root process executed a setuid binary", {
    event: ["exec"], execFlags: ["setuid"], nonRoot: true,
  }),
  preset("mount-in-container", "high", "T1611", "QUARANTINE", "mount(2) from a container", { event: ["mount"], notBinary: CONTAINER_RUNTIME }),
  preset("cgroup-mount-in-container", "critical", "T1611", "QUARANTINE", "A cgroup filesystem was mounted from a container (release_agent escape setup)", {
    event: ["mount"], fsTypes: ["cgroup", "cgroup2"], notBinary: CONTAINER_RUNTIME,
  }),
  preset("cgroup-release-agent-write", "critical", "T1611", "QUARANTINE", "A container opened a cgroup release_agent or notify_on_release for writing", {
    event: ["open"], openReason: "cgroup-escape",
  }),
  preset("ptrace-attach", "high", "T1055.008", "QUARANTINE", "ptrace attach, seize or poke from a container", { event: ["ptrace"] }),
  preset("kernel-module-load", "critical", "T1547.006", "QUARANTINE", "A container tried to load a kernel module", { event: ["module"] }),
  preset("bpf-prog-load-in-container", "high", "T1014", "QUARANTINE", "A container loaded an eBPF program", { event: ["bpf"] }),
  preset("fileless-exec-memfd", "critical", "T1620", "QUARANTINE", "A binary was executed from a memfd (fileless execution)", {
    event: ["exec"], execFlags: ["memfd"], notBinary: CONTAINER_RUNTIME,
  }),
  preset("deleted-binary-exec", "high", "T1070.004", "ALERT", "A binary that was deleted from disk was executed", {
    event: ["exec"], execFlags: ["deleted"],
  }),
  preset("reverse-shell", "critical", "T1059", "ISOLATE_EGRESS", "A network socket was duplicated onto stdin, stdout or stderr", {
    event: ["dup_socket"], socketFamilies: ["inet", "inet6"],
  }),
  preset("netcat-remote-exec", "high", "T1059", "ISOLATE_EGRESS", "netcat/ncat started with a program to execute (nc -e, ncat --exec)", {
    event: ["exec"], binary: NETCATS, args: ["-e", "-c", "--exec", "--sh-exec", "--lua-exec"],
  }),
  preset("crypto-miner-stratum", "high", "T1496", "ISOLATE_EGRESS", "A process was started with a Stratum mining-pool URL", {
    event: ["exec"], argsContain: ["stratum+tcp://", "stratum+ssl://", "stratum2+tcp://", "stratum+tls://"],
  }),
  preset("sensitive-file-read", "high", "T1003.008", "ALERT", "A container read /etc/shadow, /etc/gshadow or sudoers", {
    event: ["open"], paths: ["/etc/shadow", "/etc/gshadow", "/etc/sudoers"],
  }),
  preset("service-account-token-read", "high", "T1528", "ALERT", "A shell or file tool read the pod's service-account credentials", {
    event: ["open"], paths: ["/var/run/secrets/kubernetes.io/", "/run/secrets/kubernetes.io/"], binary: FILE_TOOLS,
  }),
  // Issue 17: the rest of Falco's escape, privilege-escalation, credential-access and drift rules.
  preset("container-runtime-socket", "critical", "T1611", "QUARANTINE", "A container connected to the container runtime's API socket (docker.sock, containerd.sock, crio.sock)", {
    event: ["connect"], connectReason: "runtime-socket", notBinary: CONTAINER_RUNTIME,
  }),
  preset("host-kernel-knob-write", "critical", "T1611", "QUARANTINE", "A container opened a host kernel setting for writing (core_pattern, uevent_helper, /proc/sys, /sys)", {
    event: ["open"], openReason: "kernel-knob", notPaths: NAMESPACED_SYSCTLS, notBinary: CONTAINER_RUNTIME,
  }),
  preset("host-device-access", "critical", "T1611", "QUARANTINE", "A container opened a disk or memory device (/dev/sd*, /dev/nvme*, /dev/mem): the host's data under every permission check", {
    event: ["open"], openReason: "host-device", notBinary: CONTAINER_RUNTIME,
  }),
  preset("container-drift", "critical", "T1105", "QUARANTINE", "A binary written or made executable after the container started was executed (drift)", {
    event: ["exec"], drift: true, notBinary: CONTAINER_RUNTIME,
  }),
  preset("exec-from-dev-shm", "high", "T1059.004", "QUARANTINE", "A binary was executed from /dev/shm", {
    event: ["exec"], execFlags: ["dev-shm"],
  }),
  preset("symlink-over-sensitive-file", "high", "T1555", "ALERT", "A symlink to a sensitive file or directory (/etc/shadow, sudoers, /, /etc, /root) was created", {
    event: ["link"], link: "symlink",
  }),
  preset("hardlink-over-sensitive-file", "high", "T1555", "ALERT", "A hardlink to a sensitive file (/etc/shadow, sudoers, pam) was created", {
    event: ["link"], link: "hardlink",
  }),
  preset("write-below-etc", "medium", "T1098", "ALERT", "A container process opened a file below /etc for writing", {
    event: ["open"], openReason: "system-write", paths: ["/etc/"], notBinary: PACKAGE_MANAGERS,
  }),
  preset("write-below-binary-dir", "high", "T1543", "ALERT", "A container process wrote below a binary directory (/bin, /sbin, /usr/bin, /usr/local/bin, ...)", {
    event: ["open"], openReason: "system-write", notPaths: ["/etc/"], notBinary: PACKAGE_MANAGERS,
  }),
  preset("packet-socket", "medium", "T1557.002", "ALERT", "A container created a packet socket (AF_PACKET: sniffing, ARP spoofing)", {
    event: ["socket"], socketFamilies: ["packet"],
  }),
  preset("kube-api-contact", "medium", "T1613", "ALERT", "A container connected to the Kubernetes API server (pods labelled meshward.io/kube-api-client=true are expected to)", {
    event: ["connect"], connectReason: "kube-api", notPodLabels: { "meshward.io/kube-api-client": "true" },
  }),
  preset("cloud-metadata-contact", "medium", "T1552.005", "ALERT", "A container connected to the cloud instance-metadata service (credentials of the node's role; pods labelled meshward.io/cloud-metadata-client=true are expected to)", {
    event: ["connect"], connectReason: "cloud-metadata", notPodLabels: { "meshward.io/cloud-metadata-client": "true" },
  }),
  preset("private-key-search", "high", "T1552.004", "ALERT", "grep or find searching for private keys (BEGIN ... PRIVATE, id_rsa, id_ed25519)", {
    event: ["exec"], binary: SEARCH_TOOLS,
    argsContain: ["BEGIN PRIVATE", "BEGIN OPENSSH PRIVATE", "BEGIN RSA PRIVATE", "BEGIN DSA PRIVATE", "BEGIN EC PRIVATE", "id_rsa", "id_dsa", "id_ecdsa", "id_ed25519"],
  }),
  preset("cloud-credential-search", "high", "T1552.001", "ISOLATE_EGRESS", "grep or find searching for cloud credentials (AWS keys, gcloud, Azure)", {
    event: ["exec"], binary: SEARCH_TOOLS,
    argsContain: ["aws_secret_access_key", "aws_session_token", "accesskeyid", "secretaccesskey", ".aws/credentials", "application_default_credentials.json", "gcloud/credentials", ".azure/"],
  }),
  preset("log-clearing", "high", "T1070.002", "ALERT", "A log file below /var/log was truncated (evidence removal)", {
    event: ["open"], openReason: "log-truncate",
  }),
  preset("debugfs-in-privileged-container", "high", "T1611", "QUARANTINE", "debugfs was run with CAP_SYS_ADMIN (a privileged container reading the host's disk)", {
    event: ["exec"], binary: ["debugfs"], capabilities: ["CAP_SYS_ADMIN"],
  }),
  preset("setuid-bit-set", "high", "T1548.001", "ALERT", "A container process set the setuid or setgid bit on a file", {
    event: ["chmod"], notBinary: PACKAGE_MANAGERS,
  }),
  preset("userns-capability-use", "high", "T1611", "QUARANTINE", "A privileged operation from a user namespace the container created (unshare -U, then mount, namespaces, packet sockets)", {
    event: ["mount", "setns", "unshare", "clone", "socket", "module", "bpf", "ptrace", "capset", "open"], inCreatedUserNamespace: true,
  }),
  preset("privilege-gain-without-syscall", "high", "T1068", "QUARANTINE", "A process became root outside the set*id syscalls (kernel exploit)", {
    event: ["cred_change"],
  }),
];

/**
 * The default RuntimePolicy: every preset's default action, mesh-wide (the root namespace). The
 * same object is in examples/runtime-policy/preset-defaults.yaml; a test keeps the two equal.
 */
export function presetRuntimePolicy(rootNamespace = "istio-system"): Record<string, unknown> {
  const byAction = new Map<PresetAction, string[]>();
  for (const r of PRESET_RULES) {
    const a = PRESET_ACTIONS.get(r.id) ?? "ALERT";
    byAction.set(a, [...(byAction.get(a) ?? []), r.id]);
  }
  const names: Record<PresetAction, string> = { QUARANTINE: "escape-and-privilege", ISOLATE_EGRESS: "exfiltration-and-c2", ALERT: "suspicious" };
  return {
    apiVersion: "meshward.io/v1alpha1",
    kind: "RuntimePolicy",
    metadata: { name: "meshward-preset-defaults", namespace: rootNamespace },
    spec: {
      rules: (["QUARANTINE", "ISOLATE_EGRESS", "ALERT"] as const).filter((a) => byAction.has(a)).map((a) => ({
        name: names[a], trigger: { detections: byAction.get(a) }, action: a, ...(a === "ALERT" ? {} : { duration: "1h" }),
      })),
    },
  };
}
