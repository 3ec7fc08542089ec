// The running control plane: sources (the mesh-config directory, and a Kubernetes cluster when
// configured) -> merge -> model -> provider -> xDS server on gRPC, plus the monitoring HTTP endpoint. `meshward serve` is a thin flag parser over startControlPlane; tests
// start it on ephemeral ports. Later issues (signal API) register on the same gRPC server.
//
// Security: the CA (istio.v1.auth.IstioCertificateService) is served on the plaintext port and on
// the TLS port, whose serving certificate the same CA issues. xDS streams pass ProxyAdmission (the
// CA's authenticators, node metadata must name the authenticated identity); Envoy sidecars get
// their SDS secrets (`default`, `ROOTCA`) over the same ADS stream, for that identity only.
import * as grpc from "@grpc/grpc-js";
import { createServer, type Server as HttpServer } from "node:http";
import { mkdirSync } from "node:fs";
import { FileSource } from "../sources/file.js";
import { ConfigMerge } from "../sources/merge.js";
import type { ConfigSource } from "../sources/source.js";
import { type ConfigSet, type MeshSnapshot } from "../model/snapshot.js";
import { buildSnapshot, meshKinds } from "./model.js";
import { defaultClusterDomain } from "../model/kinds.js";
import { gatewayApiConversion } from "../gateway-api/model-input.js";
import { DEFAULT_CLUSTER_ID, KubernetesSource } from "../sources/kubernetes.js";
import { TokenReviewAuthenticator } from "../security/tokenreview.js";
import { RemoteEnforcementObserver, startMulticluster } from "../multicluster/wiring.js";
import { allOfPolicies, RemoteIssuanceGuard } from "../multicluster/remote-issuance.js";
import type { RemoteClusters } from "../multicluster/remote-clusters.js";
import { snapshotPodDirectory, snapshotPodPlacement } from "../kube/pod-directory.js";
import { Metrics } from "../telemetry/metrics.js";
import { XdsServer, type XdsStreams } from "../xds/server.js";
import { XdsWorkerPool } from "../xds/workers/pool.js";
import { MeshResourceProvider } from "./provider.js";
import { openCertificateAuthority } from "../ca/setup.js";
import { CacertsReloader } from "../ca/cacerts-reload.js";
import { registerCaService } from "../ca/ca-service.js";
import { caDecisionMetrics } from "../ca/ca-metrics.js";
import { createCaServerCredentials, type CaServerCredentials } from "../ca/serving-credentials.js";
import { SdsSecretProvider } from "../ca/sds.js";
import type { CertificateAuthority } from "../ca/authority.js";
import { DEFAULT_TRUSTED_NODE_ACCOUNTS, proxyPodPlacement, TrustedNodeAccounts, type NodeImpersonation } from "../ca/node-impersonation.js";
import { registerWithheldIdentities } from "../ca/withheld-identities.js";
import { TypeUrl } from "../xds/types.js";
import { ProxyAdmission } from "./proxy-admission.js";
import { TypeRoutedProvider } from "./type-routed-provider.js";
import { UnionProvider } from "./union-provider.js";
import { GatewayCredentialStore, loadCredentialDirectory } from "../gateway/credential-store.js";
import { GatewayCredentialProvider } from "../gateway/credentials.js";
import { watchGatewaySecrets } from "../gateway/secret-watch.js";
import { listenHttp, monitoringHandler, splitHostPort } from "./monitoring.js";
import { RiskWiring } from "../risk/wiring.js";
import type { EnforcementStore } from "../risk/quarantine.js";
import { XDS_GRPC_SERVER_OPTIONS } from "../xds/limits.js";
import { listenGrpc, type GrpcListener } from "../xds/listen.js";
import { nodeIdentityOfAgentToken, SIGNALS_AUDIENCE } from "../signals/node-identity.js";
import { ClientCertificateAuthenticator } from "../security/certificate-authenticator.js";
import { MeshwardTokenAuthenticator } from "../security/token-authenticator.js";
import { startWebhookServer, type WebhookServer } from "../webhook/server.js";
import { KubeClient } from "../kube/client.js";
import { webhookConfigurations, WebhookCaBundle } from "../webhook/ca-bundle.js";
import type { InjectionValues } from "../webhook/inject-templates.js";
import { DEFAULT_CONTROL_PLANE_NAMESPACE, defaultReplicaId, KubeReplica, type KubeReplicaOptions } from "../kube/replica.js";
import { PostgresAuditShipper } from "../risk/audit-postgres.js";
import { logNewProblems, type Log } from "../telemetry/log.js";
import { registerCsdsService } from "../debug/csds.js";
import { clientCertificateGate, plaintextGate } from "../security/transport-gates.js";
import { checkPrivateDirectory } from "../security/private-files.js";
import type { SignalLimits } from "../signals/rate-limit.js";
import { startConsoleServer, type ConsoleServer } from "../console/server.js";
import { IssuedCertificates } from "../console/identity-view.js";

export interface ControlPlaneOptions {
  readonly configDir: string;
  /** `host:port` for plaintext gRPC (xDS); port 0 picks a free one. */
  readonly xdsAddress: string;
  /** `host:port` for HTTP health, metrics and debug; port 0 picks a free one. */
  readonly monitoringAddress: string;
  readonly dataDir: string;
  /** `host:port` for TLS gRPC (xDS + CA, Istio's 15012); absent = no TLS port. */
  readonly tlsAddress?: string;
  /** An Istio `cacerts` directory to sign with instead of the data directory's own root (read again when it changes). */
  readonly cacertsDir?: string;
  /** How often cacertsDir is read for changes (default DEFAULT_CACERTS_POLL_MS, 5 s). */
  readonly cacertsPollMs?: number;
  /** Lifetime of the workload certificates meshward makes for Envoy sidecars (SDS); default 24 h. */
  readonly workloadCertTtlSeconds?: number;
  /** DNS names for the TLS port's serving certificate besides istiod.istio-system.svc. */
  readonly caDnsNames?: readonly string[];
  readonly debounceMs?: number;
  /** Per-node agent signal limits (rate, burst, size); DEFAULT_SIGNAL_LIMITS when absent. */
  readonly signalLimits?: SignalLimits;
  /** Node agents that may ask for the certificates of pods on their node (default meshward-system/node-*). */
  readonly trustedNodeAccounts?: TrustedNodeAccounts;
  readonly log?: Log;
  /** `postgres://...`: the audit trail also goes to this shared PostgreSQL (one trail for all replicas). */
  readonly auditDb?: string;
  /** This replica's name in the shared audit trail (default: the Lease identity, else $POD_NAME or host-pid). */
  readonly replicaId?: string;
  /** Run as a replica on Kubernetes: CA root in Secrets, Lease, istio-ca-root-cert ConfigMaps. */
  readonly kube?: KubeReplicaOptions;
  /** `host:port` for the admission webhooks over HTTPS (Istio's 15017); absent: none. */
  readonly webhookAddress?: string;
  /** With webhookAddress: also serve the sidecar injector with these values. */
  readonly injection?: InjectionValues;
  /** A Kubernetes cluster to read besides the directory (`--kubeconfig`, or in-cluster). */
  readonly kubernetes?: KubernetesOptions;
  /**
   * Serve xDS from this many stream worker processes on their own address (src/xds/workers/):
   * the xDS port's connections are served on every core while this process keeps the model, the
   * CA and the signal path. The plaintext address then serves the CA, signals and CSDS only, and
   * the TLS address no xDS. Absent: xDS on the plaintext (and TLS) address, in this process.
   */
  /**
   * xDS from stream worker processes: plaintext on `address` (loopback callers only, as 15010), and
   * over TLS on `tlsAddress` (as 15012 for xDS: serving certificate from this CA, client
   * certificates verified if given, tokens accepted) when given.
   */
  readonly xdsWorkers?: { readonly count: number; readonly address: string; readonly tlsAddress?: string };
  /** Gateway credentials from files: `<dir>/<namespace>/<name>/{tls.crt,tls.key,ca.crt}` (`--gateway-credentials`). */
  readonly gatewayCredentialsDir?: string;
  /** With Kubernetes: namespaces whose Secrets are gateway credentials (`--gateway-secret-namespaces`; default none). */
  readonly gatewaySecretNamespaces?: readonly string[];
  /** `host:port` for the read API and web console (`--console-address`); absent: none. */
  readonly consoleAddress?: string;
}

/** How long a burst of source batches is gathered into one model rebuild. */
export const MERGE_COALESCE_MS = 10;

export interface KubernetesOptions {
  /** A kubeconfig file; absent: in-cluster configuration (KUBERNETES_SERVICE_HOST). */
  readonly kubeconfig?: string;
  /** `--cluster-id` (default `Kubernetes`, as Istio's). */
  readonly clusterId?: string;
  /** Kubernetes' DNS domain: Service hosts are `<svc>.<ns>.svc.<domain>` (default cluster.local). */
  readonly domain?: string;
  /** How long an unreachable remote cluster's endpoints keep serving (default DEFAULT_REMOTE_STALE_AFTER_MS, 5 min). */
  readonly remoteStaleAfterMs?: number;
  /** How often remote clusters are probed (default 5 s). */
  readonly remoteProbeIntervalMs?: number;
}

export interface ControlPlane {
  /** Bound addresses (with the real ports). */
  readonly xdsAddress: string;
  readonly monitoringAddress: string;
  /** Bound TLS address, when a TLS port was asked for. */
  readonly tlsAddress?: string;
  readonly ca: CertificateAuthority;
  readonly secrets: SdsSecretProvider;
  readonly provider: MeshResourceProvider;
  /** The xDS streams: this process's server, or the stream workers' pool (xdsWorkers). */
  readonly xds: XdsStreams;
  /** Bound address of the stream workers, with xdsWorkers. */
  readonly xdsWorkersAddress?: string;
  /** Bound TLS address of the stream workers, with xdsWorkers.tlsAddress. */
  readonly xdsWorkersTlsAddress?: string;
  /** The TLS listeners' serving certificate (the TLS port's, the workers'), when one is served. */
  readonly serving?: CaServerCredentials;
  readonly metrics: Metrics;
  /** The mesh-config directory's source. */
  readonly source: FileSource;
  /** Every source's objects merged (the file source first). */
  readonly merge: ConfigMerge;
  /** The Kubernetes source, when one was configured. */
  readonly kubernetes?: KubernetesSource;
  /** Remote clusters from `istio/multiCluster` Secrets, with a Kubernetes source. */
  readonly remoteClusters?: RemoteClusters;
  readonly grpcServer: grpc.Server;
  /** The risk stage: signal service, RuntimePolicies, enforcement overlay, audit store. */
  readonly risk: RiskWiring;
  /** Bound webhook address, when webhooks were asked for. */
  readonly webhookAddress?: string;
  /** The Kubernetes replica parts, with `kube` options. */
  readonly kube?: KubeReplica;
  /** Ships the audit trail to PostgreSQL, with `auditDb`. */
  readonly auditShipper?: PostgresAuditShipper;
  /** The read API and web console, with `consoleAddress`. */
  readonly console?: ConsoleServer;
  stop(): Promise<void>;
}

export async function startControlPlane(opts: ControlPlaneOptions): Promise<ControlPlane> {
  const log = opts.log ?? ((l: string) => console.error(l));
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  checkPrivateDirectory(opts.dataDir);
  const metrics = new Metrics({ processMetrics: true });
  const configErrors = metrics.gauge("meshward_config_errors", "Problems in the current configuration, by severity.", ["severity"]);
  const reloads = metrics.counter("meshward_config_reloads_total", "Configuration sets read from the source and turned into a snapshot.");
  const generation = metrics.gauge("meshward_config_generation", "Generation of the snapshot being served.");

  const provider = new MeshResourceProvider();
  const source = new FileSource({ dir: opts.configDir, log, ...(opts.debounceMs !== undefined ? { debounceMs: opts.debounceMs } : {}) });
  const kubernetes =
    opts.kubernetes !== undefined
      ? new KubernetesSource({ ...(opts.kubernetes.kubeconfig !== undefined ? { kubeconfig: opts.kubernetes.kubeconfig } : {}), ...(opts.kubernetes.clusterId !== undefined ? { clusterId: opts.kubernetes.clusterId } : {}), log })
      : undefined;
  const domain = opts.kubernetes?.domain ?? defaultClusterDomain;
  const kinds = meshKinds(domain);
  let lastSet: ConfigSet | undefined;
  const kube = opts.kube !== undefined ? new KubeReplica(opts.kube, log) : undefined;
  const risk = new RiskWiring({
    dataDir: opts.dataDir,
    metrics,
    log,
    rebuild: () => lastSet !== undefined && apply(lastSet),
    snapshot: () => provider.snapshot,
    ...(opts.signalLimits !== undefined ? { signalLimits: opts.signalLimits } : {}),
    // Replicas share quarantines through WorkloadEnforcement objects.
    ...(kube !== undefined ? { enforcementStore: (local: EnforcementStore) => kube.enforcement.storeOver(local) } : {}),
    // Where Kubernetes is the source, a pod's address and node come from its Pod, not its proxy;
    // a replica's own Pod watch also gives the service account and labels (and static risk).
    ...(kube !== undefined ? { podDirectory: kube.pods } : kubernetes !== undefined ? { podDirectory: snapshotPodDirectory(() => provider.snapshot) } : {}),
  });
  let modelProblems: ReadonlySet<string> = new Set();
  /** Told of every snapshot served (multi-cluster: remote quarantines into the audit trail). */
  let onSnapshot: ((snapshot: MeshSnapshot) => void) | undefined;
  /** Builds and serves a snapshot; true if it may change some proxy's resources. */
  const apply = (set: ConfigSet): boolean => {
    lastSet = set;
    const input = risk.configSet(set);
    const snapshot = buildSnapshot(input, provider.snapshot, kinds, domain);
    risk.accepted(snapshot);
    // The source already logged its own problems; these are the model's (rejected objects).
    modelProblems = logNewProblems(log, "model", snapshot.errors.slice(set.errors.length), modelProblems);
    const change = provider.update(snapshot);
    onSnapshot?.(snapshot);
    // The Lease holder puts every rejected object's reason on its status.
    kube?.status.update(snapshot.errors);
    kube?.gatewayStatus.update(gatewayApiConversion(input, domain).statuses);
    reloads.inc();
    generation.set({}, snapshot.generation);
    for (const severity of ["error", "warning"] as const) {
      configErrors.set({ severity }, snapshot.errors.filter((e) => e.severity === severity).length);
    }
    return change !== undefined;
  };
  const sources: ConfigSource[] = [source, ...(kubernetes !== undefined ? [kubernetes] : [])];
  // A burst of watch events (pod churn) becomes one model rebuild; the file source debounces itself.
  const merge = new ConfigMerge(sources, apply, { coalesceMs: MERGE_COALESCE_MS });
  merge.start();
  if (kubernetes !== undefined) {
    // As istiod: no proxy is served from a half-read cluster.
    log(`meshward: reading cluster ${kubernetes.clusterId} from ${kubernetes.client.server.origin}`);
    await kubernetes.waitForSync();
    merge.flush();
  }
  const multicluster = kubernetes !== undefined ? await startMulticluster({ kubernetes, merge, namespace: opts.kube?.namespace ?? DEFAULT_CONTROL_PLANE_NAMESPACE, trustDomain: provider.snapshot.mesh.trustDomain, log, ...opts.kubernetes }) : undefined;

  if (kube !== undefined) {
    // Pod specs feed static risk once the risk stage exists (it starts with the first config set).
    kube.podRisk = { setPodSpec: (uid, spec) => risk.risk.setPodSpec(uid, spec), podDeleted: (uid) => risk.risk.podDeleted(uid) };
    try {
      await kube.startWatches();
    } catch (e) {
      await kube.stop();
      multicluster?.remotes.stop();
      merge.stop();
      risk.close();
      throw e;
    }
    // The cluster's quarantines are in force before the first certificate or proxy is served.
    risk.risk.tick();
  }
  // Another cluster's quarantines and revokes also bind this cluster's CA (quarantine everywhere).
  const remoteIssuance =
    multicluster !== undefined ? new RemoteIssuanceGuard({ localCluster: multicluster.localCluster, recordRefusal: (e, reason) => risk.risk.enforcement.alert(e, "refused", reason) }) : undefined;
  if (multicluster !== undefined && remoteIssuance !== undefined) {
    const observer = new RemoteEnforcementObserver(multicluster.localCluster, (e, reason) => risk.risk.enforcement.alert(e, "observed", reason));
    onSnapshot = (s) => {
      observer.observe(s);
      remoteIssuance.update(s);
    };
    onSnapshot(provider.snapshot);
  }
  // The trust domain is the mesh config's at start; the CA's identity does not follow later edits.
  const kubeSigner = kube !== undefined ? await kube.loadSigner(provider.snapshot.mesh.trustDomain) : undefined;
  const { ca, authenticators, tokenKey } = await openCertificateAuthority({
    ...(kubeSigner !== undefined ? { signer: kubeSigner.signer } : {}),
    dataDir: opts.dataDir,
    trustDomain: provider.snapshot.mesh.trustDomain,
    // Service-account tokens (audience istio-ca) reviewed by the cluster's apiserver.
    // (and a remote cluster's workloads' by their own cluster's apiserver).
    ...(multicluster !== undefined ? { extraAuthenticators: [multicluster.tokenReview] } : {}),
    ...(opts.cacertsDir !== undefined ? { cacertsDir: opts.cacertsDir } : {}),
  });
  // No certificate for a quarantined or revoked pod or identity.
  ca.setPolicy(remoteIssuance !== undefined ? allOfPolicies(risk.issuancePolicy, remoteIssuance.policy) : risk.issuancePolicy);
  const issued = new IssuedCertificates();
  issued.follow(ca);
  // A plugged-in cacerts directory follows its files (new intermediate, root rotation steps).
  const cacerts = opts.cacertsDir !== undefined && kubeSigner === undefined ? new CacertsReloader(opts.cacertsDir, ca, log, opts.cacertsPollMs) : undefined;
  await cacerts?.start();
  // The admission reads the server's open streams (on a node id conflict only); the server is made below.
  let xds: XdsStreams | undefined;
  const admission = new ProxyAdmission(authenticators, () => xds?.proxies() ?? []);
  const secrets = new SdsSecretProvider(ca, {
    identityOf: admission.identityOf,
    callerOf: admission.callerOf,
    ...(opts.workloadCertTtlSeconds !== undefined ? { ttlSeconds: opts.workloadCertTtlSeconds } : {}),
    onError: (proxyId, e) => log(`meshward sds: certificate for ${proxyId} failed: ${e.message}`, { level: "error", stage: "sds", proxy: proxyId }),
  });
  risk.attachSecrets(secrets);
  remoteIssuance?.attachSecrets(secrets, admission.callerOf);
  // Gateway credentials (credentialName): from files, and from the cluster's Secrets with Kubernetes.
  const credentials = new GatewayCredentialStore();
  if (opts.gatewayCredentialsDir !== undefined) {
    for (const e of await loadCredentialDirectory(credentials, opts.gatewayCredentialsDir)) log(`meshward gateway: ${e}`, { level: "error", stage: "gateway" });
  }
  const secretNamespaces = opts.gatewaySecretNamespaces ?? [];
  const stopSecretWatch =
    kubernetes !== undefined && secretNamespaces.length > 0 ? watchGatewaySecrets({ client: kubernetes.client, clusterId: kubernetes.clusterId, namespaces: secretNamespaces, store: credentials, log }) : undefined;
  const gatewayCredentials = new GatewayCredentialProvider(credentials, {
    snapshot: () => provider.snapshot,
    identityOf: admission.identityOf,
    log: (line) => log(line, { level: "error", stage: "gateway" }),
  });
  const xdsOptions = {
    provider: new TypeRoutedProvider(provider, new Map([[TypeUrl.Secret, new UnionProvider([secrets, gatewayCredentials])]])),
    admit: admission.admit,
    metrics,
    log,
    ...(opts.debounceMs !== undefined ? { debounceMs: opts.debounceMs } : {}),
  };
  /** The TLS port's (and the workers' TLS listener's) serving certificate, issued by this CA. */
  let serving: CaServerCredentials | undefined;
  let pool: XdsWorkerPool | undefined;
  if (opts.xdsWorkers !== undefined) {
    try {
      // The plaintext gate as on the main port: no bearer token or key material off loopback.
      const tlsAddress = opts.xdsWorkers.tlsAddress;
      // The workers' TLS listener serves the same certificate as the TLS port (one rotation for both).
      const workerServing = tlsAddress !== undefined ? (serving ??= createCaServerCredentials(ca, opts.caDnsNames ?? [])) : undefined;
      pool = await XdsWorkerPool.start({
        ...xdsOptions,
        workers: opts.xdsWorkers.count,
        address: opts.xdsWorkers.address,
        plaintextGate: true,
        ...(tlsAddress !== undefined && workerServing !== undefined
          ? { tls: { address: tlsAddress, context: workerServing.secureContext, onRotate: (l: () => void) => workerServing.onRotate(l) } }
          : {}),
      });
    } catch (e) {
      cacerts?.stop();
      multicluster?.remotes.stop();
      merge.stop();
      secrets.close();
      stopSecretWatch?.();
      gatewayCredentials.close();
      serving?.close();
      risk.close();
      throw e;
    }
  }
  const server = pool === undefined ? new XdsServer(xdsOptions) : undefined;
  xds = pool ?? (server as XdsServer);
  // A proxy's key is dropped when its last stream ends (a reconnecting proxy may overlap itself).
  const streamsByProxy = new Map<string, number>();
  xds.on("connect", (s) => streamsByProxy.set(s.proxyId, (streamsByProxy.get(s.proxyId) ?? 0) + 1));
  xds.on("disconnect", (s) => {
    const left = (streamsByProxy.get(s.proxyId) ?? 1) - 1;
    if (left > 0) return void streamsByProxy.set(s.proxyId, left);
    streamsByProxy.delete(s.proxyId);
    secrets.forget(s.proxyId);
    admission.forget(s.proxyId);
  });

  /** The gRPC ports' own listeners (listen.ts: a backlog for reconnect storms). */
  const listeners: GrpcListener[] = [];
  const bind = async (server: grpc.Server, address: string, credentials: grpc.ServerCredentials): Promise<string> => {
    const l = await listenGrpc(server, address, credentials);
    listeners.push(l);
    return l.address;
  };
  // Plaintext: loopback callers only, and no bearer token from anywhere else (no keys in cleartext).
  const grpcServer = new grpc.Server({ ...XDS_GRPC_SERVER_OPTIONS, interceptors: [plaintextGate()] });
  server?.addTo(grpcServer);
  // Node agents' requests for their pods: on Kubernetes a pod is where its Pod's spec.nodeName says;
  // without it, where its authenticated proxy's NODE_NAME says.
  const impersonation: NodeImpersonation = {
    trusted: opts.trustedNodeAccounts ?? TrustedNodeAccounts.parse(DEFAULT_TRUSTED_NODE_ACCOUNTS, "default trusted node accounts"),
    placement: kubernetes !== undefined ? snapshotPodPlacement(() => provider.snapshot) : proxyPodPlacement(() => xds.proxies(), admission.identityOf),
  };
  const onDecision = caDecisionMetrics(metrics);
  registerCaService(grpcServer, { ca, authenticators, impersonation, onDecision });
  risk.attach(xds);
  // Node agents: a node certificate from this CA, or a meshward token for the signals audience.
  const signalAuthenticators = [
    new ClientCertificateAuthenticator(provider.snapshot.mesh.trustDomain, () => ca.signingCertificates()),
    new MeshwardTokenAuthenticator({ trustDomain: provider.snapshot.mesh.trustDomain, publicKeys: [tokenKey.publicKey], audiences: [SIGNALS_AUDIENCE] }),
    // On a cluster: the agent DaemonSet's bound token (audience meshward-signals), as the node its pod runs on.
    ...(kubernetes !== undefined
      ? [
          new TokenReviewAuthenticator({
            client: kubernetes.client,
            clusterId: kubernetes.clusterId,
            trustDomain: provider.snapshot.mesh.trustDomain,
            audiences: [SIGNALS_AUDIENCE],
            mapIdentity: (reviewed, extra) => nodeIdentityOfAgentToken(reviewed, extra, kube?.namespace ?? DEFAULT_CONTROL_PLANE_NAMESPACE),
          }),
        ]
      : []),
  ];
  risk.serveSignals(grpcServer, signalAuthenticators);
  // Node agents follow which pods' identity is withheld, to cut it at the node at once.
  // Another cluster's identity quarantines cover this cluster's pods of that identity too.
  const withheld = { authenticators: signalAuthenticators, active: () => [...risk.risk.enforcement.active(), ...(remoteIssuance?.identityWide() ?? [])] };
  registerWithheldIdentities(grpcServer, withheld);
  // CSDS (proxy-status, proxy-config): loopback, or an identity of the control plane's namespace.
  const csds = { streams: () => xds.streamsView(), resources: xds.provider, authenticators };
  registerCsdsService(grpcServer, csds);
  let tlsServer: grpc.Server | undefined;
  const closeServers = (): void => {
    cacerts?.stop();
    multicluster?.remotes.stop();
    merge.stop();
    xds.close();
    void pool?.stop();
    secrets.close();
    stopSecretWatch?.();
    gatewayCredentials.close();
    serving?.close();
    for (const l of listeners) l.close();
    grpcServer.forceShutdown();
    tlsServer?.forceShutdown();
    risk.close();
  };
  let xdsAddress: string;
  let tlsAddress: string | undefined;
  try {
    xdsAddress = await bind(grpcServer, opts.xdsAddress, grpc.ServerCredentials.createInsecure());
    if (opts.tlsAddress !== undefined) {
      serving ??= createCaServerCredentials(ca, opts.caDnsNames ?? []);
      tlsServer = new grpc.Server({ ...XDS_GRPC_SERVER_OPTIONS, interceptors: [clientCertificateGate()] });
      server?.addTo(tlsServer);
      registerCaService(tlsServer, { ca, authenticators, impersonation, onDecision });
      risk.serveSignals(tlsServer, signalAuthenticators);
      registerWithheldIdentities(tlsServer, withheld);
      registerCsdsService(tlsServer, csds);
      tlsAddress = await bind(tlsServer, opts.tlsAddress, serving.credentials);
    }
  } catch (e) {
    closeServers();
    throw e;
  }

  let http: HttpServer;
  let monitoringAddress: string;
  try {
    http = createServer(monitoringHandler({ provider, xds, metrics, configDir: opts.configDir }));
    monitoringAddress = await listenHttp(http, opts.monitoringAddress);
  } catch (e) {
    closeServers();
    throw e;
  }
  let shipper: PostgresAuditShipper | undefined;
  if (kube !== undefined) {
    const leading = metrics.gauge("meshward_leader_election_leading", "1 while this replica holds the leader Lease (ConfigMaps, status), else 0.", ["lease"]);
    leading.set({ lease: kube.elector.leaseName }, 0);
    kube.elector.on("leading", () => leading.set({ lease: kube.elector.leaseName }, 1));
    kube.elector.on("stopped-leading", () => leading.set({ lease: kube.elector.leaseName }, 0));
  }
  try {
    await kube?.start(ca.bundle);
    if (opts.auditDb !== undefined) {
      shipper = new PostgresAuditShipper({ url: opts.auditDb, replica: opts.replicaId ?? opts.kube?.replicaId ?? defaultReplicaId(), local: risk.risk.audit.db, log });
      await shipper.start();
    }
  } catch (e) {
    await kube?.stop();
    closeServers();
    http.close();
    throw e;
  }
  // Admission webhooks: HTTPS with a certificate from meshward's CA; the Lease holder keeps the
  // webhook configuration's caBundle (and failure policy) current.
  let webhooks: WebhookServer | undefined;
  const caBundles: WebhookCaBundle[] = [];
  if (opts.webhookAddress !== undefined) {
    serving ??= createCaServerCredentials(ca, opts.caDnsNames ?? []);
    try {
      webhooks = await startWebhookServer({ address: opts.webhookAddress, serving, clusterId: opts.kubernetes?.clusterId ?? DEFAULT_CLUSTER_ID, log, metrics, ...(opts.injection !== undefined ? { injection: opts.injection } : {}) });
    } catch (e) {
      await kube?.stop();
      closeServers();
      http.close();
      throw e;
    }
    if (kube !== undefined) {
      for (const ref of webhookConfigurations(kube.namespace)) {
        const bundle = new WebhookCaBundle(new KubeClient(kube.opts.kubeConfig), ref, () => ca.bundle.pem(), log);
        caBundles.push(bundle);
        kube.elector.on("leading", () => bundle.setActive(true));
        kube.elector.on("stopped-leading", () => bundle.setActive(false));
        if (kube.elector.isLeader) bundle.setActive(true);
        ca.bundle.onChange(() => bundle.resync());
      }
    }
    log(`meshward: admission webhooks on https://${webhooks.address}`, { stage: "serve" });
  }
  let consoleServer: ConsoleServer | undefined;
  if (opts.consoleAddress !== undefined) {
    const sources = { snapshot: () => provider.snapshot, configSnapshot: () => buildSnapshot(merge.configSet, provider.snapshot, kinds), streams: () => xds.streamsView(), ca, issued, risk: () => risk.risk, dataDir: opts.dataDir, configDir: opts.configDir, log };
    try {
      consoleServer = await startConsoleServer({ address: opts.consoleAddress, sources, tokenKey, serving: () => (serving ??= createCaServerCredentials(ca, opts.caDnsNames ?? [])) });
    } catch (e) {
      await webhooks?.close();
      await kube?.stop();
      closeServers();
      http.close();
      throw e;
    }
  }
  log(`meshward: serving ${pool === undefined ? "xDS" : "the CA, signals and CSDS"} on ${xdsAddress}, monitoring on http://${monitoringAddress}, config from ${opts.configDir}`, { stage: "serve" });
  if (pool !== undefined) log(`meshward: xDS served by ${opts.xdsWorkers?.count} stream workers on ${pool.address}${pool.tlsAddress !== undefined ? ` and over TLS on ${pool.tlsAddress}` : ""}`, { stage: "serve" });
  log(`meshward: CA for trust domain ${ca.trustDomain} on ${xdsAddress} (plaintext)${tlsAddress ? `, xDS + CA over TLS on ${tlsAddress}` : ""}`, { stage: "serve" });

  const shutdown = (server: grpc.Server): Promise<void> =>
    new Promise<void>((resolve) => {
      // forceShutdown does not always end tryShutdown's wait (a connection accepted while a
      // client reconnects keeps the listener's close pending), so the force also ends the wait.
      const force = setTimeout(() => (server.forceShutdown(), resolve()), 2000);
      server.tryShutdown(() => (clearTimeout(force), resolve()));
    });
  return {
    xdsAddress,
    monitoringAddress,
    ...(tlsAddress !== undefined ? { tlsAddress } : {}),
    ...(pool !== undefined ? { xdsWorkersAddress: pool.address } : {}),
    ...(pool?.tlsAddress !== undefined ? { xdsWorkersTlsAddress: pool.tlsAddress } : {}),
    ...(serving !== undefined ? { serving } : {}),
    ...(webhooks !== undefined ? { webhookAddress: webhooks.address } : {}),
    ca,
    secrets,
    provider,
    xds,
    metrics,
    source,
    merge,
    ...(kubernetes !== undefined ? { kubernetes } : {}),
    ...(multicluster !== undefined ? { remoteClusters: multicluster.remotes } : {}),
    grpcServer,
    risk,
    ...(kube !== undefined ? { kube } : {}),
    ...(shipper !== undefined ? { auditShipper: shipper } : {}),
    ...(consoleServer !== undefined ? { console: consoleServer } : {}),
    async stop() {
      await consoleServer?.close();
      for (const b of caBundles) b.stop();
      await kube?.stop();
      await webhooks?.close();
      cacerts?.stop();
      multicluster?.remotes.stop();
      merge.stop();
      xds.close();
      await pool?.stop();
      secrets.close();
      stopSecretWatch?.();
      gatewayCredentials.close();
      serving?.close();
      for (const l of listeners) l.close();
      await Promise.all([shutdown(grpcServer), ...(tlsServer ? [shutdown(tlsServer)] : [])]);
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      if (shipper !== undefined) {
        // Batched pushes and ACKs into the local database first, then everything to PostgreSQL.
        risk.risk.audit.flush();
        await shipper.stop();
      }
      risk.close();
    },
  };
}
