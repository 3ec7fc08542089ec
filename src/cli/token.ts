// `meshward token create`: prints a workload token signed with meshward's token key, the
// stand-in for a Kubernetes projected service-account token (audience istio-ca).
import { FlagError, parseDurationSeconds, parseFlags, required } from "./flags.js";
import type { Command } from "./main.js";
import { TokenKey } from "../security/token-key.js";

const USAGE = "usage: meshward token create --namespace N --service-account S [--ttl 1h] [--audience istio-ca] [--data-dir .meshward]";

export const tokenCommand: Command = {
  summary: "create a workload token (ES256 JWT, audience istio-ca) for a namespace and service account",
  async run(args: string[]): Promise<number> {
    const [sub, ...rest] = args;
    if (sub !== "create") {
      console.error(USAGE);
      return 2;
    }
    try {
      const flags = parseFlags(rest, { values: ["namespace", "service-account", "ttl", "audience", "data-dir"] });
      const key = await TokenKey.loadOrCreate(flags.get("data-dir") ?? ".meshward");
      const audience = flags.get("audience");
      console.log(
        key.mint({
          namespace: required(flags, "namespace"),
          serviceAccount: required(flags, "service-account"),
          ttlSeconds: parseDurationSeconds(flags.get("ttl") ?? "1h", "ttl"),
          audiences: audience === undefined ? undefined : audience.split(","),
        }),
      );
      return 0;
    } catch (e) {
      if (e instanceof FlagError) {
        console.error(`meshward token: ${e.message}\n${USAGE}`);
        return 2;
      }
      throw e;
    }
  },
};
