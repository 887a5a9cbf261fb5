// Ending access before bookkeeping (docs/decisions/0010-drops-before-bookkeeping.md).

/**
 * Endings of access (containment and drop) in flight in this worker. A secret is
 * deleted only once none is (or after `maxWaitMs`): when a thousand revocations
 * come due in the same second, every account is contained and dropped first, and
 * the slower, CPU-hungrier Secrets Manager calls (and the reports to Temporal that
 * follow them) do not slow them down. Ending access is urgent; deleting a password
 * that no longer works is not. (README: Performance.)
 *
 * Then at most `maxCleanups` deletions run at once; the others wait their turn
 * here, heartbeating. Without the bound a burst sent a thousand requests at once:
 * they queued for the HTTP client's sockets and the endpoint, their 10 s request
 * timeout ran out while they queued, and a third of the revocations failed an
 * attempt and were retried. (Secrets Manager also throttles deletions, at 50 a
 * second per account and region.)
 */
export class DropsFirst {
  private inFlight = 0;
  private waiting: (() => void)[] = [];
  private cleaning = 0;
  private queued: (() => void)[] = [];

  constructor(
    private readonly maxWaitMs = 10_000,
    private readonly maxCleanups = 8,
  ) {}

  async drop<T>(work: () => Promise<T>): Promise<T> {
    this.inFlight += 1;
    try {
      return await work();
    } finally {
      this.inFlight -= 1;
      if (this.inFlight === 0) for (const wake of this.waiting.splice(0)) wake();
    }
  }

  /** Resolves when no drop is in flight, or after maxWaitMs. */
  async settled(): Promise<void> {
    if (this.inFlight === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.waiting.push(resolve);
      timer = setTimeout(resolve, this.maxWaitMs);
    });
    clearTimeout(timer);
  }

  /** Runs a clean-up (a secret's deletion) once the drops have settled, at most maxCleanups at a time, in arrival order. */
  async cleanup<T>(work: () => Promise<T>): Promise<T> {
    await this.settled();
    if (this.cleaning >= this.maxCleanups) await new Promise<void>((resolve) => this.queued.push(resolve));
    else this.cleaning += 1;
    try {
      return await work();
    } finally {
      // The slot passes straight to the next in line (cleaning stays counted), or is freed.
      const next = this.queued.shift();
      if (next) next();
      else this.cleaning -= 1;
    }
  }
}
