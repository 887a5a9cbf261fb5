// AWS SDK errors carry the service's error code as `name`. Only the name and the
// service's own message travel on: never the request (which may hold a secret value).

export function awsErrorName(err: unknown): string {
  return err instanceof Error ? err.name : 'UnknownError';
}

/** A new error (no cause chain) with a safe, short description of an AWS failure. */
export function awsFailure(what: string, err: unknown): Error {
  const name = awsErrorName(err);
  const message = err instanceof Error ? err.message.slice(0, 300) : String(err).slice(0, 300);
  return new Error(`${what}: ${name}${message && message !== name ? `: ${message}` : ''}`);
}
