// Files that other processes read while we replace them (keys, certificates, bootstrap JSON):
// written to a temporary file in the same directory, fsynced, then renamed over the target, so a
// reader sees the old or the new content and never a torn one; keys are created 0600 from the start.
import { randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import * as path from "node:path";

export const KEY_FILE_MODE = 0o600;
export const PUBLIC_FILE_MODE = 0o644;

export interface PendingFile {
  readonly target: string;
  readonly temp: string;
}

/** Writes and fsyncs a temp file next to `target`; `commit` renames it into place. */
export async function stageFile(target: string, data: string | Uint8Array, mode: number): Promise<PendingFile> {
  const temp = path.join(path.dirname(target), `.${path.basename(target)}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    await writeFileSynced(temp, data, mode);
  } catch (e) {
    await fs.rm(temp, { force: true });
    throw e;
  }
  return { target, temp };
}

/** Creates a new file with `mode` (never wider: created with it, then chmod against the umask) and fsyncs it. */
export async function writeFileSynced(file: string, data: string | Uint8Array, mode: number): Promise<void> {
  const fh = await fs.open(file, "wx", mode);
  try {
    await fh.chmod(mode);
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Renames staged files into place back to back, then fsyncs their directories. */
export async function commitFiles(files: readonly PendingFile[]): Promise<void> {
  for (const f of files) await fs.rename(f.temp, f.target);
  for (const dir of new Set(files.map((f) => path.dirname(f.target)))) await syncDirectory(dir);
}

export async function writeFileAtomic(target: string, data: string | Uint8Array, mode: number): Promise<void> {
  await commitFiles([await stageFile(target, data, mode)]);
}

export async function syncDirectory(dir: string): Promise<void> {
  const fh = await fs.open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Creates `target` only if it does not exist yet, atomically and complete (hard link of a synced
 * temp file). Returns false when another process got there first; its content then wins.
 */
export async function createFileExclusive(target: string, data: string | Uint8Array, mode: number): Promise<boolean> {
  const staged = await stageFile(target, data, mode);
  try {
    await fs.link(staged.temp, target);
    await syncDirectory(path.dirname(target));
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw e;
  } finally {
    await fs.rm(staged.temp, { force: true });
  }
}
