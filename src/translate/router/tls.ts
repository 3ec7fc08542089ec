// The downstream TLS a gateway server terminates, as istiod's BuildListenerTLSContext builds it:
//  - SIMPLE / MUTUAL / OPTIONAL_MUTUAL with credentialName: the key pair from SDS
//    `kubernetes://<name>` (the gateway credential provider, src/gateway/credentials.ts, serves it
//    to router proxies of the credential's namespace only), the client CA from `<name>-cacert`;
//  - the same with file paths: SDS names `file-cert:<cert>~<key>` / `file-root:<ca>`, as istiod
//    names them (meshward does not read a gateway pod's files: such servers need a credentialName);
//  - ISTIO_MUTUAL: the gateway's own workload certificate (`default`, `ROOTCA`), client
//    certificates required.
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { ApiVersion, ConfigSourceSchema } from "../../gen/envoy/config/core/v3/config_source_pb.js";
import type { TransportSocket } from "../../gen/envoy/config/core/v3/base_pb.js";
import { TlsParameters_TlsProtocol } from "../../gen/envoy/extensions/transport_sockets/tls/v3/common_pb.js";
import type { SdsSecretConfigSchema } from "../../gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js";
import type { CommonTlsContextSchema } from "../../gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.js";
import type { ServerTls, TlsProtocolVersion } from "../../gateway/gateway-kind.js";
import { credentialResourceName, caCredentialResourceName } from "../../gateway/credential-names.js";
import { AlpnDownstreamWithMxc, AlpnHttp, downstreamTlsSocket, exactMatchers, sdsSecretConfig, SdsDefaultName, SdsRootName } from "../mtls.js";

type CommonTlsInit = MessageInitShape<typeof CommonTlsContextSchema>;

/** A gateway credential over the proxy's ADS stream (istiod: `ads: {}`, no initial fetch timeout). */
function credentialSds(name: string): MessageInitShape<typeof SdsSecretConfigSchema> {
  return { name, sdsConfig: create(ConfigSourceSchema, { configSourceSpecifier: { case: "ads", value: {} }, resourceApiVersion: ApiVersion.V3 }) };
}

const tlsVersions: Record<TlsProtocolVersion, TlsParameters_TlsProtocol> = {
  TLS_AUTO: TlsParameters_TlsProtocol.TLS_AUTO,
  TLSV1_0: TlsParameters_TlsProtocol.TLSv1_0,
  TLSV1_1: TlsParameters_TlsProtocol.TLSv1_1,
  TLSV1_2: TlsParameters_TlsProtocol.TLSv1_2,
  TLSV1_3: TlsParameters_TlsProtocol.TLSv1_3,
};

/** istiod's applyServerTLSSettings: protocol versions and cipher suites the server asked for. */
function serverTlsParams(tls: ServerTls): Pick<CommonTlsInit, "tlsParams"> {
  if (tls.minProtocolVersion === undefined && tls.maxProtocolVersion === undefined && tls.cipherSuites.length === 0) return {};
  return {
    tlsParams: {
      ...(tls.minProtocolVersion ? { tlsMinimumProtocolVersion: tlsVersions[tls.minProtocolVersion] } : {}),
      ...(tls.maxProtocolVersion ? { tlsMaximumProtocolVersion: tlsVersions[tls.maxProtocolVersion] } : {}),
      ...(tls.cipherSuites.length > 0 ? { cipherSuites: [...tls.cipherSuites] } : {}),
    },
  };
}

/**
 * The transport socket of a server that terminates TLS (not passthrough). ALPN offers HTTP, but a
 * TCP server with ISTIO_MUTUAL offers Istio's metadata-exchange ALPN first, as istiod.
 */
export function gatewayDownstreamTls(tls: ServerTls, chain: "HTTP" | "TCP" = "HTTP"): TransportSocket {
  const requireClient = tls.mode === "MUTUAL" || tls.mode === "ISTIO_MUTUAL";
  const validateClient = requireClient || tls.mode === "OPTIONAL_MUTUAL";
  const sans = { matchSubjectAltNames: exactMatchers(tls.subjectAltNames) };
  const defaultValidationContext = tls.subjectAltNames.length > 0 ? sans : {};
  let common: CommonTlsInit;
  if (tls.mode === "ISTIO_MUTUAL") {
    common = {
      tlsCertificateSdsSecretConfigs: [sdsSecretConfig(SdsDefaultName)],
      validationContextType: { case: "combinedValidationContext", value: { defaultValidationContext, validationContextSdsSecretConfig: sdsSecretConfig(SdsRootName) } },
    };
  } else {
    const cert = tls.credentialName !== undefined ? credentialResourceName(tls.credentialName) : `file-cert:${tls.serverCertificate ?? ""}~${tls.privateKey ?? ""}`;
    const ca = tls.credentialName !== undefined ? caCredentialResourceName(tls.credentialName) : tls.caCertificates ? `file-root:${tls.caCertificates}` : undefined;
    common = {
      tlsCertificateSdsSecretConfigs: [credentialSds(cert)],
      ...(validateClient && ca !== undefined
        ? { validationContextType: { case: "combinedValidationContext", value: { defaultValidationContext, validationContextSdsSecretConfig: credentialSds(ca) } } }
        : {}),
      ...serverTlsParams(tls),
    };
  }
  const alpnProtocols = chain === "TCP" && tls.mode === "ISTIO_MUTUAL" ? AlpnDownstreamWithMxc : AlpnHttp;
  return downstreamTlsSocket({ commonTlsContext: { ...common, alpnProtocols }, requireClientCertificate: requireClient });
}
