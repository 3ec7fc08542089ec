// One of the quickstart's three services: a proxyless gRPC server (grpc-js-xds, no sidecar) that
// takes its listener, mTLS and authorization from meshward over xDS, and answers `Hello` with its
// name and the caller's identity. Its certificates come from `meshward workload-certs`, which also
// wrote the xDS bootstrap named by GRPC_XDS_BOOTSTRAP.
//
//   GRPC_XDS_BOOTSTRAP=bootstrap.json GRPC_XDS_EXPERIMENTAL_RBAC=true node service.mjs <name> <[ip]:port>
import * as grpc from "@grpc/grpc-js";
import * as xds from "@grpc/grpc-js-xds";
import { HELLO } from "./hello.mjs";

const [name, address] = process.argv.slice(2);
if (!name || !address) {
  console.error("usage: node service.mjs <name> <[ip]:port>");
  process.exit(2);
}

xds.register();
const server = new xds.XdsServer();
server.addService(HELLO, {
  hello: (call, callback) => {
    const peer = call.getAuthContext()?.sslPeerCertificate?.subjectaltname ?? "no client certificate";
    callback(null, Buffer.from(`${name} (caller ${peer})`));
  },
});
// XdsServerCredentials: the TLS settings (STRICT mTLS here) come from meshward's inbound listener.
server.bindAsync(address, new xds.XdsServerCredentials(grpc.ServerCredentials.createInsecure()), (err) => {
  if (err) {
    console.error(`${name}: ${err.message}`);
    process.exit(1);
  }
  console.log(`${name}: serving on ${address}`);
});
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => (server.forceShutdown(), process.exit(0)));
