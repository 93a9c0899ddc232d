// One base class for every error kube-lb raises on purpose. Each carries a stable `code` (from the catalogue in
// error-codes.ts, rendered into docs/errors.md), the object it concerns when there is one, and whether retrying
// can help. Kubernetes API errors are classified once, in kube/client.ts (isTransientApiError, KubeApiError).
import type { ErrorCode } from './error-codes.ts';

export type { ErrorCode } from './error-codes.ts';

export interface ObjectRef {
  kind: string;
  name: string;
  namespace?: string;
  /** The field at fault, as a JSON path ("spec.addresses[2]"). */
  field?: string;
}

export interface KubeLbErrorOptions {
  object?: ObjectRef | undefined;
  cause?: unknown;
  /** True when the same call may succeed later (API unreachable, conflict); false for bad input. */
  transient?: boolean;
}

export class KubeLbError extends Error {
  readonly code: ErrorCode;
  readonly object: ObjectRef | undefined;
  readonly transient: boolean;

  constructor(code: ErrorCode, message: string, options: KubeLbErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.object = options.object;
    this.transient = options.transient ?? false;
  }

  /** "VIPClaim tenant-a/web spec.ports[0].port" — how logs, Events and conditions name the object. */
  get subject(): string {
    return describeObject(this.object);
  }
}

export function describeObject(ref: ObjectRef | undefined): string {
  if (!ref) return '';
  const id = ref.namespace ? `${ref.namespace}/${ref.name}` : ref.name;
  return `${ref.kind} ${id}${ref.field ? ` ${ref.field}` : ''}`;
}

/** Invalid configuration (flags, environment): names the flag and the bad value. */
export class ConfigError extends KubeLbError {
  readonly flag: string;
  readonly value: string | undefined;

  constructor(flag: string, value: string | undefined, reason: string) {
    super('CONFIG_INVALID', `--${flag}${value === undefined ? '' : `=${JSON.stringify(value)}`}: ${reason}`);
    this.flag = flag;
    this.value = value;
  }
}

/** A command line that cannot be run as given (a bad argument, a request that fails its checks): exit 2. */
export class UsageError extends KubeLbError {
  constructor(message: string, options: KubeLbErrorOptions = {}) {
    super('USAGE', message, options);
  }
}

/**
 * A broken promise of kube-lb's own code (a bug), or a value of a kind this version does not know. Thrown only
 * through invariant() and assertNever(), so that every "cannot happen" is findable and says what did.
 */
export class InvariantError extends KubeLbError {
  constructor(message: string) {
    super('INTERNAL_INVARIANT', message);
  }
}

/** Throws an InvariantError with `message` unless `condition` holds. */
export function invariant(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) throw new InvariantError(typeof message === 'string' ? message : message());
}

/**
 * The end of every switch over a union: the compiler refuses the call while a member is unhandled, and a value
 * from outside the union at run time (a newer peer, a cast) throws naming it instead of passing silently.
 */
export function assertNever(value: never, what: string): never {
  throw new InvariantError(`unexpected ${what}: ${JSON.stringify(value)}`);
}
