// `meshward ca root` and `meshward ca intermediate`: one trust across clusters (Istio's plug-in CA
// certificates), made with meshward itself: a root kept offline, and per cluster an intermediate
// written as an Istio `cacerts` bundle for `meshward serve --cacerts-dir` (or the `cacerts` Secret).
import { readFileSync } from "node:fs";
import { createOfflineRoot, DEFAULT_INTERMEDIATE_TTL_DAYS, mintIntermediate, ROOT_FILES } from "../ca/intermediate.js";
import { FlagError, parseDurationSeconds, parseFlags, runCommand } from "./flags.js";
import type { Command } from "./main.js";

const usage = `usage: meshward ca root --out DIR [--trust-domain TD]
       meshward ca intermediate --cluster C --root-dir DIR --out DIR [--trust-domain TD] [--ttl D] [--also-trust FILE]

  root            writes a new root CA: DIR/${ROOT_FILES.cert} and DIR/${ROOT_FILES.key} (0600); keep DIR offline
  intermediate    signs an intermediate CA for cluster C with the root in --root-dir and writes Istio's cacerts
                  bundle into --out: ca-cert.pem, ca-key.pem (0600), cert-chain.pem, root-cert.pem
  --trust-domain  the mesh's trust domain, in the certificates' subject (default cluster.local)
  --ttl D         the intermediate's lifetime, never past the root's (default ${DEFAULT_INTERMEDIATE_TTL_DAYS}d)
  --also-trust F  more roots (PEM) for root-cert.pem: the other root during a root rotation (default: none)`;

export const caCommand: Command = {
  summary: "make an offline root and per-cluster intermediate CA bundles (Istio cacerts) for one trust across clusters",
  run: (args) =>
    runCommand("ca", usage, async () => {
      const [sub, ...rest] = args;
      if (sub === "root") {
        const { values } = parseFlags(rest, { out: { type: "string" }, "trust-domain": { type: "string", default: "cluster.local" } });
        if (values.out === undefined) throw new FlagError("--out DIR is required");
        await createOfflineRoot(values.out, values["trust-domain"]);
        console.log(`meshward ca: root written to ${values.out} (${ROOT_FILES.key} is 0600; keep it offline)`);
        return 0;
      }
      if (sub === "intermediate") {
        const { values } = parseFlags(rest, {
          cluster: { type: "string" },
          "root-dir": { type: "string" },
          out: { type: "string" },
          "trust-domain": { type: "string", default: "cluster.local" },
          ttl: { type: "string", default: `${DEFAULT_INTERMEDIATE_TTL_DAYS}d` },
          "also-trust": { type: "string" },
        });
        for (const f of ["cluster", "root-dir", "out"] as const) if (values[f] === undefined) throw new FlagError(`--${f} is required`);
        const also = values["also-trust"];
        const cert = await mintIntermediate({
          cluster: values.cluster!,
          rootDir: values["root-dir"]!,
          outDir: values.out!,
          trustDomain: values["trust-domain"],
          ttlDays: parseDurationSeconds(values.ttl, "ttl") / 86_400,
          ...(also !== undefined ? { alsoTrustPem: readFileSync(also, "utf8") } : {}),
        });
        console.log(`meshward ca: intermediate for cluster ${values.cluster} written to ${values.out} (valid until ${cert.validTo})`);
        return 0;
      }
      throw new FlagError(sub === undefined ? "want a subcommand: root or intermediate" : `unknown subcommand "${sub}": want root or intermediate`);
    }),
};
