// Envoy's Client Status Discovery Service (envoy.service.status.v3.ClientStatusDiscoveryService),
// served by the control plane about the proxies connected to it: for each proxy its node, and per
// resource it holds the name, version, content and sync state, from the server's view (what was
// sent and whether it was ACKed). This is what `meshward proxy-status` and `proxy-config` read, as
// `istioctl proxy-status` reads istiod's.
//
// Who may ask: the mesh's whole configuration is in the answer, so a caller must be on loopback
// without credentials, or authenticated as an identity in the control plane's namespace
// (`istio-system` by default, as istioctl's admin callers). Private keys never leave: the `default`
// secret's key is replaced by `[redacted]`, as Envoy's own config dump does.
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  ClientConfig_GenericXdsConfigSchema,
  ClientConfigSchema,
  ClientStatusDiscoveryService,
  ClientStatusResponseSchema,
  ConfigStatus,
  type ClientConfig,
  type ClientConfig_GenericXdsConfig,
  type ClientStatusRequest,
  type ClientStatusResponse,
} from "../gen/envoy/service/status/v3/csds_pb.js";
import { ClientResourceStatus } from "../gen/envoy/admin/v3/config_dump_shared_pb.js";
import { DataSourceSchema, NodeSchema } from "../gen/envoy/config/core/v3/base_pb.js";
import { SecretSchema } from "../gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js";
import type { StringMatcher } from "../gen/envoy/type/matcher/v3/string_pb.js";
import type { Proxy } from "../model/proxy.js";
import { authenticateCaller } from "../security/authenticate.js";
import { spiffeId, type Authenticator, type CallerContext } from "../security/identity.js";
import { bearerToken } from "../security/token-authenticator.js";
import { isLoopbackPeer } from "../security/xds-auth.js";
import { grpcServiceDefinition } from "../signals/grpc-definition.js";
import type { ProxyStatus, TypeStatus } from "../xds/events.js";
import { heldResources, PushOrder, TypeUrl, type EncodedResource, type ResourceProvider } from "../xds/types.js";
import { syncState, worstSyncState, type SyncState } from "./proxy-sync.js";

/** What CSDS reads from the running control plane. */
export interface CsdsSources {
  /** One entry per open stream: the proxy and its per-type status. */
  streams(): ReadonlyArray<{ readonly proxy: Proxy; readonly status: ProxyStatus }>;
  readonly resources: ResourceProvider;
  readonly authenticators: readonly Authenticator[];
  /** Identities in this namespace may read CSDS from anywhere; default `istio-system`. */
  readonly adminNamespace?: string;
}

export const DEFAULT_ADMIN_NAMESPACE = "istio-system";

const configStatusOf: Readonly<Record<SyncState, ConfigStatus>> = {
  SYNCED: ConfigStatus.SYNCED,
  "NOT SENT": ConfigStatus.NOT_SENT,
  STALE: ConfigStatus.STALE,
  NACKED: ConfigStatus.ERROR,
};
const clientStatusOf: Readonly<Record<SyncState, ClientResourceStatus>> = {
  SYNCED: ClientResourceStatus.ACKED,
  "NOT SENT": ClientResourceStatus.REQUESTED,
  STALE: ClientResourceStatus.UNKNOWN,
  NACKED: ClientResourceStatus.NACKED,
};

export class CsdsAccessError extends Error {
  constructor(readonly code: grpc.status, message: string) {
    super(message);
  }
}

/** Loopback without credentials, or an authenticated identity of the admin namespace. */
export async function authorizeCsdsCaller(sources: CsdsSources, caller: CallerContext): Promise<void> {
  const presented = caller.peerCertificate !== undefined || bearerToken(caller.metadata) !== undefined;
  if (!presented) {
    if (isLoopbackPeer(caller.peer)) return;
    throw new CsdsAccessError(grpc.status.UNAUTHENTICATED, `CSDS from ${caller.peer}: no credentials (only loopback callers may ask without a token or client certificate)`);
  }
  const authn = await authenticateCaller(sources.authenticators, caller);
  if (!authn.ok) throw new CsdsAccessError(grpc.status.UNAUTHENTICATED, `CSDS: ${authn.reason}`);
  const admin = sources.adminNamespace ?? DEFAULT_ADMIN_NAMESPACE;
  if (authn.identity.namespace !== admin) {
    throw new CsdsAccessError(grpc.status.PERMISSION_DENIED, `CSDS: ${spiffeId(authn.identity)} is not in the control plane's namespace "${admin}"`);
  }
}

function stringMatches(m: StringMatcher | undefined, value: string): boolean {
  if (m === undefined) return true;
  const p = m.matchPattern;
  const fold = (s: string): string => (m.ignoreCase ? s.toLowerCase() : s);
  switch (p.case) {
    case "exact":
      return fold(value) === fold(p.value);
    case "prefix":
      return fold(value).startsWith(fold(p.value));
    case "suffix":
      return fold(value).endsWith(fold(p.value));
    case "contains":
      return fold(value).includes(fold(p.value));
    case "safeRegex":
      return new RegExp(`^(?:${p.value.regex})$`, m.ignoreCase ? "i" : "").test(value);
    default:
      return true;
  }
}

/** Requests may only select by node id; a metadata matcher is refused rather than ignored. */
function selects(req: ClientStatusRequest, proxy: Proxy): boolean {
  if (req.nodeMatchers.length === 0) return true;
  return req.nodeMatchers.some((m) => stringMatches(m.nodeId, proxy.id));
}

/** The `default` secret's private key replaced by `[redacted]`; other resources as sent. */
function shownBytes(r: EncodedResource): Uint8Array {
  if (r.typeUrl !== TypeUrl.Secret) return r.bytes;
  const secret = fromBinary(SecretSchema, r.bytes);
  if (secret.type.case === "tlsCertificate" && secret.type.value.privateKey !== undefined) {
    secret.type.value.privateKey = create(DataSourceSchema, { specifier: { case: "inlineString", value: "[redacted]" } });
    return toBinary(SecretSchema, secret);
  }
  return r.bytes;
}

/** Resources of a type the proxy subscribed to: explicit names, or everything on a wildcard. */
function held(map: ReadonlyMap<string, EncodedResource>, types: readonly TypeStatus[]): EncodedResource[] {
  const names = new Set<string>();
  let wildcard = false;
  for (const t of types) for (const n of t.subscribed) n === "*" ? (wildcard = true) : names.add(n);
  return [...map.values()].filter((r) => wildcard || names.has(r.name)).sort((a, b) => a.name.localeCompare(b.name));
}

export function clientConfigs(sources: CsdsSources, req: ClientStatusRequest): ClientConfig[] {
  const byProxy = new Map<string, { proxy: Proxy; statuses: ProxyStatus[] }>();
  for (const { proxy, status } of sources.streams()) {
    if (!selects(req, proxy)) continue;
    const e = byProxy.get(proxy.id) ?? { proxy, statuses: [] };
    e.statuses.push(status);
    byProxy.set(proxy.id, e);
  }
  const out: ClientConfig[] = [];
  for (const { proxy, statuses } of [...byProxy.values()].sort((a, b) => a.proxy.id.localeCompare(b.proxy.id))) {
    const configs: ClientConfig_GenericXdsConfig[] = [];
    for (const typeUrl of PushOrder) {
      const types = statuses.flatMap((s) => s.types.filter((t) => t.typeUrl === typeUrl));
      if (types.length === 0) continue; // never asked for: not part of this proxy's config
      const state = worstSyncState(types.map(syncState));
      const nack = types.find((t) => t.lastNack !== undefined)?.lastNack;
      const common = {
        typeUrl,
        configStatus: configStatusOf[state],
        clientStatus: clientStatusOf[state],
        ...(state === "NACKED" && nack !== undefined ? { errorState: { details: nack.error, lastUpdateAttempt: timestampFromMs(nack.wallMs) } } : {}),
      };
      const resources = state === "NOT SENT" ? [] : held(heldResources(sources.resources, proxy, typeUrl), types);
      // A type with nothing held still reports its state, under an empty name.
      if (resources.length === 0) configs.push(create(ClientConfig_GenericXdsConfigSchema, { ...common, versionInfo: types[0]!.sentVersion }));
      for (const r of resources) {
        configs.push(
          create(ClientConfig_GenericXdsConfigSchema, {
            ...common,
            name: r.name,
            versionInfo: r.version,
            ...(req.excludeResourceContents ? {} : { xdsConfig: { typeUrl: r.typeUrl, value: shownBytes(r) } }),
          }),
        );
      }
    }
    out.push(
      create(ClientConfigSchema, {
        node: create(NodeSchema, { id: proxy.id, cluster: proxy.clusterId, metadata: { ...proxy.metadata } }),
        genericXdsConfigs: configs,
      }),
    );
  }
  return out;
}

function callerOf(call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>): CallerContext {
  const raw = call.getAuthContext().sslPeerCertificate?.raw;
  return { metadata: call.metadata, peer: call.getPeer(), ...(raw ? { peerCertificate: raw } : {}) };
}

function grpcError(e: unknown): Partial<grpc.StatusObject> {
  if (e instanceof CsdsAccessError) return { code: e.code, details: e.message };
  return { code: grpc.status.INTERNAL, details: e instanceof Error ? e.message : String(e) };
}

export function registerCsdsService(server: grpc.Server, sources: CsdsSources): void {
  const def = grpcServiceDefinition(ClientStatusDiscoveryService);
  const answer = (req: ClientStatusRequest): ClientStatusResponse => create(ClientStatusResponseSchema, { config: clientConfigs(sources, req) });
  server.addService(def, {
    FetchClientStatus: (call: grpc.ServerUnaryCall<ClientStatusRequest, ClientStatusResponse>, cb: grpc.sendUnaryData<ClientStatusResponse>) => {
      authorizeCsdsCaller(sources, callerOf(call)).then(
        () => cb(null, answer(call.request)),
        (e: unknown) => cb(grpcError(e)),
      );
    },
    StreamClientStatus: (call: grpc.ServerDuplexStream<ClientStatusRequest, ClientStatusResponse>) => {
      const allowed = authorizeCsdsCaller(sources, callerOf(call));
      allowed.catch((e: unknown) => call.emit("error", grpcError(e)));
      call.on("data", (req: ClientStatusRequest) => void allowed.then(() => call.write(answer(req)), () => undefined));
      call.on("end", () => call.end());
    },
  });
}
