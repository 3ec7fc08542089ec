// The CA's signing material in Kubernetes Secrets, as istiod keeps it, so every replica signs with
// one root:
//   plug-in CA   Secret `cacerts` (ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem; or
//                tls.crt/tls.key/ca.crt), made by the user (shared multi-cluster root);
//   self-signed  Secret `istio-ca-secret` (type istio.io/ca-root, same key names), created on the
//                first start by whichever replica gets there first.
// The self-signed root is created with create-if-absent semantics: a replica generates a root and
// *creates* the Secret; the apiserver accepts exactly one create, the losers get 409 and read the
// winner's. So two replicas racing never serve two roots, and no leadership is needed for it
// (istiod does the same: security/pkg/pki/ca/ca.go NewSelfSignedIstioCAOptions).
import { CoreV1Api, type KubeConfig, type V1Secret } from "@kubernetes/client-node";
import { X509Certificate } from "node:crypto";
import { apiStatus, isConflict, isNotFound } from "../kube/api-errors.js";
import { CACERTS_FILES, generateRoot, isSelfSigned, parseCacerts, type CaKeyType, type CaSigner } from "./signer-store.js";

export const CACERTS_SECRET = "cacerts";
export const SELF_SIGNED_CA_SECRET = "istio-ca-secret";
/** The Secret type istiod gives istio-ca-secret. */
export const CA_SECRET_TYPE = "istio.io/ca-root";

export interface KubeSignerOptions {
  readonly kubeConfig: KubeConfig;
  /** The control plane's namespace (default istio-system). */
  readonly namespace: string;
  readonly trustDomain: string;
  readonly keyType?: CaKeyType;
  readonly log?: (line: string) => void;
}

export interface KubeSigner {
  readonly signer: CaSigner;
  /** Which Secret it came from, and whether this replica created it. */
  readonly secret: string;
  readonly created: boolean;
}

function decode(secret: V1Secret): Map<string, string> {
  const files = new Map<string, string>();
  for (const [k, v] of Object.entries(secret.data ?? {})) {
    const text = Buffer.from(v, "base64").toString("utf8");
    if (text.trim() !== "") files.set(k, text);
  }
  return files;
}

function signerOf(secret: V1Secret, namespace: string, name: string): CaSigner {
  const files = decode(secret);
  // istiod's own istio-ca-secret may leave root-cert.pem empty: a self-signed ca-cert.pem is its root.
  const cert = files.get(CACERTS_FILES.caCert);
  if (!files.has(CACERTS_FILES.rootCert) && !files.has("ca.crt") && cert !== undefined && isSelfSigned(new X509Certificate(cert))) {
    files.set(CACERTS_FILES.rootCert, cert);
  }
  const source = `Secret ${namespace}/${name}`;
  return parseCacerts(files, source, (k) => `${source} key ${k}`);
}

/** The plug-in `cacerts` Secret if there is one, else istio-ca-secret, created if absent. */
export async function loadOrCreateKubeSigner(o: KubeSignerOptions): Promise<KubeSigner> {
  const api = o.kubeConfig.makeApiClient(CoreV1Api);
  const read = async (name: string): Promise<V1Secret | undefined> => {
    try {
      return await api.readNamespacedSecret({ name, namespace: o.namespace });
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw new Error(`CA: reading Secret ${o.namespace}/${name}: ${apiStatus(e)}`);
    }
  };
  const plugged = await read(CACERTS_SECRET);
  if (plugged !== undefined) return { signer: signerOf(plugged, o.namespace, CACERTS_SECRET), secret: CACERTS_SECRET, created: false };
  const existing = await read(SELF_SIGNED_CA_SECRET);
  if (existing !== undefined) return { signer: signerOf(existing, o.namespace, SELF_SIGNED_CA_SECRET), secret: SELF_SIGNED_CA_SECRET, created: false };

  const { keyPem, certPem } = generateRoot(o.trustDomain, o.keyType ?? "ecdsa-p256");
  const b64 = (s: string): string => Buffer.from(s, "utf8").toString("base64");
  const body: V1Secret = {
    apiVersion: "v1",
    kind: "Secret",
    type: CA_SECRET_TYPE,
    metadata: { name: SELF_SIGNED_CA_SECRET, namespace: o.namespace, labels: { "app.kubernetes.io/managed-by": "meshward" } },
    data: {
      [CACERTS_FILES.caCert]: b64(certPem),
      [CACERTS_FILES.caKey]: b64(keyPem),
      [CACERTS_FILES.certChain]: b64(certPem),
      [CACERTS_FILES.rootCert]: b64(certPem),
    },
  };
  try {
    const made = await api.createNamespacedSecret({ namespace: o.namespace, body });
    o.log?.(`meshward ca: created self-signed root in Secret ${o.namespace}/${SELF_SIGNED_CA_SECRET}`);
    return { signer: signerOf(made, o.namespace, SELF_SIGNED_CA_SECRET), secret: SELF_SIGNED_CA_SECRET, created: true };
  } catch (e) {
    if (!isConflict(e)) throw new Error(`CA: creating Secret ${o.namespace}/${SELF_SIGNED_CA_SECRET}: ${apiStatus(e)}`);
  }
  // Another replica created it between our read and our create: sign with theirs.
  const winner = await read(SELF_SIGNED_CA_SECRET);
  if (winner === undefined) throw new Error(`CA: Secret ${o.namespace}/${SELF_SIGNED_CA_SECRET} was created by another replica and then deleted`);
  return { signer: signerOf(winner, o.namespace, SELF_SIGNED_CA_SECRET), secret: SELF_SIGNED_CA_SECRET, created: false };
}
