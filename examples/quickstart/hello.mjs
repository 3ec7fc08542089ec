// The quickstart's one-method gRPC service over raw bytes (no .proto to compile): what the three
// services serve and what call.mjs asks.
const bytes = (b) => b;

export const HELLO = {
  hello: {
    path: "/quickstart.Hello/Hello",
    requestStream: false,
    responseStream: false,
    requestSerialize: bytes,
    requestDeserialize: bytes,
    responseSerialize: bytes,
    responseDeserialize: bytes,
  },
};
