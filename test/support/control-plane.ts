// A meshward control plane for a test: the real one, on loopback with ephemeral ports, its data
// directory inside the test's config directory, a short debounce and a quiet log unless the test
// names its own options.
import { join } from "node:path";
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
