// What the PGV checker reports, and the state of one walk over a message tree.
import type { Registry } from "@bufbuild/protobuf";

/** One broken `validate.rules` constraint, located by proto field names from the checked root. */
export interface Violation {
  /** e.g. `filter_chains[0].filters[1].typed_config.stat_prefix`; empty for the root itself. */
  readonly path: string;
  /** The PGV rule, e.g. `string.min_len`, `message.required`, `oneof.required`. */
  readonly rule: string;
  readonly message: string;
}

export interface ValidateOptions {
  /**
   * Report a `google.protobuf.Any` whose type is not in the registry (rule `any.unknown_type`).
   * Envoy resolves every Any it is sent; meshward's generated API covers only part of Envoy's, so
   * this is opt-in.
   */
  readonly strictAny?: boolean;
}

/** Walk state: the field path as a stack of segments, joined only when something is reported. */
export class Walk {
  readonly violations: Violation[] = [];
  private readonly segments: string[] = [];

  constructor(
    readonly types: Registry,
    readonly strictAny: boolean,
  ) {}

  enter(segment: string): void {
    this.segments.push(segment);
  }

  leave(): void {
    this.segments.pop();
  }

  /** Set while a map's keys are checked: a key's violation sits at its entry's path. */
  inMapKey = false;

  report(rule: string, message: string): void {
    this.violations.push({ path: this.path(), rule, message: this.inMapKey ? `map key: ${message}` : message });
  }

  private path(): string {
    let path = "";
    for (const s of this.segments) path += path === "" || s.startsWith("[") ? s : "." + s;
    return path;
  }
}

/** Checks one present value of a field (a scalar, a message, one list item, one map value). */
export type ValueCheck = (value: unknown, walk: Walk) => void;

/** Runs every check in order; undefined when there are none, so callers can skip the field. */
export function allOf(checks: readonly ValueCheck[]): ValueCheck | undefined {
  if (checks.length === 0) return undefined;
  if (checks.length === 1) return checks[0];
  return (value, walk) => {
    for (const check of checks) check(value, walk);
  };
}
