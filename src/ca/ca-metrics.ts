// The CA's Prometheus metrics under Istio's names (security/pkg/server/ca/monitoring.go), so
// dashboards made for istiod's CA read meshward's: every CreateCertificate call is counted, and so
// are the issued ones and the authentication failures.
import type { Metrics } from "../telemetry/metrics.js";
import type { CaDecision } from "./ca-service.js";

export function caDecisionMetrics(metrics: Metrics): (d: CaDecision) => void {
  const csrs = metrics.counter("citadel_server_csr_count", "The number of CSRs received by the CA.");
  const issued = metrics.counter("citadel_server_success_cert_issue_count", "The number of certificates issued.");
  const authFailures = metrics.counter("citadel_server_authentication_failure_count", "The number of CSRs refused because the caller did not authenticate.");
  const refused = metrics.counter("meshward_ca_refusals_total", "CSRs refused after authentication, by outcome (denied: policy or impersonation; invalid: bad CSR or TTL; error).", ["outcome"]);
  return (d) => {
    csrs.inc();
    if (d.outcome === "issued") issued.inc();
    else if (d.outcome === "unauthenticated") authFailures.inc();
    else refused.inc({ outcome: d.outcome });
  };
}
