// meshward's own CustomResourceDefinitions, generated from the kinds' definitions in code (never
// hand-written YAML): the group, version and kind come from the model's constants and the schema
// states the fields the kind's parser accepts. A replica installs what is missing at start (create
// if absent, so replicas racing is harmless) and waits until the apiserver serves it.
import { ApiextensionsV1Api, type KubeConfig, type V1CustomResourceDefinition, type V1JSONSchemaProps } from "@kubernetes/client-node";
import { WORKLOAD_ENFORCEMENT_API_VERSION, WORKLOAD_ENFORCEMENT_KIND } from "../model/workload-enforcement.js";
import { apiStatus, isConflict } from "./api-errors.js";

export interface KindDefinition {
  readonly apiVersion: string;
  readonly kind: string;
  readonly plural: string;
  readonly shortNames?: readonly string[];
  readonly spec: V1JSONSchemaProps;
}

/** WorkloadEnforcement: spec as src/model/workload-enforcement.ts parses it. */
export const WORKLOAD_ENFORCEMENT_DEFINITION: KindDefinition = {
  apiVersion: WORKLOAD_ENFORCEMENT_API_VERSION,
  kind: WORKLOAD_ENFORCEMENT_KIND,
  plural: "workloadenforcements",
  shortNames: ["we"],
  spec: {
    type: "object",
    required: ["action"],
    properties: {
      action: { type: "string", _enum: ["quarantine", "isolate-egress", "revoke"] },
      addresses: { type: "array", items: { type: "string" } },
      enforcement: { type: "object", x_kubernetes_preserve_unknown_fields: true },
    },
  },
};

/** The CRD for a kind: namespaced, one served+stored version, a status subresource (conditions). */
export function crdOf(d: KindDefinition): V1CustomResourceDefinition {
  const [group, version] = d.apiVersion.split("/") as [string, string];
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${d.plural}.${group}`, labels: { "app.kubernetes.io/managed-by": "meshward" } },
    spec: {
      group,
      scope: "Namespaced",
      names: { kind: d.kind, plural: d.plural, singular: d.kind.toLowerCase(), listKind: `${d.kind}List`, ...(d.shortNames ? { shortNames: [...d.shortNames] } : {}) },
      versions: [
        {
          name: version,
          served: true,
          storage: true,
          subresources: { status: {} },
          schema: {
            openAPIV3Schema: {
              type: "object",
              properties: { spec: d.spec, status: { type: "object", x_kubernetes_preserve_unknown_fields: true } },
            },
          },
        },
      ],
    },
  };
}

/** Creates the CRD unless it exists, then waits (up to `timeoutMs`) until it is Established. */
export async function ensureCrd(kubeConfig: KubeConfig, d: KindDefinition, timeoutMs = 30_000): Promise<void> {
  const api = kubeConfig.makeApiClient(ApiextensionsV1Api);
  const body = crdOf(d);
  const name = body.metadata!.name!;
  let createError: unknown;
  try {
    await api.createCustomResourceDefinition({ body });
  } catch (e) {
    // 409: installed already. Anything else (a replica without RBAC on CRDs): fine if it exists.
    if (!isConflict(e)) createError = e;
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let crd: V1CustomResourceDefinition;
    try {
      crd = await api.readCustomResourceDefinition({ name });
    } catch (e) {
      throw new Error(`CustomResourceDefinition ${name}: ${apiStatus(createError ?? e)} (install it, or let meshward create it)`);
    }
    if (crd.status?.conditions?.some((c) => c.type === "Established" && c.status === "True")) return;
    if (Date.now() > deadline) throw new Error(`CustomResourceDefinition ${name} not Established after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
