// Pod UID -> namespace, name, service account, labels and container names. Two sources: a mapping
// file (the embedded default for nodes without Kubernetes, and for tests) and the kubelet's pod
// list (GET https://<node>:10250/pods with the agent's token) on a real node.
import { readFileSync } from "node:fs";
import { request } from "node:https";
import { parse as parseYaml } from "yaml";

export interface PodInfo {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  readonly serviceAccount: string;
  readonly node?: string;
  readonly labels: Readonly<Record<string, string>>;
  /** container id (64 hex, no runtime prefix) -> container name */
  readonly containers: Readonly<Record<string, string>>;
}

function asRecord(v: unknown): Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(asRecord(v))) if (typeof x === "string") out[k] = x;
  return out;
}

function str(v: unknown): string {
  return typeof v === "string" ? v : "";
}

/** Strips a runtime prefix: "containerd://<id>" -> "<id>". */
export function bareContainerId(id: string): string {
  const i = id.indexOf("://");
  return (i >= 0 ? id.slice(i + 3) : id).toLowerCase();
}

/** Parses a Kubernetes PodList (kubelet /pods) into pod infos. */
export function podsFromPodList(list: unknown): PodInfo[] {
  const items = asRecord(list).items;
  if (!Array.isArray(items)) return [];
  return items.map((item) => {
    const meta = asRecord(asRecord(item).metadata);
    const spec = asRecord(asRecord(item).spec);
    const status = asRecord(asRecord(item).status);
    const containers: Record<string, string> = {};
    for (const key of ["containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"]) {
      const statuses = status[key];
      if (!Array.isArray(statuses)) continue;
      for (const s of statuses) {
        const cs = asRecord(s);
        if (typeof cs.containerID === "string" && cs.containerID !== "") containers[bareContainerId(cs.containerID)] = str(cs.name);
      }
    }
    return {
      uid: str(meta.uid), namespace: str(meta.namespace) || "default", name: str(meta.name),
      serviceAccount: str(spec.serviceAccountName) || "default", node: str(spec.nodeName) || undefined,
      labels: stringMap(meta.labels), containers,
    };
  }).filter((p) => p.uid !== "");
}

/**
 * Mapping file: `pods: [{uid, namespace, name, serviceAccount, node, labels, containers: {<id>: <name>}}]`.
 * Throws with the file and field path on bad input.
 */
export function podsFromMappingFile(file: string, text = readFileSync(file, "utf8")): PodInfo[] {
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (err) {
    throw new Error(`${file}: invalid YAML: ${(err as Error).message}`);
  }
  const doc = asRecord(parsed);
  if (!Array.isArray(doc.pods)) throw new Error(`${file}: pods: expected a list`);
  return doc.pods.map((p, i) => {
    const r = asRecord(p);
    for (const f of ["uid", "namespace", "name"]) {
      if (typeof r[f] !== "string" || r[f] === "") throw new Error(`${file}: pods[${i}].${f}: required string`);
    }
    const containers: Record<string, string> = {};
    for (const [id, name] of Object.entries(stringMap(r.containers))) containers[bareContainerId(id)] = name;
    return {
      uid: str(r.uid).toLowerCase(), namespace: str(r.namespace), name: str(r.name),
      serviceAccount: str(r.serviceAccount) || "default", node: str(r.node) || undefined,
      labels: stringMap(r.labels), containers,
    };
  });
}

export class PodDirectory {
  private byUid = new Map<string, PodInfo>();
  private fromFile: PodInfo[] = [];
  private fromKubelet: PodInfo[] = [];
  private fromApiserver: PodInfo[] = [];

  get(uid: string): PodInfo | undefined {
    return this.byUid.get(uid.toLowerCase());
  }

  all(): PodInfo[] {
    return [...this.byUid.values()];
  }

  setFilePods(pods: PodInfo[]): void {
    this.fromFile = pods;
    this.rebuild();
  }

  setKubeletPods(pods: PodInfo[]): void {
    this.fromKubelet = pods;
    this.rebuild();
  }

  setApiserverPods(pods: PodInfo[]): void {
    this.fromApiserver = pods;
    this.rebuild();
  }

  /** The apiserver (this node's pods) and the kubelet are the truth on a real node; the file fills in what they do not know. */
  private rebuild(): void {
    const m = new Map<string, PodInfo>();
    for (const p of this.fromFile) m.set(p.uid, p);
    for (const p of this.fromKubelet) m.set(p.uid, p);
    for (const p of this.fromApiserver) m.set(p.uid, p);
    this.byUid = m;
  }
}

export interface KubeletSource {
  /** e.g. https://127.0.0.1:10250 */
  readonly url: string;
  readonly token?: string;
  /** CA bundle PEM for the kubelet serving certificate; without it the certificate is not verified. */
  readonly ca?: string;
}

export function fetchKubeletPods(src: KubeletSource): Promise<PodInfo[]> {
  return new Promise((resolve, reject) => {
    const req = request(
      new URL("/pods", src.url),
      {
        method: "GET",
        headers: src.token ? { authorization: `Bearer ${src.token}` } : {},
        ca: src.ca,
        rejectUnauthorized: src.ca !== undefined,
        timeout: 5000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          if (res.statusCode !== 200) return reject(new Error(`kubelet ${src.url}/pods: HTTP ${res.statusCode}`));
          try {
            resolve(podsFromPodList(JSON.parse(Buffer.concat(chunks).toString("utf8"))));
          } catch (err) {
            reject(err as Error);
          }
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`kubelet ${src.url}/pods: timeout`)));
    req.on("error", reject);
    req.end();
  });
}
