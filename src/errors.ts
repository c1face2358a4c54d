/**
 * A problem the user can fix (bad input, bad config, a missing tool). Shown as
 * one line, "cannot <verb> <object>: <cause>; hint: <hint>". Anything else
 * thrown is a bug and shows its stack only with --verbose.
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

/** How much of an untrusted string a message repeats (it may come from a hostile client, or be 1 MB). */
export const MAX_ECHO = 64;

/** Untrusted input cut short for a message, as it is (paths, names). */
export const shorten = (s: string) => (s.length > MAX_ECHO ? `${s.slice(0, MAX_ECHO)}...` : s);

/** Untrusted input quoted for a message: escaped, and cut short. */
export const quoteInput = (s: string) => JSON.stringify(shorten(s));

/** The same in single quotes, the way a UCI file writes a value. */
export const quoteValue = (s: string) => `'${quoteInput(s).slice(1, -1)}'`;

/** Squeezes text (a tool's stderr, a server's body) into one line of at most `max` characters. */
export function oneLine(s: string, max = 200): string {
  const t = s.replace(/\s+/g, " ").trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

/** A user error as the one line stderr (and from there syslog) gets. */
export function formatUserError(e: UserError): string {
  return oneLine(e.hint ? `${e.message}; hint: ${e.hint}` : e.message, 1000);
}

export const badInput = (message: string, hint?: string) => new UserError(message, 2, hint);
export const failure = (message: string, hint?: string) => new UserError(message, 1, hint);
