// Kubernetes' own kinds as the model reads them (core/v1 Service, Pod, Namespace, Node and
// discovery.k8s.io/v1 EndpointSlice). The apiserver has validated them already, so reading is
// lenient: only what the service registry needs is kept, and a field of the wrong shape rejects
// the object with its path like any other kind. The Kubernetes source hands these over with the
// object's `status` beside its `spec` (a Pod's IPs live in its status).
import type { ConfigObject } from "./config.js";
import { type FieldProblems, type Fields, isFields } from "./fields.js";
import type { KindHandler } from "./kinds.js";
import type { Protocol } from "./service-entry.js";

export interface KubeServicePort {
  readonly name: string;
  readonly port: number;
  /** The mesh protocol: appProtocol first, then the port name's prefix, then TCP (UDP kept). */
  readonly protocol: Protocol;
  /** A number, a name of the pods' container ports, or absent (= port). */
  readonly targetPort?: number | string;
}

export interface KubeServiceSpec {
  /** `<name>.<namespace>.svc.<domain>`. */
  readonly hostname: string;
  readonly clusterIPs: readonly string[];
  /** clusterIP `None`: endpoints are the pods themselves (original destination). */
  readonly headless: boolean;
  readonly externalName?: string;
  readonly ports: readonly KubeServicePort[];
  /** From the `networking.istio.io/exportTo` annotation; `*` when absent. */
  readonly exportTo: readonly string[];
  /** spec.externalIPs and status.loadBalancer.ingress IPs: how another network reaches it (east-west gateways). */
  readonly externalAddresses: readonly string[];
}

export interface KubeEndpoint {
  readonly addresses: readonly string[];
  /** conditions.ready; absent counts as ready (Kubernetes' own reading). */
  readonly ready: boolean;
  /** targetRef name when it refers to a Pod. */
  readonly pod?: string;
  readonly nodeName?: string;
  readonly zone?: string;
}

export interface EndpointSliceSpec {
  /** The `kubernetes.io/service-name` label. */
  readonly serviceName: string;
  readonly addressType: string;
  readonly endpoints: readonly KubeEndpoint[];
  /** Port name -> the port the endpoints listen on. */
  readonly ports: Readonly<Record<string, number>>;
}

export interface KubePodSpec {
  readonly ips: readonly string[];
  readonly nodeName?: string;
  readonly serviceAccount: string;
  /** Container port name -> number, for Services whose targetPort is a name. */
  readonly namedPorts: Readonly<Record<string, number>>;
  readonly phase: string;
}

export interface KubeNodeSpec {
  readonly labels: Readonly<Record<string, string>>;
}

/** Kubernetes' core and discovery kinds as their apiVersion says them. */
export const SERVICE_KIND = "Service";
export const ENDPOINT_SLICE_KIND = "EndpointSlice";
export const POD_KIND = "Pod";
export const NAMESPACE_KIND = "Namespace";
export const NODE_KIND = "Node";

const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
const list = (v: unknown): readonly unknown[] => (Array.isArray(v) ? v : []);
const fields = (v: unknown): Fields => (isFields(v) ? v : {});

/** Istio's protocol names (lower case), as appProtocol values and port-name prefixes give them. */
const protocolNames: Readonly<Record<string, Protocol>> = {
  http: "HTTP",
  http2: "HTTP2",
  https: "HTTPS",
  grpc: "GRPC",
  "grpc-web": "GRPC-WEB",
  tcp: "TCP",
  tls: "TLS",
  mongo: "MONGO",
  redis: "REDIS",
  mysql: "MYSQL",
  udp: "UDP",
  // Kubernetes' standard application protocols (KEP-3726).
  "kubernetes.io/h2c": "HTTP2",
  "kubernetes.io/ws": "HTTP",
  "kubernetes.io/wss": "HTTPS",
};

/**
 * The mesh protocol of a Service port as istiod's kube.ConvertProtocol reads it: UDP is UDP;
 * otherwise appProtocol, then the port name (`grpc-web` or `<proto>-suffix` or `<proto>`), and TCP
 * when neither says (istiod would sniff; meshward has no sniffing and treats it as TCP).
 */
export function kubePortProtocol(name: string, protocol: string | undefined, appProtocol: string | undefined): Protocol {
  if (protocol === "UDP") return "UDP";
  const fromApp = appProtocol !== undefined ? protocolNames[appProtocol.toLowerCase()] : undefined;
  if (fromApp !== undefined) return fromApp;
  const lower = name.toLowerCase();
  if (lower === "grpc-web" || lower.startsWith("grpc-web-")) return "GRPC-WEB";
  const prefix = lower.split("-")[0] ?? "";
  const fromName = protocolNames[prefix];
  return fromName !== undefined && fromName !== "UDP" ? fromName : "TCP";
}

function readPort(v: unknown, at: string, p: FieldProblems): KubeServicePort | undefined {
  const f = fields(v);
  const port = f["port"];
  if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) {
    p.error(`${at}.port`, `must be a port number (1-65535), got ${JSON.stringify(port)}`);
    return undefined;
  }
  const name = str(f["name"]) ?? "";
  const target = f["targetPort"];
  const targetPort = typeof target === "number" || (typeof target === "string" && target !== "") ? target : undefined;
  // A numeric string is a number (the API's IntOrString in JSON is either).
  const numeric = typeof targetPort === "string" && /^\d+$/.test(targetPort) ? Number(targetPort) : targetPort;
  return { name, port, protocol: kubePortProtocol(name, str(f["protocol"]), str(f["appProtocol"])), ...(numeric !== undefined ? { targetPort: numeric } : {}) };
}

/** A Service kind whose hostnames end in `svc.<domain>` (istiod's --domain, default cluster.local). */
export function kubeServiceKind(domain: string): KindHandler {
  return {
    apiVersions: ["v1"],
    scope: "model",
    parse(spec, p, object) {
      const f = fields(spec);
      const { name, namespace } = object.metadata;
      const ports: KubeServicePort[] = [];
      list(f["ports"]).forEach((v, i) => {
        const port = readPort(v, `spec.ports[${i}]`, p);
        if (port !== undefined) ports.push(port);
      });
      const clusterIP = str(f["clusterIP"]);
      const clusterIPs = list(f["clusterIPs"]).filter((x): x is string => typeof x === "string" && x !== "None");
      if (clusterIPs.length === 0 && clusterIP !== undefined && clusterIP !== "" && clusterIP !== "None") clusterIPs.push(clusterIP);
      const exportTo = (object.metadata.annotations["networking.istio.io/exportTo"] ?? "*").split(",").map((s) => s.trim()).filter((s) => s !== "");
      const externalName = str(f["type"]) === "ExternalName" ? str(f["externalName"]) : undefined;
      const ingress = list(fields(fields(object.status)["loadBalancer"])["ingress"]).map((x) => str(fields(x)["ip"]));
      const externalAddresses = [...list(f["externalIPs"]).map(str), ...ingress].filter((x): x is string => x !== undefined && x !== "");
      if (p.hasErrors) return undefined;
      const out: KubeServiceSpec = {
        hostname: `${name}.${namespace}.svc.${domain}`,
        clusterIPs,
        headless: clusterIP === "None",
        ...(externalName !== undefined ? { externalName } : {}),
        ports,
        exportTo: exportTo.length > 0 ? exportTo : ["*"],
        externalAddresses,
      };
      return out;
    },
  };
}

export const endpointSliceKind: KindHandler = {
  apiVersions: ["discovery.k8s.io/v1"],
  scope: "model",
  parse(spec, p, object) {
    const f = fields(spec);
    const serviceName = object.metadata.labels["kubernetes.io/service-name"];
    if (serviceName === undefined || serviceName === "") {
      p.error("metadata.labels", "has no kubernetes.io/service-name: the slice belongs to no Service");
      return undefined;
    }
    const ports: Record<string, number> = {};
    for (const v of list(f["ports"])) {
      const port = fields(v)["port"];
      if (typeof port === "number") ports[str(fields(v)["name"]) ?? ""] = port;
    }
    const endpoints: KubeEndpoint[] = list(f["endpoints"]).map((v) => {
      const e = fields(v);
      const ref = fields(e["targetRef"]);
      const ready = fields(e["conditions"])["ready"];
      const nodeName = str(e["nodeName"]);
      const zone = str(e["zone"]);
      const pod = str(ref["kind"]) === "Pod" ? str(ref["name"]) : undefined;
      return {
        addresses: list(e["addresses"]).filter((a): a is string => typeof a === "string"),
        ready: ready !== false,
        ...(pod !== undefined ? { pod } : {}),
        ...(nodeName !== undefined ? { nodeName } : {}),
        ...(zone !== undefined ? { zone } : {}),
      };
    });
    const out: EndpointSliceSpec = { serviceName, addressType: str(f["addressType"]) ?? "IPv4", endpoints, ports };
    return out;
  },
};

export const podKind: KindHandler = {
  apiVersions: ["v1"],
  scope: "model",
  parse(spec, _p, object) {
    const f = fields(spec);
    const status = fields(object.status);
    const ips = list(status["podIPs"]).map((x) => str(fields(x)["ip"])).filter((x): x is string => x !== undefined && x !== "");
    const podIP = str(status["podIP"]);
    if (ips.length === 0 && podIP !== undefined && podIP !== "") ips.push(podIP);
    const namedPorts: Record<string, number> = {};
    for (const c of list(f["containers"])) {
      for (const port of list(fields(c)["ports"])) {
        const name = str(fields(port)["name"]);
        const n = fields(port)["containerPort"];
        if (name !== undefined && typeof n === "number") namedPorts[name] = n;
      }
    }
    const nodeName = str(f["nodeName"]);
    const out: KubePodSpec = {
      ips,
      ...(nodeName !== undefined && nodeName !== "" ? { nodeName } : {}),
      serviceAccount: str(f["serviceAccountName"]) ?? str(f["serviceAccount"]) ?? "default",
      namedPorts,
      phase: str(status["phase"]) ?? "Pending",
    };
    return out;
  },
};

/** Namespaces and Nodes: their labels are what the mesh reads (locality, namespace selectors). */
const labelsOnly = (_spec: unknown, _p: FieldProblems, object: ConfigObject): KubeNodeSpec => ({ labels: object.metadata.labels });

export const namespaceKind: KindHandler = { apiVersions: ["v1"], scope: "model", parse: labelsOnly };
export const nodeKind: KindHandler = { apiVersions: ["v1"], scope: "model", parse: labelsOnly };

/** The Kubernetes kinds of one cluster's service registry. */
export function kubernetesKinds(domain: string): Readonly<Record<string, KindHandler>> {
  return {
    [SERVICE_KIND]: kubeServiceKind(domain),
    [ENDPOINT_SLICE_KIND]: endpointSliceKind,
    [POD_KIND]: podKind,
    [NAMESPACE_KIND]: namespaceKind,
    [NODE_KIND]: nodeKind,
  };
}
