// A meshward control plane for a test: the real one, on loopback with ephemeral ports, its data
// directory inside the test's config directory, a short debounce and a quiet log unless the test
// names its own options.
import * as grpc from "@grpc/grpc-js";
import { join } from "node:path";
import { ISTIOD_DNS_NAMES } from "../../src/ca/serving-credentials.js";
import { AdsClient } from "./ads-client.js";
import { startControlPlane, type ControlPlane, type ControlPlaneOptions } from "../../src/mesh/control-plane.js";

export function startTestControlPlane(configDir: string, options: Partial<ControlPlaneOptions> = {}): Promise<ControlPlane> {
  return startControlPlane({
    configDir,
    xdsAddress: "127.0.0.1:0",
    monitoringAddress: "127.0.0.1:0",
    dataDir: join(configDir, ".data"),
    debounceMs: 20,
    log: () => undefined,
    ...options,
  });
}

/** An ADS client on the control plane's TLS port (15012's role), verifying it as istiod's name with the mesh root. */
export function tlsAdsClient(cp: ControlPlane): AdsClient {
  return new AdsClient(cp.tlsAddress!, grpc.credentials.createSsl(Buffer.from(cp.ca.bundle.pem())), { "grpc.ssl_target_name_override": ISTIOD_DNS_NAMES[0] });
}
