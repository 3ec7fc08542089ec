// DestinationRule `tls` (ClientTLSSettings) checked the way istiod's validateTLS does
// (pkg/config/validation), with its words, so an operator sees the message Istio would give.
import type { FieldProblems, Fields } from "./fields.js";
import type { ClientTlsSettings } from "./destination-rule.js";

const present = (raw: Fields, key: string): boolean => {
  const v = raw[key];
  return v !== undefined && v !== null && v !== "" && !(Array.isArray(v) && v.length === 0);
};

export function validateClientTls(tls: ClientTlsSettings, raw: Fields, at: string, p: FieldProblems): void {
  if (tls.insecureSkipVerify === true) {
    if (tls.mode === "SIMPLE" && (present(raw, "caCertificates") || present(raw, "credentialName") || present(raw, "subjectAltNames"))) {
      p.error(at, "cannot specify CaCertificates or CredentialName or SubjectAltNames when InsecureSkipVerify is set true");
    }
    if (tls.mode === "MUTUAL" && (present(raw, "caCertificates") || present(raw, "subjectAltNames"))) {
      p.error(at, "cannot specify CaCertificates or SubjectAltNames when InsecureSkipVerify is set true");
    }
  }
  if ((tls.mode === "SIMPLE" || tls.mode === "MUTUAL") && present(raw, "credentialName")) {
    if (["clientCertificate", "caCertificates", "privateKey", "caCrl"].some((k) => present(raw, k))) {
      p.error(at, "cannot specify client certificates or CA certificate or CA CRL If credentialName is set");
    }
    // Credentials are fetched by name; no files are needed.
    return;
  }
  if (tls.mode === "MUTUAL") {
    if (!present(raw, "clientCertificate")) p.error(`${at}.clientCertificate`, "client certificate required for mutual tls");
    if (!present(raw, "privateKey")) p.error(`${at}.privateKey`, "private key required for mutual tls");
  }
}
