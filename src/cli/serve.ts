// `meshward serve`: the control plane on a mesh-config directory (default: the embedded one).
import type { Command } from "./main.js";
import { DEFAULT_CONTROL_PLANE_NAMESPACE, type KubeReplicaOptions } from "../kube/replica.js";
import { loadKubeConfig } from "../kube/client.js";
import { DEFAULT_LEASE_DURATION_MS } from "../kube/leader.js";
import { DEFAULT_CLUSTER_ID } from "../sources/kubernetes.js";
import { DEFAULT_REMOTE_STALE_AFTER_MS } from "../multicluster/remote-clusters.js";
import { checkAuditDbUrl } from "../risk/audit-postgres.js";
import { DEFAULT_TRUSTED_NODE_ACCOUNTS, TRUSTED_NODE_ACCOUNTS_ENV, TrustedNodeAccounts } from "../ca/node-impersonation.js";
import { startControlPlane } from "../mesh/control-plane.js";
import { splitHostPort } from "../mesh/monitoring.js";
import { DEFAULT_INSTALL_VALUES } from "../install/manifest.js";
import { DEFAULT_PROXY_IMAGE, DEFAULT_REVISION } from "../webhook/inject-templates.js";
import { availableParallelism } from "node:os";
import { DATA_DIR_OPTION, DEFAULT_ADDRESSES, EMBEDDED_CONFIG_DIR, FlagError, parseDurationSeconds, parseFlags, runCommand } from "./flags.js";
import { createLogger, isLogLevel, pinoLog } from "../telemetry/log.js";


/** Where the stream workers serve xDS (--xds-workers-address): the port after Istio's plaintext 15010. */
export const DEFAULT_XDS_WORKERS_ADDRESS = "127.0.0.1:15011";
/**
 * Where the stream workers serve xDS over TLS (--xds-workers-tls-address): the port after Istio's
 * 15012, on every interface as 15012; proxies point discoveryAddress here and keep CA_ADDR on 15012.
 */
export const DEFAULT_XDS_WORKERS_TLS_ADDRESS = "0.0.0.0:15013";

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
  --xds-workers N             serve xDS from N stream worker processes on --xds-workers-address and
                              --xds-workers-tls-address (the plaintext and TLS addresses then serve the CA,
                              signals and CSDS, and no xDS);
                              "auto": one per core (${availableParallelism()} here); default 0: xDS in the main process
  --xds-workers-address H:P   the stream workers' xDS address (default ${DEFAULT_XDS_WORKERS_ADDRESS})
  --xds-workers-tls-address H:P
                              the stream workers' xDS address over TLS, as 15012 for xDS: the TLS port's serving
                              certificate, client certificates verified if given, tokens accepted (default
                              ${DEFAULT_XDS_WORKERS_TLS_ADDRESS}; "none" for none, as it is when --tls-address is "none");
                              proxies use it as discoveryAddress and keep CA_ADDR on the TLS port
  --monitoring-address H:P    HTTP /healthz /readyz /metrics /debug/config (default ${DEFAULT_ADDRESSES.monitoring})
  --console-address H:P       read API (JSON) and web console (default ${DEFAULT_ADDRESSES.console}; "none" for neither);
                              plain HTTP on loopback, HTTPS (certificate from meshward's CA) on any other address,
                              where every request needs a token from meshward token create --namespace istio-system
                              --service-account <you> --audience meshward-console
  --data-dir DIR              state directory (default .meshward)
  --log-level L               debug, info, warn or error (default info); logs are JSON lines (pino) on stderr
  --webhook-address HOST:PORT admission webhooks over HTTPS (Istio's port 15017), certificate from meshward's CA;
                              on a cluster the Lease holder keeps meshward-validator-<namespace>'s caBundle
                              current (default none: no webhooks); it also serves the sidecar injector at
                              /inject (meshward-sidecar-injector-<namespace>):
  --inject-proxy-image IMG    Istio's proxy image for the sidecar template (default ${DEFAULT_PROXY_IMAGE})
  --inject-agent-image IMG    meshward's image for the grpc-agent template (default ${DEFAULT_INSTALL_VALUES.image})
  --inject-cni                Istio's CNI plugin redirects traffic: no istio-init container (default off)
  --inject-revision REV       the istio.io/rev these pods are injected for (default ${DEFAULT_REVISION})
  --audit-db URL              also keep the audit trail in this shared PostgreSQL (postgres://...), one trail
                              for every replica (default: none, the trail is in <data-dir>/audit.db only)
  --kubeconfig FILE           also read a Kubernetes cluster (Services, EndpointSlices, Pods, Istio CRDs) and
                              accept its service-account tokens (TokenReview); in a pod (KUBERNETES_SERVICE_HOST
                              set) the in-cluster configuration is used without this flag (default: none)
  --cluster-id ID             the Kubernetes cluster's id (default ${DEFAULT_CLUSTER_ID}, as Istio's)
  --domain DOMAIN             Kubernetes' DNS domain: Service hosts are <svc>.<ns>.svc.<domain> (default cluster.local)
  --gateway-credentials DIR   gateway credentials (Gateway tls.credentialName) from files laid out
                              DIR/<namespace>/<name>/{tls.crt,tls.key (0600),ca.crt} (default: none)
  --gateway-secret-namespaces NS,...  with a cluster: also from the Secrets of these namespaces (the
                              service account needs get/list/watch on secrets there; default: none)
  --remote-cluster-stale-after D
                              remote clusters come from Secrets labelled istio/multiCluster=true in --namespace
                              (meshward create-remote-secret); one that cannot be reached keeps its last
                              endpoints this long, then they are withdrawn (default ${DEFAULT_REMOTE_STALE_AFTER_MS / 60_000}m)

With a cluster (--kubeconfig, or in a pod) meshward runs as one of several replicas:
  --namespace NS              the control plane's namespace: CA Secrets (cacerts, istio-ca-secret)
                              and the leader Lease (default ${DEFAULT_CONTROL_PLANE_NAMESPACE}, or $POD_NAMESPACE)
  --replica-id ID             this replica's holderIdentity in the Lease (default $POD_NAME, else host-pid)
  --lease-duration D          leader Lease duration; renew deadline D/2, retry every D/6 (default ${DEFAULT_LEASE_DURATION_MS / 1000}s)`;

export const serveCommand: Command = {
  summary: "run the control plane on a mesh-config directory (default: the embedded mesh-config/)",
  run: (args) => runCommand("serve", usage, async () => {
    const { values } = parseFlags(args, {
      "config-dir": { type: "string", default: EMBEDDED_CONFIG_DIR },
      "xds-address": { type: "string", default: DEFAULT_ADDRESSES.xds },
      "tls-address": { type: "string", default: DEFAULT_ADDRESSES.tls },
      "cacerts-dir": { type: "string" },
      "workload-cert-ttl": { type: "string", default: "24h" },
      "ca-dns-names": { type: "string", default: "" },
      "trusted-node-accounts": { type: "string" },
      "monitoring-address": { type: "string", default: DEFAULT_ADDRESSES.monitoring },
      "xds-workers": { type: "string", default: "0" },
      "xds-workers-address": { type: "string", default: DEFAULT_XDS_WORKERS_ADDRESS },
      "xds-workers-tls-address": { type: "string", default: DEFAULT_XDS_WORKERS_TLS_ADDRESS },
      "console-address": { type: "string", default: DEFAULT_ADDRESSES.console },
      kubeconfig: { type: "string" },
      "webhook-address": { type: "string", default: "none" },
      "inject-proxy-image": { type: "string", default: DEFAULT_PROXY_IMAGE },
      "inject-agent-image": { type: "string", default: DEFAULT_INSTALL_VALUES.image },
      "inject-cni": { type: "boolean", default: false },
      "inject-revision": { type: "string", default: DEFAULT_REVISION },
      "audit-db": { type: "string" },
      "cluster-id": { type: "string", default: DEFAULT_CLUSTER_ID },
      domain: { type: "string", default: "cluster.local" },
      "gateway-credentials": { type: "string" },
      "gateway-secret-namespaces": { type: "string", default: "" },
      "remote-cluster-stale-after": { type: "string", default: `${DEFAULT_REMOTE_STALE_AFTER_MS / 60_000}m` },
      namespace: { type: "string", default: process.env["POD_NAMESPACE"] || DEFAULT_CONTROL_PLANE_NAMESPACE },
      "replica-id": { type: "string" },
      "lease-duration": { type: "string", default: `${DEFAULT_LEASE_DURATION_MS / 1000}s` },
      "log-level": { type: "string", default: "info" },
      ...DATA_DIR_OPTION,
    });
    const level = values["log-level"];
    if (!isLogLevel(level)) throw new FlagError(`--log-level "${level}": want debug, info, warn or error`);
    const log = pinoLog(createLogger(level));
    const kubeconfig = values["kubeconfig"];
    const inCluster = (process.env["KUBERNETES_SERVICE_HOST"] ?? "") !== "";
    const leaseMs = parseDurationSeconds(values["lease-duration"], "lease-duration") * 1000;
    const kube: KubeReplicaOptions | undefined =
      kubeconfig !== undefined || inCluster
        ? {
            kubeConfig: loadKubeConfig(kubeconfig !== undefined ? { kubeconfig } : {}),
            namespace: values.namespace,
            clusterId: values["cluster-id"],
            ...(values["replica-id"] !== undefined ? { replicaId: values["replica-id"] } : {}),
            leaseDurationMs: leaseMs,
            renewDeadlineMs: leaseMs / 2,
            retryPeriodMs: leaseMs / 6,
          }
        : undefined;
    const workloadCertTtlSeconds = parseDurationSeconds(values["workload-cert-ttl"], "workload-cert-ttl");
    const tls = values["tls-address"];
    const trustedFlag = values["trusted-node-accounts"];
    const trustedEnv = process.env[TRUSTED_NODE_ACCOUNTS_ENV];
    const trustedNodeAccounts = TrustedNodeAccounts.parse(
      trustedFlag ?? trustedEnv ?? DEFAULT_TRUSTED_NODE_ACCOUNTS,
      trustedFlag !== undefined ? "--trusted-node-accounts" : trustedEnv !== undefined ? TRUSTED_NODE_ACCOUNTS_ENV : "default",
    );
    const workersFlag = values["xds-workers"];
    const xdsWorkers = workersFlag === "auto" ? availableParallelism() : Number(workersFlag);
    if (!Number.isInteger(xdsWorkers) || xdsWorkers < 0) throw new FlagError(`--xds-workers "${workersFlag}": want a whole number or auto`);
    const workersTls = values["xds-workers-tls-address"];
    const cp = await startControlPlane({
      ...(xdsWorkers > 0 ? { xdsWorkers: { count: xdsWorkers, address: values["xds-workers-address"], ...(workersTls !== "none" && tls !== "none" ? { tlsAddress: workersTls } : {}) } } : {}),
      configDir: values["config-dir"],
      xdsAddress: values["xds-address"],
      ...(tls !== "none" ? { tlsAddress: tls } : {}),
      ...(values["cacerts-dir"] !== undefined ? { cacertsDir: values["cacerts-dir"] } : {}),
      workloadCertTtlSeconds,
      caDnsNames: values["ca-dns-names"].split(",").filter((n) => n !== ""),
      monitoringAddress: values["monitoring-address"],
      ...(values["console-address"] !== "none" ? { consoleAddress: values["console-address"] } : {}),
      trustedNodeAccounts,
      dataDir: values["data-dir"],
      log,
      ...(values["audit-db"] !== undefined ? { auditDb: checkAuditDbUrl(values["audit-db"]) } : {}),
      ...(values["gateway-credentials"] !== undefined ? { gatewayCredentialsDir: values["gateway-credentials"] } : {}),
      gatewaySecretNamespaces: values["gateway-secret-namespaces"].split(",").map((n) => n.trim()).filter((n) => n !== ""),
      ...(kubeconfig !== undefined || inCluster
        ? {
            kubernetes: {
              ...(kubeconfig !== undefined ? { kubeconfig } : {}),
              clusterId: values["cluster-id"],
              domain: values["domain"],
              remoteStaleAfterMs: parseDurationSeconds(values["remote-cluster-stale-after"], "remote-cluster-stale-after") * 1000,
            },
          }
        : {}),
      ...(kube !== undefined ? { kube } : {}),
      ...(values["webhook-address"] !== "none"
        ? {
            webhookAddress: values["webhook-address"],
            injection: {
              namespace: values.namespace,
              domain: values["domain"],
              clusterId: values["cluster-id"],
              proxyImage: values["inject-proxy-image"],
              agentImage: values["inject-agent-image"],
              cni: values["inject-cni"],
              revision: values["inject-revision"],
              // Proxies get xDS where it is served: the workers' TLS port when they run.
              ...(xdsWorkers > 0 && workersTls !== "none" && tls !== "none" ? { discoveryPort: splitHostPort(workersTls).port } : {}),
            },
          }
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
