// The data directory and the keys in it are trusted only if nobody else could have written them:
// an existing directory or key file is checked for owner and mode before use (a group- or
// other-writable data dir lets another user swap a key or the audit database), and keys are
// opened without following a symbolic link (O_NOFOLLOW), so a link planted in their place is
// refused instead of read. New private files are created 0600 from the start, never tightened later.
import { closeSync, constants, fstatSync, openSync, statSync, type Stats } from "node:fs";
import { promises as fs } from "node:fs";

const ownUid = (): number | undefined => process.geteuid?.();

function ownerProblem(st: Stats): string | undefined {
  const uid = ownUid();
  return uid !== undefined && st.uid !== uid ? `owned by uid ${st.uid}, not by this process (uid ${uid})` : undefined;
}

const octal = (st: Stats): string => (st.mode & 0o777).toString(8).padStart(4, "0");

/** Throws unless `dir` is a directory this process owns that neither group nor others may write. */
export function checkPrivateDirectory(dir: string, what = "data directory"): void {
  const st = statSync(dir);
  if (!st.isDirectory()) throw new Error(`${what} ${dir}: not a directory`);
  const owner = ownerProblem(st);
  if (owner !== undefined) throw new Error(`${what} ${dir}: ${owner}`);
  if ((st.mode & 0o022) !== 0) throw new Error(`${what} ${dir}: mode ${octal(st)} lets group or others write; run chmod go-w ${dir}`);
}

/** Why an open private file (a key, the audit database) may not be trusted, or undefined. */
function privateFileProblem(st: Stats, denyMask: number): string | undefined {
  if (!st.isFile()) return "not a regular file";
  const owner = ownerProblem(st);
  if (owner !== undefined) return owner;
  if ((st.mode & denyMask) !== 0) return `mode ${octal(st)} gives group or others access; run chmod 600`;
  return undefined;
}

/**
 * Reads a private key file: not through a symbolic link, a regular file this process owns, with
 * no access for group or others. Errors name the file.
 */
export async function readPrivateKeyFile(file: string): Promise<string> {
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(code === "ELOOP" ? `key ${file}: is a symbolic link; keys are opened only as regular files` : `key ${file}: ${(e as Error).message}`);
  }
  try {
    const problem = privateFileProblem(await fh.stat(), 0o077);
    if (problem !== undefined) throw new Error(`key ${file}: ${problem}`);
    return await fh.readFile("utf8");
  } finally {
    await fh.close();
  }
}

/**
 * Creates `file` empty with mode 0600 if it does not exist (never a wider mode, whatever the umask),
 * or checks an existing one: not a link, owned by this process, not writable by group or others.
 */
export function ensurePrivateFile(file: string, what: string): void {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(code === "ELOOP" ? `${what} ${file}: is a symbolic link` : `${what} ${file}: ${(e as Error).message}`);
  }
  try {
    const problem = privateFileProblem(fstatSync(fd), 0o022);
    if (problem !== undefined) throw new Error(`${what} ${file}: ${problem}`);
  } finally {
    closeSync(fd);
  }
}
