// `meshward token create`: prints a workload token signed with meshward's token key, the
// stand-in for a Kubernetes projected service-account token (audience istio-ca).
import { DATA_DIR_OPTION, FlagError, parseDurationSeconds, parseFlags, required, runCommand } from "./flags.js";
import type { Command } from "./main.js";
import { mintProblem, TokenKey } from "../security/token-key.js";

const USAGE = "usage: meshward token create --namespace N --service-account S [--ttl 1h (at most 24h)] [--audience istio-ca] [--data-dir .meshward]";

export const tokenCommand: Command = {
  summary: "create a workload token (ES256 JWT, audience istio-ca) for a namespace and service account",
  run: (args) =>
    runCommand("token", USAGE, async () => {
      const { values, positionals } = parseFlags(
        args,
        {
          namespace: { type: "string" },
          "service-account": { type: "string" },
          ttl: { type: "string", default: "1h" },
          audience: { type: "string" },
          ...DATA_DIR_OPTION,
        },
        true,
      );
      if (positionals.length !== 1 || positionals[0] !== "create") {
        throw new FlagError(positionals.length === 0 ? "missing subcommand (create)" : `unknown subcommand "${positionals.join(" ")}"`);
      }
      const namespace = required(values.namespace, "namespace");
      const serviceAccount = required(values["service-account"], "service-account");
      const ttlSeconds = parseDurationSeconds(values.ttl, "ttl");
      const problem = mintProblem({ namespace, serviceAccount, ttlSeconds });
      if (problem !== undefined) throw new FlagError(problem);
      const key = await TokenKey.loadOrCreate(values["data-dir"]);
      console.log(key.mint({ namespace, serviceAccount, ttlSeconds, audiences: values.audience?.split(",") }));
      return 0;
    }),
};
