// The MutatingWebhookConfiguration of meshward's sidecar injector, with the selectors istiod's chart
// gives its injector (`istio-sidecar-injector`), so Istio's opt-in conventions hold unchanged:
//   - a namespace labelled istio-injection=enabled: every pod not labelled sidecar.istio.io/inject=false;
//   - a namespace labelled istio.io/rev=<revision> (and no istio-injection): the same;
//   - a namespace with neither label: a pod labelled sidecar.istio.io/inject=true, or istio.io/rev=<revision>.
// Pods in a namespace labelled istio-injection=disabled are never sent.
//
// Failure policy: installed Ignore with no caBundle (the root is made by the first replica), then the
// Lease holder sets the caBundle and Fail, as for the validator. istiod's chart uses Fail for its
// injector: a pod the injector could not see would start outside the mesh (no mTLS identity, no
// policy), which is the failure meshward exists to prevent, and the selectors above limit the blast
// radius to namespaces and pods that asked for the mesh. meshward's own namespace is never selected
// (it carries no injection label), so a control plane that is down can still be started again.
import { injectorName } from "../webhook/ca-bundle.js";
import { INJECT_PATH, INJECT_LABEL } from "../webhook/inject.js";
import type { InstallValues, KubeObject } from "./manifest.js";

const REV_LABEL = "istio.io/rev";
const NS_LABEL = "istio-injection";

type Requirement = { key: string; operator: "In" | "NotIn" | "DoesNotExist" | "Exists"; values?: string[] };
const req = (key: string, operator: Requirement["operator"], values?: string[]): Requirement => ({ key, operator, ...(values !== undefined ? { values } : {}) });

export function mutatingWebhook(v: InstallValues, labels: Record<string, string>, service: string): KubeObject {
  const hook = (name: string, namespaceSelector: Requirement[], objectSelector: Requirement[]): unknown => ({
    name,
    clientConfig: { service: { name: service, namespace: v.namespace, path: INJECT_PATH, port: 443 } },
    rules: [{ operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["pods"] }],
    namespaceSelector: { matchExpressions: namespaceSelector },
    objectSelector: { matchExpressions: objectSelector },
    failurePolicy: "Ignore",
    sideEffects: "None",
    reinvocationPolicy: "Never",
    admissionReviewVersions: ["v1"],
    timeoutSeconds: 10,
  });
  const notFalse = req(INJECT_LABEL, "NotIn", ["false"]);
  return {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "MutatingWebhookConfiguration",
    metadata: { name: injectorName(v.namespace), labels: { ...labels, [REV_LABEL]: v.revision } },
    webhooks: [
      hook("rev.namespace.sidecar-injector.meshward.io", [req(REV_LABEL, "In", [v.revision]), req(NS_LABEL, "DoesNotExist")], [notFalse]),
      hook("rev.object.sidecar-injector.meshward.io", [req(REV_LABEL, "DoesNotExist"), req(NS_LABEL, "DoesNotExist")], [notFalse, req(REV_LABEL, "In", [v.revision])]),
      hook("namespace.sidecar-injector.meshward.io", [req(NS_LABEL, "In", ["enabled"])], [notFalse]),
      hook("object.sidecar-injector.meshward.io", [req(NS_LABEL, "DoesNotExist"), req(REV_LABEL, "DoesNotExist")], [req(INJECT_LABEL, "In", ["true"]), req(REV_LABEL, "DoesNotExist")]),
    ],
  };
}
