// The node agent on Kubernetes: a DaemonSet with the least the eBPF agent needs, its ServiceAccount
// and the only RBAC it gets (read pods, to attribute processes to the pods on its node).
//   - hostPID: the agent reads every process's /proc/<pid> (cgroup, exe, cmdline) and the kernel
//     reports host pids.
//   - capabilities, everything else dropped: BPF (load programs and maps), PERFMON (attach
//     tracepoints and kprobes, read the ring buffer), SYS_RESOURCE (the locked-memory limit of
//     older kernels' map accounting), SYS_PTRACE (/proc/<pid>/exe and environ of other users'
//     processes need ptrace read access), DAC_READ_SEARCH (walk /proc and cgroup directories owned
//     by others). No SYS_ADMIN, no privileged.
//   - read-only host mounts: tracefs (libbpf attaches classic tracepoints through it) and the cgroup
//     root (pod attribution by cgroup). No /sys/fs/bpf: the agent pins nothing.
//   - seccomp Unconfined: the RuntimeDefault profiles of container runtimes before containerd 1.7
//     allow bpf() and perf_event_open() only with SYS_ADMIN, a far larger grant than these four
//     capabilities without a syscall filter.
//   - identity: a projected token for audience meshward-signals, bound to the agent's pod; the
//     control plane's TokenReview learns the node from it (node-identity.ts), never from the agent.
import { SIGNALS_AUDIENCE, AGENT_SERVICE_ACCOUNT } from "../signals/node-identity.js";
import type { InstallValues, KubeObject } from "./manifest.js";

export const AGENT_NAME = "meshward-agent";
export const AGENT_TOKEN_PATH = "/var/run/secrets/tokens/meshward-token";
export const AGENT_ROOT_PATH = "/var/run/secrets/istio/root-cert.pem";
const AGENT_LABELS = { app: AGENT_NAME, "app.kubernetes.io/name": AGENT_NAME, "app.kubernetes.io/managed-by": "meshward" };

export function agentObjects(v: InstallValues, service: string): KubeObject[] {
  const role: KubeObject = {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRole",
    metadata: { name: `${AGENT_NAME}-${v.namespace}`, labels: AGENT_LABELS },
    // The agent lists and watches its node's pods (spec.nodeName field selector); RBAC cannot limit
    // by field, so the rule is read-only and nothing else.
    rules: [{ apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] }],
  };
  const controlPlane = `${service}.${v.namespace}.svc`;
  return [
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: AGENT_SERVICE_ACCOUNT, namespace: v.namespace, labels: AGENT_LABELS } },
    role,
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: role.metadata.name, labels: AGENT_LABELS },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: role.metadata.name },
      subjects: [{ kind: "ServiceAccount", name: AGENT_SERVICE_ACCOUNT, namespace: v.namespace }],
    },
    {
      apiVersion: "apps/v1",
      kind: "DaemonSet",
      metadata: { name: AGENT_NAME, namespace: v.namespace, labels: AGENT_LABELS },
      spec: {
        selector: { matchLabels: { app: AGENT_NAME } },
        updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1 } },
        template: {
          metadata: { labels: AGENT_LABELS },
          spec: {
            serviceAccountName: AGENT_SERVICE_ACCOUNT,
            hostPID: true,
            // Every node, including tainted ones: a node without its agent is a node without detections.
            tolerations: [{ operator: "Exists" }],
            priorityClassName: "system-node-critical",
            containers: [
              {
                name: "agent",
                image: v.image,
                imagePullPolicy: v.imagePullPolicy,
                args: [
                  "agent",
                  "--node=$(NODE_NAME)",
                  `--control-plane=${controlPlane}:15012`,
                  `--tls-server-name=${controlPlane}`,
                  `--tls-ca=${AGENT_ROOT_PATH}`,
                  `--token-file=${AGENT_TOKEN_PATH}`,
                  "--kube-pods",
                  "--data-dir=/var/lib/meshward",
                ],
                env: [{ name: "NODE_NAME", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } }],
                resources: { requests: { cpu: "50m", memory: "128Mi" }, limits: { memory: "512Mi" } },
                securityContext: {
                  runAsUser: 0,
                  privileged: false,
                  allowPrivilegeEscalation: false,
                  readOnlyRootFilesystem: true,
                  capabilities: { drop: ["ALL"], add: ["BPF", "PERFMON", "SYS_RESOURCE", "SYS_PTRACE", "DAC_READ_SEARCH"] },
                  seccompProfile: { type: "Unconfined" },
                },
                volumeMounts: [
                  { name: "meshward-token", mountPath: "/var/run/secrets/tokens", readOnly: true },
                  { name: "istiod-ca-cert", mountPath: "/var/run/secrets/istio", readOnly: true },
                  { name: "tracefs", mountPath: "/sys/kernel/tracing", readOnly: true },
                  { name: "cgroup", mountPath: "/sys/fs/cgroup", readOnly: true },
                  { name: "data", mountPath: "/var/lib/meshward" },
                ],
              },
            ],
            volumes: [
              { name: "meshward-token", projected: { sources: [{ serviceAccountToken: { audience: SIGNALS_AUDIENCE, expirationSeconds: 3600, path: "meshward-token" } }] } },
              { name: "istiod-ca-cert", configMap: { name: "istio-ca-root-cert" } },
              { name: "tracefs", hostPath: { path: "/sys/kernel/tracing", type: "Directory" } },
              { name: "cgroup", hostPath: { path: "/sys/fs/cgroup", type: "Directory" } },
              // The exec audit of this pod's life; the control plane keeps the trail that matters.
              { name: "data", emptyDir: {} },
            ],
          },
        },
      },
    },
  ];
}
