// grpc-js service definitions from @bufbuild/protobuf service descriptors, so client and server
// share one (de)serialization of the generated messages.
import type { MethodDefinition, ServiceDefinition } from "@grpc/grpc-js";
import { fromBinary, toBinary, type DescMethod, type DescService, type Message } from "@bufbuild/protobuf";

export function methodPath(svc: DescService, method: DescMethod): string {
  return `/${svc.typeName}/${method.name}`;
}

export function grpcServiceDefinition(svc: DescService): ServiceDefinition {
  const def: Record<string, MethodDefinition<Message, Message>> = {};
  for (const m of svc.methods) {
    def[m.name] = {
      path: methodPath(svc, m),
      requestStream: m.methodKind === "client_streaming" || m.methodKind === "bidi_streaming",
      responseStream: m.methodKind === "server_streaming" || m.methodKind === "bidi_streaming",
      requestSerialize: (v: Message) => Buffer.from(toBinary(m.input, v)),
      requestDeserialize: (b: Buffer) => fromBinary(m.input, b),
      responseSerialize: (v: Message) => Buffer.from(toBinary(m.output, v)),
      responseDeserialize: (b: Buffer) => fromBinary(m.output, b),
    };
  }
  return def;
}
