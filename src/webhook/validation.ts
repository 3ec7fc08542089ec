// The validating admission webhook (Istio's `istio-validator`): the apiserver sends each create and
// update of a kind meshward reads, and the object is judged alone with the rules the control plane
// applies when it reads it (the model's kinds), so a bad object is refused by `kubectl apply` with
// meshward's message (object, field path) instead of being rejected later in the control plane's
// log. Warnings are returned as admission warnings. Deletes are always allowed.
import type { ConfigError } from "../model/config.js";
import { objectRef } from "../model/config.js";
import type { KindRegistry } from "../model/kinds.js";
import { meshKinds } from "../mesh/model.js";
import { readObjectSpec } from "../model/snapshot.js";
import { toConfigObject } from "../sources/kubernetes.js";
import type { KubeResource } from "../kube/resources.js";

/** The parts of admission.k8s.io/v1 AdmissionReview meshward reads and writes. */
export interface AdmissionReview {
  readonly apiVersion: string;
  readonly kind: string;
  readonly request?: {
    readonly uid: string;
    readonly kind: { readonly group: string; readonly version: string; readonly kind: string };
    readonly resource: { readonly group: string; readonly version: string; readonly resource: string };
    readonly operation: string;
    readonly namespace?: string;
    readonly object?: unknown;
  };
}

export interface AdmissionResponse {
  readonly uid: string;
  readonly allowed: boolean;
  readonly status?: { readonly code: number; readonly reason: string; readonly message: string };
  readonly warnings?: readonly string[];
  readonly patchType?: "JSONPatch";
  readonly patch?: string;
}

export function reviewResponse(uid: string, response: Omit<AdmissionResponse, "uid">): unknown {
  return { apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response: { uid, ...response } };
}

const defaultKinds = meshKinds();

/** What the model says about this one object (the same per-object check a rebuild makes). */
export function objectFindings(object: unknown, resource: KubeResource, clusterId: string, kinds: KindRegistry = defaultKinds): { ref: string; findings: ConfigError[] } {
  const o = object as { apiVersion?: string; kind?: string; metadata: { name: string; namespace?: string }; [k: string]: unknown };
  const config = toConfigObject(o, resource, clusterId);
  const handler = kinds.get(config.kind);
  return { ref: objectRef(config), findings: handler === undefined ? [] : readObjectSpec(config, handler).problems };
}

export function validate(review: AdmissionReview, clusterId: string, kinds?: KindRegistry): unknown {
  const req = review.request;
  if (req === undefined) throw new Error("AdmissionReview without request");
  if (req.operation === "DELETE" || req.object === undefined || req.object === null) return reviewResponse(req.uid, { allowed: true });
  const resource: KubeResource = { group: req.kind.group, version: req.kind.version, kind: req.kind.kind, plural: req.resource.resource, namespaced: true };
  const { findings } = objectFindings(req.object, resource, clusterId, kinds);
  const errors = findings.filter((f) => f.severity === "error");
  const warnings = findings.filter((f) => f.severity === "warning").map((w) => `${w.object}: ${w.path}: ${w.message}`);
  if (errors.length === 0) return reviewResponse(req.uid, { allowed: true, ...(warnings.length > 0 ? { warnings } : {}) });
  const message = errors.map((e) => [e.object, e.path, e.message].filter((x) => x !== undefined && x !== "").join(": ")).join("; ");
  return reviewResponse(req.uid, { allowed: false, status: { code: 400, reason: "Invalid", message: `meshward: ${message}` }, ...(warnings.length > 0 ? { warnings } : {}) });
}
