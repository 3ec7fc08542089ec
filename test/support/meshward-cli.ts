// `bin/meshward` run as a user runs it, in a child process: for the CLI and end-to-end tests.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The checkout's bin/meshward (this file compiles to dist/test/support/). */
export const MESHWARD_BIN = fileURLToPath(new URL("../../../bin/meshward", import.meta.url));

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `meshward ...args` to its end; a non-zero exit is a result, not an error. */
export function runMeshward(...args: string[]): Promise<CliResult> {
  return runMeshwardIn(process.cwd(), ...args);
}

/** As runMeshward, from `cwd` (so relative paths in its output stay as given). */
export function runMeshwardIn(cwd: string, ...args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MESHWARD_BIN, ...args], { cwd, encoding: "utf8", timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === "number" ? err.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs `meshward ...args` and returns its stdout; a non-zero exit fails with its stderr. */
export async function meshwardOk(...args: string[]): Promise<string> {
  const r = await runMeshward(...args);
  if (r.code !== 0) throw new Error(`meshward ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}
