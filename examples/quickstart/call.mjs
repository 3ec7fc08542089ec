// One call from a quickstart pod to a service through the mesh: a proxyless gRPC client
// (`xds:///` target, mTLS from meshward's cluster config) that prints what happened:
//   ALLOWED <answer> | DENIED <reason> (PERMISSION_DENIED: refused by the server's authorization)
//   | UNAVAILABLE <reason> (no endpoint, or the connection refused) | ERROR <code> <reason>
//
//   GRPC_XDS_BOOTSTRAP=bootstrap.json node call.mjs <host:port>
import * as grpc from "@grpc/grpc-js";
import * as xds from "@grpc/grpc-js-xds";
import { HELLO } from "./hello.mjs";

const target = process.argv[2];
if (!target) {
  console.error("usage: node call.mjs <host:port>");
  process.exit(2);
}
xds.register();
const Client = grpc.makeGenericClientConstructor(HELLO, "Hello");
const client = new Client(`xds:///${target}`, new xds.XdsChannelCredentials(grpc.credentials.createInsecure()));
client.hello(Buffer.from("hi"), { deadline: Date.now() + 8000 }, (err, answer) => {
  if (err === null) console.log(`ALLOWED ${answer.toString()}`);
  else if (err.code === grpc.status.PERMISSION_DENIED) console.log(`DENIED ${err.details}`);
  else if (err.code === grpc.status.UNAVAILABLE) console.log(`UNAVAILABLE ${err.details}`);
  else console.log(`ERROR ${grpc.status[err.code]} ${err.details}`);
  client.close();
  process.exit(0);
});
