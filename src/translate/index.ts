// translate(snapshot, proxy) -> the resources that proxy gets, by type. Pure: no I/O, no clock.
import { TypeUrl } from "../xds/types.js";
import type { Proxy } from "../model/proxy.js";
import type { MeshSnapshot } from "../model/snapshot.js";
import type { PlannedResource, ProxyResources, TranslationScope } from "./common.js";
import { clusters } from "./clusters.js";
import { endpointResources } from "./endpoints.js";
import { listeners } from "./listeners.js";
import { routes } from "./routes.js";
import { grpcListeners, grpcRoutes } from "./grpc.js";

export type { PlannedResource, ProxyResources, BuiltResource } from "./common.js";

export function translate(snapshot: MeshSnapshot, proxy: Proxy): ProxyResources {
  const scope: TranslationScope = { snapshot, proxy };
  const grpc = proxy.flavour === "grpc";
  return new Map<TypeUrl, readonly PlannedResource[]>([
    [TypeUrl.Cluster, clusters(scope)],
    [TypeUrl.ClusterLoadAssignment, endpointResources(scope)],
    [TypeUrl.Listener, grpc ? grpcListeners(scope) : listeners(scope)],
    [TypeUrl.RouteConfiguration, grpc ? grpcRoutes(scope) : routes(scope)],
    // Secrets (SDS) arrive with the CA issue.
    [TypeUrl.Secret, []],
  ]);
}
