// How a Gateway's `credentialName` becomes SDS resource names, as istiod's credentials package
// spells them: `kubernetes://<name>` (or `kubernetes://<namespace>/<name>`) for the key pair, and
// `<that>-cacert` for the client CA of a MUTUAL server. The translator and the credential
// provider share these so that what a listener asks for is exactly what SDS can answer.

export const KubernetesSecretType = "kubernetes";
/** istiod's SdsCaSuffix. */
export const CaCertSuffix = "-cacert";

/** The SDS name of a credential: bare names get `kubernetes://`. */
export function credentialResourceName(credentialName: string): string {
  return credentialName.includes("://") ? credentialName : `${KubernetesSecretType}://${credentialName}`;
}

/** The SDS name of the client CA that goes with a MUTUAL server's credential. */
export function caCredentialResourceName(credentialName: string): string {
  return `${credentialResourceName(credentialName)}${CaCertSuffix}`;
}

/** A credential SDS name read back: which Secret (namespace defaults to the proxy's), and whether the CA part is asked for. */
export interface CredentialRef {
  readonly namespace: string;
  readonly name: string;
  readonly caOnly: boolean;
}

/**
 * Reads `kubernetes://[ns/]name[-cacert]` for a proxy in `proxyNamespace`; undefined for names
 * that are not Kubernetes credentials (`default`, `ROOTCA`, `file-cert:...`).
 */
export function parseCredentialResourceName(resource: string, proxyNamespace: string): CredentialRef | undefined {
  const prefix = `${KubernetesSecretType}://`;
  if (!resource.startsWith(prefix)) return undefined;
  let rest = resource.slice(prefix.length);
  const caOnly = rest.endsWith(CaCertSuffix);
  if (caOnly) rest = rest.slice(0, -CaCertSuffix.length);
  const parts = rest.split("/");
  if (parts.length > 2 || parts.some((p) => p === "")) return undefined;
  const [namespace, name] = parts.length === 2 ? [parts[0]!, parts[1]!] : [proxyNamespace, parts[0]!];
  return { namespace, name, caOnly };
}
