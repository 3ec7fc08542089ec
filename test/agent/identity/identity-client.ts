// A workload for the node identity tests, run inside a pod's cgroup: it calls the SPIFFE Workload
// API on the socket with grpc-js and prints one JSON line per response or error, so the test sees
// exactly what a process in that pod is given. `--reopen` opens the stream once more after an error
// (a process asking again after it moved cgroup).
//   node identity-client.js <socket> fetch-svid|watch-svid|watch-bundles [--reopen] [--no-header]
import * as grpc from "@grpc/grpc-js";
import { X509Certificate } from "node:crypto";
import { SpiffeWorkloadAPI, type X509BundlesResponse, type X509SVIDResponse } from "../../../src/gen/workload_pb.js";
import { grpcServiceDefinition } from "../../../src/signals/grpc-definition.js";

const [socket, mode, ...flags] = process.argv.slice(2);
const def = grpcServiceDefinition(SpiffeWorkloadAPI);
const client = new grpc.Client(`unix:${socket}`, grpc.credentials.createInsecure());
const print = (o: unknown): void => void process.stdout.write(`${JSON.stringify(o)}\n`);

function leafOf(der: Uint8Array): X509Certificate {
  // The SVID field is the DER chain, leaf first: X509Certificate reads the first certificate.
  return new X509Certificate(Buffer.from(der));
}

function open(reopen: boolean): void {
  const md = new grpc.Metadata();
  if (!flags.includes("--no-header")) md.set("workload.spiffe.io", "true");
  const method = mode === "watch-bundles" ? def.FetchX509Bundles : def.FetchX509SVID;
  const call = client.makeServerStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, {}, md, {});
  call.on("data", (r: X509SVIDResponse | X509BundlesResponse) => {
    if ("svids" in r) {
      const svid = r.svids[0];
      const leaf = leafOf(svid.x509Svid);
      print({ spiffeId: svid.spiffeId, san: leaf.subjectAltName, serial: leaf.serialNumber, keyBytes: svid.x509SvidKey.length, bundleBytes: svid.bundle.length, pid: process.pid });
    } else {
      print({ bundles: Object.keys(r.bundles) });
    }
    if (mode === "fetch-svid") process.exit(0);
  });
  call.on("error", (e: grpc.ServiceError) => {
    print({ error: grpc.status[e.code], details: e.details });
    if (reopen) setTimeout(() => open(false), 100);
    else process.exit(0);
  });
}

open(flags.includes("--reopen"));
