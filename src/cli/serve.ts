// `meshward serve`: the control plane on a mesh-config directory (default: the embedded one).
import { fileURLToPath } from "node:url";
import type { Command } from "./main.js";
import { startControlPlane } from "../mesh/control-plane.js";
import { DEFAULT_TRUSTED_NODE_ACCOUNTS, TRUSTED_NODE_ACCOUNTS_ENV, TrustedNodeAccounts } from "../ca/node-impersonation.js";
import { DEFAULT_CLUSTER_ID } from "../sources/kubernetes.js";
import { DATA_DIR_OPTION, DEFAULT_ADDRESSES, parseDurationSeconds, parseFlags, runCommand } from "./flags.js";

/** mesh-config/ of this checkout or package (dist/src/cli/ -> ../../../mesh-config). */
export const embeddedConfigDir = fileURLToPath(new URL("../../../mesh-config", import.meta.url));

const usage = `usage: meshward serve [flags]

  --config-dir DIR            mesh-config directory: mesh.yaml + Istio YAML (default: the embedded mesh-config/)
  --xds-address HOST:PORT     plaintext gRPC for xDS + CA + signals (default ${DEFAULT_ADDRESSES.xds});
                              serves loopback callers only, whatever address it listens on
  --tls-address HOST:PORT     TLS gRPC for xDS + CA, serving certificate from meshward's CA
                              (default ${DEFAULT_ADDRESSES.tls}; "none" to serve no TLS port)
  --cacerts-dir DIR           sign with an Istio cacerts directory instead of <data-dir>/ca
  --workload-cert-ttl D       lifetime of the certificates sent to Envoy sidecars over SDS (default 24h)
  --ca-dns-names N,...        extra DNS names for the TLS port's certificate (default: none)
  --trusted-node-accounts L   ns/sa,... node agents that may request certificates for pods on their node
                              (ImpersonatedIdentity; istiod's ${TRUSTED_NODE_ACCOUNTS_ENV}, read when the flag is
                              absent; default ${DEFAULT_TRUSTED_NODE_ACCOUNTS}; "" for none)
  --monitoring-address H:P    HTTP /healthz /readyz /metrics /debug/config (default ${DEFAULT_ADDRESSES.monitoring})
  --data-dir DIR              state directory (default .meshward)
  --kubeconfig FILE           also read a Kubernetes cluster (Services, EndpointSlices, Pods, Istio CRDs) and
                              accept its service-account tokens (TokenReview); in a pod (KUBERNETES_SERVICE_HOST
                              set) the in-cluster configuration is used without this flag (default: none)
  --cluster-id ID             the Kubernetes cluster's id (default ${DEFAULT_CLUSTER_ID}, as Istio's)
  --domain DOMAIN             Kubernetes' DNS domain: Service hosts are <svc>.<ns>.svc.<domain> (default cluster.local)`;

export const serveCommand: Command = {
  summary: "run the control plane on a mesh-config directory (default: the embedded mesh-config/)",
  run: (args) => runCommand("serve", usage, async () => {
    const { values } = parseFlags(args, {
      "config-dir": { type: "string", default: embeddedConfigDir },
      "xds-address": { type: "string", default: DEFAULT_ADDRESSES.xds },
      "tls-address": { type: "string", default: DEFAULT_ADDRESSES.tls },
      "cacerts-dir": { type: "string" },
      "workload-cert-ttl": { type: "string", default: "24h" },
      "ca-dns-names": { type: "string", default: "" },
      "trusted-node-accounts": { type: "string" },
      "monitoring-address": { type: "string", default: DEFAULT_ADDRESSES.monitoring },
      kubeconfig: { type: "string" },
      "cluster-id": { type: "string", default: DEFAULT_CLUSTER_ID },
      domain: { type: "string", default: "cluster.local" },
      ...DATA_DIR_OPTION,
    });
    const kubeconfig = values["kubeconfig"];
    const inCluster = (process.env["KUBERNETES_SERVICE_HOST"] ?? "") !== "";
    const workloadCertTtlSeconds = parseDurationSeconds(values["workload-cert-ttl"], "workload-cert-ttl");
    const tls = values["tls-address"];
    const trustedFlag = values["trusted-node-accounts"];
    const trustedEnv = process.env[TRUSTED_NODE_ACCOUNTS_ENV];
    const trustedNodeAccounts = TrustedNodeAccounts.parse(
      trustedFlag ?? trustedEnv ?? DEFAULT_TRUSTED_NODE_ACCOUNTS,
      trustedFlag !== undefined ? "--trusted-node-accounts" : trustedEnv !== undefined ? TRUSTED_NODE_ACCOUNTS_ENV : "default",
    );
    const cp = await startControlPlane({
      configDir: values["config-dir"],
      xdsAddress: values["xds-address"],
      ...(tls !== "none" ? { tlsAddress: tls } : {}),
      ...(values["cacerts-dir"] !== undefined ? { cacertsDir: values["cacerts-dir"] } : {}),
      workloadCertTtlSeconds,
      caDnsNames: values["ca-dns-names"].split(",").filter((n) => n !== ""),
      monitoringAddress: values["monitoring-address"],
      trustedNodeAccounts,
      dataDir: values["data-dir"],
      ...(kubeconfig !== undefined || inCluster
        ? { kubernetes: { ...(kubeconfig !== undefined ? { kubeconfig } : {}), clusterId: values["cluster-id"], domain: values["domain"] } }
        : {}),
    });
    await new Promise<void>((resolve) => {
      const stop = (): void => {
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
        void cp.stop().then(resolve);
      };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
    });
    return 0;
  }),
};
