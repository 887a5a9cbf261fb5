/** A configuration problem, reported at start-up with the path of the offending key. */
export class ConfigError extends Error {
  constructor(
    readonly problems: string[],
    /** The file the problems are in, when there is one. */
    readonly source?: string,
  ) {
    super(`invalid configuration${source ? ` in ${source}` : ''}:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}
