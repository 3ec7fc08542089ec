// `meshward manifest generate [--set key=value ...]`: the YAML that installs meshward's control
// plane (istioctl manifest generate), for `kubectl apply --server-side -f -` or review.
import { stringify } from "yaml";
import { DEFAULT_INSTALL_VALUES, installManifest, installValues } from "../install/manifest.js";
import { FlagError, parseFlags, runCommand } from "./flags.js";
import type { Command } from "./main.js";

export const SET_USAGE = `  --set key=value   change an install value (repeatable); the values and their defaults:
${Object.entries(DEFAULT_INSTALL_VALUES).map(([k, v]) => `                      ${k}=${v}`).join("\n")}`;

const USAGE = `usage: meshward manifest generate [--set key=value ...]
${SET_USAGE}`;

export const manifestCommand: Command = {
  summary: "print the YAML that installs meshward's control plane in a cluster (istioctl manifest generate)",
  run: (args) =>
    runCommand("manifest", USAGE, () => {
      const { values, positionals } = parseFlags(args, { set: { type: "string", multiple: true, default: [] } }, true);
      if (positionals.length !== 1 || positionals[0] !== "generate") {
        throw new FlagError(positionals.length === 0 ? "missing subcommand (generate)" : `unknown subcommand "${positionals.join(" ")}"`);
      }
      const objects = installManifest(installValues(values.set));
      process.stdout.write(objects.map((o) => stringify(o)).join("---\n"));
      return 0;
    }),
};
