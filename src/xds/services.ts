// gRPC service definitions for ADS and the per-type discovery services, built from the generated
// descriptors. Requests are decoded with fromBinary; responses are already bytes (see wire.ts), so
// the response serializer passes Buffers through.
import * as grpc from "@grpc/grpc-js";
import { fromBinary, toBinary, type DescMethod, type DescService } from "@bufbuild/protobuf";
import {
  DeltaDiscoveryRequestSchema,
  DiscoveryRequestSchema,
  type DeltaDiscoveryRequest,
  type DiscoveryRequest,
} from "../gen/envoy/service/discovery/v3/discovery_pb.js";
import { AggregatedDiscoveryService } from "../gen/envoy/service/discovery/v3/ads_pb.js";
import { ListenerDiscoveryService } from "../gen/envoy/service/listener/v3/lds_pb.js";
import { RouteDiscoveryService } from "../gen/envoy/service/route/v3/rds_pb.js";
import { ClusterDiscoveryService } from "../gen/envoy/service/cluster/v3/cds_pb.js";
import { EndpointDiscoveryService } from "../gen/envoy/service/endpoint/v3/eds_pb.js";
import { SecretDiscoveryService } from "../gen/envoy/service/secret/v3/sds_pb.js";
import { TypeUrl } from "./types.js";

export type SotwCall = grpc.ServerDuplexStream<DiscoveryRequest, Buffer>;
export type DeltaCall = grpc.ServerDuplexStream<DeltaDiscoveryRequest, Buffer>;

/** A discovery service and the one type it serves (undefined for ADS, which serves all). */
export interface DiscoveryService {
  readonly desc: DescService;
  readonly typeUrl: TypeUrl | undefined;
}

export const discoveryServices: readonly DiscoveryService[] = [
  { desc: AggregatedDiscoveryService, typeUrl: undefined },
  { desc: ListenerDiscoveryService, typeUrl: TypeUrl.Listener },
  { desc: RouteDiscoveryService, typeUrl: TypeUrl.RouteConfiguration },
  { desc: ClusterDiscoveryService, typeUrl: TypeUrl.Cluster },
  { desc: EndpointDiscoveryService, typeUrl: TypeUrl.ClusterLoadAssignment },
  { desc: SecretDiscoveryService, typeUrl: TypeUrl.Secret },
];

const passThrough = (b: Buffer): Buffer => b;

function method<Req>(desc: DescService, m: DescMethod, decode: (b: Buffer) => Req, encode: (r: Req) => Buffer): grpc.MethodDefinition<Req, Buffer> {
  return {
    path: `/${desc.typeName}/${m.name}`,
    requestStream: true,
    responseStream: true,
    originalName: m.localName,
    requestSerialize: encode,
    requestDeserialize: decode,
    responseSerialize: passThrough,
    responseDeserialize: passThrough,
  };
}

export interface DiscoveryHandlers {
  sotw(call: SotwCall): void;
  delta(call: DeltaCall): void;
}

/** Registers the bidi-streaming methods of one discovery service; unary Fetch* stay unimplemented. */
export function addDiscoveryService(server: grpc.Server, desc: DescService, handlers: DiscoveryHandlers): void {
  const definition: Record<string, grpc.MethodDefinition<DiscoveryRequest, Buffer> | grpc.MethodDefinition<DeltaDiscoveryRequest, Buffer>> = {};
  const implementation: grpc.UntypedServiceImplementation = {};
  for (const m of desc.methods) {
    if (m.methodKind !== "bidi_streaming") continue;
    if (m.input.typeName === DiscoveryRequestSchema.typeName) {
      definition[m.localName] = method(
        desc,
        m,
        (b) => fromBinary(DiscoveryRequestSchema, b),
        (r) => Buffer.from(toBinary(DiscoveryRequestSchema, r)),
      );
      implementation[m.localName] = (call: SotwCall) => handlers.sotw(call);
    } else if (m.input.typeName === DeltaDiscoveryRequestSchema.typeName) {
      definition[m.localName] = method(
        desc,
        m,
        (b) => fromBinary(DeltaDiscoveryRequestSchema, b),
        (r) => Buffer.from(toBinary(DeltaDiscoveryRequestSchema, r)),
      );
      implementation[m.localName] = (call: DeltaCall) => handlers.delta(call);
    }
  }
  server.addService(definition as grpc.ServiceDefinition, implementation);
}
