// The mutating admission webhook (Istio's sidecar injector): the apiserver sends each Pod create in
// an opted-in namespace or of an opted-in pod (the MutatingWebhookConfiguration's selectors, as
// istiod's), and meshward answers with a JSON patch adding the chosen template (`sidecar`, or
// `grpc-agent` when the pod's `inject.istio.io/templates` asks for it). The pod is admitted unchanged
// when it is already injected (the status annotation), uses the host network, opted out, or cannot
// be injected at all: injection never stops a pod from starting because of meshward's own failure
// to patch it; the reason is logged and counted instead.
import type { AdmissionReview } from "./validation.js";
import { reviewResponse } from "./validation.js";
import {
  grpcAgentTemplate,
  sidecarTemplate,
  STATUS_ANNOTATION,
  TEMPLATES_ANNOTATION,
  type Injected,
  type InjectionValues,
  type Pod,
  type PodContainer,
} from "./inject-templates.js";

export const INJECT_PATH = "/inject";
/** The pod label that overrides the namespace's choice ("true"/"false"), as Istio's. */
export const INJECT_LABEL = "sidecar.istio.io/inject";
export const TEMPLATES = ["sidecar", "grpc-agent"] as const;
export type TemplateName = (typeof TEMPLATES)[number];

/** What happened to one pod; `skipped` and `failed` leave it as sent. */
export type InjectionOutcome =
  | { readonly result: "injected"; readonly template: TemplateName; readonly patch: JsonPatchOp[] }
  | { readonly result: "skipped"; readonly reason: string }
  | { readonly result: "failed"; readonly reason: string };

export interface JsonPatchOp {
  readonly op: "add";
  readonly path: string;
  readonly value: unknown;
}

/** Which template a pod asks for; a name meshward does not know is an error naming it. */
export function templateOf(pod: Pod): TemplateName {
  const asked = pod.metadata?.annotations?.[TEMPLATES_ANNOTATION];
  if (asked === undefined || asked.trim() === "") return "sidecar";
  const names = asked.split(",").map((n) => n.trim()).filter((n) => n !== "");
  // Istio lists "grpc-agent" alone or after "sidecar"-less combinations; one template per pod here.
  if (names.length !== 1) throw new Error(`metadata.annotations["${TEMPLATES_ANNOTATION}"]: "${asked}": meshward applies exactly one of ${TEMPLATES.join(", ")}`);
  const name = names[0]!;
  if (!(TEMPLATES as readonly string[]).includes(name)) throw new Error(`metadata.annotations["${TEMPLATES_ANNOTATION}"]: unknown template "${name}" (known: ${TEMPLATES.join(", ")})`);
  return name as TemplateName;
}

/** The injected pod: what the template adds, merged into what the pod already has (its own entries win on a name clash). */
function merged(pod: Pod, t: Injected, template: TemplateName, v: InjectionValues): { labels: Record<string, string>; annotations: Record<string, string>; initContainers: PodContainer[]; containers: PodContainer[]; volumes: Record<string, unknown>[] } {
  const spec = pod.spec ?? {};
  const taken = (list: { name?: unknown }[] | undefined, name: string): boolean => (list ?? []).some((x) => x.name === name);
  for (const c of [...t.containers, ...t.initContainers]) {
    if (taken(spec.containers, c.name) || taken(spec.initContainers, c.name)) throw new Error(`spec.containers: the pod already has a container named "${c.name}"`);
  }
  const volumes = [...(spec.volumes ?? [])];
  for (const vol of t.volumes) if (!taken(volumes, String(vol["name"]))) volumes.push(vol);
  const status = {
    initContainers: t.initContainers.map((c) => c.name),
    containers: t.containers.map((c) => c.name),
    volumes: t.volumes.map((x) => x["name"]),
    imagePullSecrets: null,
    revision: v.revision,
    templates: [template],
  };
  return {
    labels: { ...t.labels, ...(pod.metadata?.labels ?? {}) },
    annotations: { ...t.annotations, ...(pod.metadata?.annotations ?? {}), [STATUS_ANNOTATION]: JSON.stringify(status) },
    initContainers: [...t.initContainers, ...(spec.initContainers ?? [])],
    containers: [...t.containers, ...(spec.containers ?? []).map(t.app)],
    volumes,
  };
}

/** Decides and computes the injection of one pod (pure: the server logs and counts). */
export function injectPod(pod: Pod, v: InjectionValues): InjectionOutcome {
  const meta = pod.metadata ?? {};
  if (meta.annotations?.[STATUS_ANNOTATION] !== undefined) return { result: "skipped", reason: "already injected" };
  if (pod.spec?.hostNetwork === true) return { result: "skipped", reason: "hostNetwork pod" };
  // The selectors let "false" through no webhook; a pod that still says false is left alone.
  if (meta.labels?.[INJECT_LABEL] === "false" || meta.annotations?.[INJECT_LABEL] === "false") return { result: "skipped", reason: `${INJECT_LABEL}=false` };
  try {
    if ((pod.spec?.containers ?? []).length === 0) throw new Error("spec.containers: empty");
    const template = templateOf(pod);
    const t = template === "grpc-agent" ? grpcAgentTemplate(v, pod) : sidecarTemplate(v, pod);
    const m = merged(pod, t, template, v);
    // "add" of an existing member replaces it: one op per field, whole values, so the patch holds
    // whatever the pod had.
    const patch: JsonPatchOp[] = [];
    if (pod.metadata === undefined) patch.push({ op: "add", path: "/metadata", value: {} });
    patch.push({ op: "add", path: "/metadata/labels", value: m.labels });
    patch.push({ op: "add", path: "/metadata/annotations", value: m.annotations });
    if (m.initContainers.length > 0) patch.push({ op: "add", path: "/spec/initContainers", value: m.initContainers });
    patch.push({ op: "add", path: "/spec/containers", value: m.containers });
    patch.push({ op: "add", path: "/spec/volumes", value: m.volumes });
    return { result: "injected", template, patch };
  } catch (e) {
    return { result: "failed", reason: (e as Error).message };
  }
}

export interface InjectionReport {
  readonly outcome: InjectionOutcome;
  /** `namespace/name` of the pod (its generateName when the name is not chosen yet). */
  readonly pod: string;
}

/** The AdmissionReview answer: allowed always; the patch only when the pod was injected. */
export function injectReview(review: AdmissionReview, v: InjectionValues): { response: unknown; report: InjectionReport } {
  const req = review.request;
  if (req === undefined) throw new Error("AdmissionReview without request");
  const pod = (req.object ?? {}) as Pod;
  const name = `${req.namespace ?? pod.metadata?.namespace ?? ""}/${pod.metadata?.name ?? `${pod.metadata?.generateName ?? ""}*`}`;
  const outcome: InjectionOutcome =
    req.kind.kind !== "Pod" || req.operation !== "CREATE" ? { result: "skipped", reason: `${req.kind.kind} ${req.operation} is not a Pod create` } : injectPod(pod, v);
  const response =
    outcome.result === "injected"
      ? reviewResponse(req.uid, { allowed: true, patchType: "JSONPatch", patch: Buffer.from(JSON.stringify(outcome.patch)).toString("base64") })
      : reviewResponse(req.uid, { allowed: true });
  return { response, report: { outcome, pod: name } };
}
