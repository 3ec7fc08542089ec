// SDS for gateway credentials: a router proxy asks for `kubernetes://<name>` (and `-cacert`) as its
// listeners name them (translate/router/tls.ts), and gets them only when
//  - its stream authenticated (istiod: VerifiedIdentity), as a workload of the credential's
//    namespace: a gateway never receives another namespace's keys, whatever it asks for;
//  - one of the Gateways selecting it names that credential on a server it runs.
// A credential that is missing (or has no key) is an error in the log naming the credential, the
// namespace and the proxy, once per proxy and name until it appears; the listener's other servers
// are unaffected (Envoy stops waiting for a secret after its initial fetch timeout, as with istiod,
// which keeps the server and answers nothing for it). Key material is never logged.
import { create } from "@bufbuild/protobuf";
import { SecretSchema } from "../gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js";
import type { Proxy } from "../model/proxy.js";
import type { MeshSnapshot } from "../model/snapshot.js";
import type { WorkloadIdentity } from "../security/identity.js";
import { encodeSecret, tlsCertificateSecret } from "../ca/sds.js";
import { TypeUrl, type EncodedResource, type ProxyChange, type ResourceProvider } from "../xds/types.js";
import { mergedGatewayFor } from "./merge.js";
import { routerView } from "./router-view.js";
import { caCredentialResourceName, CaCertSuffix, credentialResourceName, parseCredentialResourceName } from "./credential-names.js";
import type { GatewayCredentialStore } from "./credential-store.js";

export interface GatewayCredentialProviderOptions {
  /** The snapshot being served (which Gateways select the proxy). */
  readonly snapshot: () => MeshSnapshot;
  /** The identity the proxy's stream authenticated as; undefined: none, so no credential. */
  readonly identityOf: (proxy: Proxy) => WorkloadIdentity | undefined;
  readonly log?: (line: string) => void;
}

const empty: ReadonlyMap<string, EncodedResource> = new Map();

/** The credential SDS names a router's servers use (key pairs, and client CAs of MUTUAL servers). */
export function referencedCredentials(snapshot: MeshSnapshot, proxy: Proxy): string[] {
  const out = new Set<string>();
  for (const group of mergedGatewayFor(snapshot, proxy).ports) {
    for (const rs of group.servers) {
      const tls = rs.server.tls;
      if (tls?.credentialName === undefined || tls.mode === "PASSTHROUGH" || tls.mode === "AUTO_PASSTHROUGH" || tls.mode === "ISTIO_MUTUAL") continue;
      out.add(credentialResourceName(tls.credentialName));
      if (tls.mode === "MUTUAL" || tls.mode === "OPTIONAL_MUTUAL") out.add(caCredentialResourceName(tls.credentialName));
    }
  }
  return [...out].sort();
}

export class GatewayCredentialProvider implements ResourceProvider {
  private readonly listeners = new Set<(c: ProxyChange) => void>();
  /** `proxy id\nresource name` already reported missing or refused. */
  private readonly reported = new Set<string>();
  private readonly unsubscribe: () => void;

  constructor(private readonly store: GatewayCredentialStore, private readonly opts: GatewayCredentialProviderOptions) {
    this.unsubscribe = store.onChange((namespace) => {
      // A credential changed: what was missing may be there now, and what is missing again is worth a line again.
      this.reported.clear();
      this.emit({ all: false, affects: (p) => p.type === "router" && p.namespace === namespace });
    });
  }

  resources(proxy: Proxy, typeUrl: TypeUrl): ReadonlyMap<string, EncodedResource> {
    if (typeUrl !== TypeUrl.Secret || proxy.type !== "router") return empty;
    const snapshot = this.opts.snapshot();
    const wanted = referencedCredentials(snapshot, routerView(snapshot, proxy));
    if (wanted.length === 0) return empty;
    const identity = this.opts.identityOf(proxy);
    const out = new Map<string, EncodedResource>();
    for (const rn of wanted) {
      const ref = parseCredentialResourceName(rn, identity?.namespace ?? proxy.namespace);
      if (ref === undefined) continue;
      if (identity === undefined) {
        this.report(proxy, rn, `gateway credential ${rn}: proxy ${proxy.id} did not authenticate (no token or client certificate), so it gets no gateway credentials`);
        continue;
      }
      if (ref.namespace !== identity.namespace) {
        this.report(proxy, rn, `gateway credential ${rn}: proxy ${proxy.id} runs as namespace ${identity.namespace} and may not read credentials of namespace ${ref.namespace}`);
        continue;
      }
      const resource = ref.caOnly ? this.caSecret(rn, ref.namespace, ref.name) : this.keyPairSecret(rn, ref.namespace, ref.name);
      if (typeof resource === "string") this.report(proxy, rn, `${resource} (wanted by ${proxy.id}); the server using it gets no certificate until it appears`);
      else out.set(rn, resource);
    }
    return out;
  }

  held(proxy: Proxy, typeUrl: TypeUrl): ReadonlyMap<string, EncodedResource> {
    return this.resources(proxy, typeUrl);
  }

  onChange(listener: (change: ProxyChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.unsubscribe();
  }

  private keyPairSecret(rn: string, namespace: string, name: string): EncodedResource | string {
    const c = this.store.get(namespace, name);
    if (c === undefined) return `gateway credential ${rn}: no Secret ${namespace}/${name}`;
    if (c.certificateChain === undefined || c.privateKey === undefined) return `gateway credential ${rn}: ${c.origin.startsWith("k8s://") ? "Secret" : "credential"} ${namespace}/${name} has no ${c.certificateChain === undefined ? "tls.crt" : "tls.key"}`;
    return encodeSecret(tlsCertificateSecret(rn, c.certificateChain, c.privateKey));
  }

  /** Istio's `-cacert` convention: the Secret `<name>-cacert` if it exists, else `<name>`'s ca.crt. */
  private caSecret(rn: string, namespace: string, name: string): EncodedResource | string {
    const ca = this.store.get(namespace, `${name}${CaCertSuffix}`)?.caCertificates ?? this.store.get(namespace, name)?.caCertificates;
    if (ca === undefined) return `gateway credential ${rn}: neither Secret ${namespace}/${name}${CaCertSuffix} nor ${namespace}/${name} has a ca.crt`;
    return encodeSecret(create(SecretSchema, { name: rn, type: { case: "validationContext", value: { trustedCa: { specifier: { case: "inlineBytes", value: Buffer.from(ca) } } } } }));
  }

  private report(proxy: Proxy, rn: string, line: string): void {
    const k = `${proxy.id}\n${rn}`;
    if (this.reported.has(k)) return;
    this.reported.add(k);
    this.opts.log?.(`meshward gateway: ${line}`);
  }

  private emit(change: ProxyChange): void {
    for (const l of this.listeners) l(change);
  }
}
