// better-sqlite3 ships no TypeScript declarations and @types/better-sqlite3 is not installed, so
// this module types the part of its API meshward uses (the risk audit and the agent's exec audit)
// and loads it through createRequire; open every database through it. Local
// types (rather than a global `declare module`) keep this from colliding with declarations
// another module might add; replace with @types/better-sqlite3 when it is installed.
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { ensurePrivateFile } from "../security/private-files.js";

export type SqlValue = string | number | bigint | null | Buffer;

export interface RunResult {
  readonly changes: number;
  readonly lastInsertRowid: number | bigint;
}

/** Positional `?` parameters, or one object binding `@name` parameters. */
export type SqlParams = SqlValue[] | [Readonly<Record<string, SqlValue>>];

export interface Statement {
  run(...params: SqlParams): RunResult;
  /** The first row, or undefined; callers assert its row type. */
  get(...params: SqlParams): unknown;
  all(...params: SqlParams): unknown[];
}

export interface Database {
  readonly name: string;
  readonly open: boolean;
  readonly inTransaction: boolean;
  prepare(sql: string): Statement;
  exec(sql: string): Database;
  pragma(source: string, options?: { simple: true }): unknown;
  transaction<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R;
  close(): void;
}

interface DatabaseOptions {
  readonly readonly?: boolean;
  readonly fileMustExist?: boolean;
  /** ms to wait for another connection's write lock (the CLI and the server share the file). */
  readonly timeout?: number;
}

type DatabaseConstructor = new (file: string, options?: DatabaseOptions) => Database;

const load = createRequire(import.meta.url);

export function openDatabase(file: string, options: DatabaseOptions = {}): Database {
  const Ctor = load("better-sqlite3") as DatabaseConstructor;
  return new Ctor(file, options);
}

/**
 * Opens (creating) a database that records who ran what: its directory 0700, a new file created
 * 0600 before SQLite opens it (SQLite gives the WAL files the file's mode), an existing one checked
 * (ours, not a link, not group/other-writable), in WAL mode.
 */
export function openPrivateDatabase(file: string, options: DatabaseOptions = {}): Database {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  ensurePrivateFile(file, "database");
  const db = openDatabase(file, options);
  db.pragma("journal_mode = WAL", { simple: true });
  return db;
}
