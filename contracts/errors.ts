/**
 * The one base class of every error quorum-lab raises on purpose. `code` is stable (QL_ERR_...) so
 * callers and tests branch on it, never on the message; CLIs print `code: message` without a stack for
 * these, and a stack only for anything else (a bug).
 */
export class QuorumLabError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

export function isQuorumLabError(e: unknown): e is QuorumLabError {
  return e instanceof QuorumLabError;
}

/** One line for a CLI: `code: message` for our errors, the stack for anything unexpected. */
export function describeError(e: unknown): string {
  if (isQuorumLabError(e)) return `${e.code}: ${e.message}`;
  if (e instanceof Error) return e.stack ?? `${e.name}: ${e.message}`;
  return String(e);
}
