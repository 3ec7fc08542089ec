// One call that wires the CA as `meshward serve` needs it: signer (data dir or plugged-in cacerts),
// trust bundle (plus extra roots), token key and the ordered authenticator list shared by the CA
// service and the xDS server.
import * as path from "node:path";
import { ClientCertificateAuthenticator } from "../security/certificate-authenticator.js";
import type { Authenticator } from "../security/identity.js";
import { MeshwardTokenAuthenticator } from "../security/token-authenticator.js";
import { TokenKey } from "../security/token-key.js";
import { CertificateAuthority, type IssuancePolicy } from "./authority.js";
import { loadCacerts, loadOrCreateSigner, type CaKeyType, type CaSigner } from "./signer-store.js";
import { TrustBundle } from "./trust-bundle.js";

export interface CaSetupOptions {
  readonly dataDir: string;
  readonly trustDomain: string;
  /** An Istio `cacerts` directory to sign with instead of the data directory's own root. */
  readonly cacertsDir?: string;
  /** Signing material already loaded (from Kubernetes Secrets); wins over cacertsDir and the data dir. */
  readonly signer?: CaSigner;
  readonly keyType?: CaKeyType;
  /** More roots to trust (another cluster's, or the previous root during a rotation). */
  readonly extraRootsPem?: string;
  readonly policy?: IssuancePolicy;
  /** Authenticators tried after the client certificate and before meshward tokens (e.g. TokenReview). */
  readonly extraAuthenticators?: readonly Authenticator[];
}

export interface CaSetup {
  readonly ca: CertificateAuthority;
  readonly tokenKey: TokenKey;
  /** In order: client certificate, any extra ones, meshward tokens. First success wins. */
  readonly authenticators: readonly Authenticator[];
}

export async function openCertificateAuthority(o: CaSetupOptions): Promise<CaSetup> {
  const signer =
    o.signer ??
    (o.cacertsDir !== undefined
      ? await loadCacerts(path.resolve(o.cacertsDir))
      : await loadOrCreateSigner(o.dataDir, o.trustDomain, o.keyType));
  const bundle = new TrustBundle(signer.roots);
  if (o.extraRootsPem !== undefined) bundle.add(o.extraRootsPem);
  const ca = new CertificateAuthority({ trustDomain: o.trustDomain, signer, bundle, policy: o.policy });
  const tokenKey = await TokenKey.loadOrCreate(o.dataDir);
  const authenticators: Authenticator[] = [
    new ClientCertificateAuthenticator(o.trustDomain, () => ca.signingCertificates()),
    ...(o.extraAuthenticators ?? []),
    new MeshwardTokenAuthenticator({ trustDomain: o.trustDomain, publicKeys: [tokenKey.publicKey] }),
  ];
  return { ca, tokenKey, authenticators };
}
