/**
 * A problem the user can fix (bad input, bad config, a missing tool). Shown as
 * one line, "cannot <verb> <object>: <cause>", plus an optional hint. Anything
 * else thrown is a bug and shows its stack only with --verbose.
 */
export class UserError extends Error {
  constructor(
    message: string,
    /** 2: bad input or usage (nothing was changed); 1: runtime failure. */
    readonly exitCode: 1 | 2 = 2,
    readonly hint?: string,
  ) {
    super(message);
    this.name = "UserError";
  }
}

/** Untrusted input quoted for a message: escaped, and cut short (it may come from a hostile client). */
export const quoteInput = (s: string) => JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}...` : s);

export const badInput = (message: string, hint?: string) => new UserError(message, 2, hint);
export const failure = (message: string, hint?: string) => new UserError(message, 1, hint);
