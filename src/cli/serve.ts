// `meshward serve`: the control plane on a mesh-config directory (default: the embedded one).
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import type { Command } from "./main.js";
import { startControlPlane } from "../mesh/control-plane.js";

/** mesh-config/ of this checkout or package (dist/src/cli/ -> ../../../mesh-config). */
export const embeddedConfigDir = fileURLToPath(new URL("../../../mesh-config", import.meta.url));

const usage = `usage: meshward serve [flags]

  --config-dir DIR            mesh-config directory: mesh.yaml + Istio YAML (default: the embedded mesh-config/)
  --xds-address HOST:PORT     plaintext gRPC for xDS (default 127.0.0.1:15010)
  --monitoring-address H:P    HTTP /healthz /readyz /metrics /debug/config (default 127.0.0.1:15014)
  --data-dir DIR              state directory (default .meshward)`;

export const serveCommand: Command = {
  summary: "run the control plane on a mesh-config directory (default: the embedded mesh-config/)",
  async run(args: string[]): Promise<number> {
    let values;
    try {
      ({ values } = parseArgs({
        args,
        options: {
          "config-dir": { type: "string", default: embeddedConfigDir },
          "xds-address": { type: "string", default: "127.0.0.1:15010" },
          "monitoring-address": { type: "string", default: "127.0.0.1:15014" },
          "data-dir": { type: "string", default: ".meshward" },
          help: { type: "boolean", short: "h" },
        },
        strict: true,
      }));
    } catch (e) {
      console.error(`meshward serve: ${(e as Error).message}\n\n${usage}`);
      return 2;
    }
    if (values.help) {
      console.log(usage);
      return 0;
    }
    const cp = await startControlPlane({
      configDir: values["config-dir"],
      xdsAddress: values["xds-address"],
      monitoringAddress: values["monitoring-address"],
      dataDir: values["data-dir"],
    });
    await new Promise<void>((resolve) => {
      const stop = (): void => {
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
        void cp.stop().then(resolve);
      };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
    });
    return 0;
  },
};
