// Natural batching of calls to one server: a call starts a batch at once when a
// batch slot is free (no added latency when idle); calls that arrive while every
// slot is busy wait, and the next free slot takes all of them (up to maxBatch)
// as one batch. A thousand revocations due in the same second then cost a few
// statements per batch instead of a few per account. Pure queueing: what a batch
// does is the caller's `process`.

/** What a batch did for one of its members. */
export type Outcome<O> = { ok: true; value: O } | { ok: false; error: unknown };

export interface CoalescerOptions<I, O> {
  /** Batches running at once per key. */
  concurrency: number;
  /** Most members in one batch. */
  maxBatch: number;
  /**
   * Runs one batch. Returns one outcome per input, in order (or throws: every
   * member then fails with that error). `signal` aborts when every member has
   * been cancelled: nobody waits for the rest of the work any more.
   */
  process(key: string, inputs: I[], signal: AbortSignal): Promise<Outcome<O>[]>;
  /** The error a cancelled caller gets. */
  cancelled(key: string, input: I, started: boolean): unknown;
}

interface Member<I, O> {
  input: I;
  settled: boolean;
  resolve(value: O): void;
  reject(error: unknown): void;
  unsubscribe(): void;
  /** Set once the member is in a running batch. */
  batch?: RunningBatch<I, O>;
}

interface RunningBatch<I, O> {
  members: Member<I, O>[];
  controller: AbortController;
}

interface Lane<I, O> {
  queue: Member<I, O>[];
  running: number;
  drainScheduled: boolean;
}

export class Coalescer<I, O> {
  private readonly lanes = new Map<string, Lane<I, O>>();

  constructor(private readonly options: CoalescerOptions<I, O>) {
    if (!Number.isSafeInteger(options.concurrency) || options.concurrency < 1) throw new Error('concurrency must be a positive integer');
    if (!Number.isSafeInteger(options.maxBatch) || options.maxBatch < 1) throw new Error('maxBatch must be a positive integer');
  }

  /** Calls waiting for a slot, per key (for tests and logs). */
  waiting(key: string): number {
    return this.lanes.get(key)?.queue.length ?? 0;
  }

  run(key: string, input: I, signal?: AbortSignal): Promise<O> {
    if (signal?.aborted) return Promise.reject(this.options.cancelled(key, input, false));
    return new Promise<O>((resolve, reject) => {
      const member: Member<I, O> = {
        input,
        settled: false,
        resolve: (value) => {
          if (member.settled) return;
          member.settled = true;
          member.unsubscribe();
          resolve(value);
        },
        reject: (error) => {
          if (member.settled) return;
          member.settled = true;
          member.unsubscribe();
          reject(error);
        },
        unsubscribe: () => undefined,
      };
      if (signal) {
        const onAbort = () => this.cancel(key, member);
        signal.addEventListener('abort', onAbort, { once: true });
        member.unsubscribe = () => signal.removeEventListener('abort', onAbort);
      }
      const lane = this.lane(key);
      lane.queue.push(member);
      this.scheduleDrain(key, lane);
    });
  }

  private lane(key: string): Lane<I, O> {
    let lane = this.lanes.get(key);
    if (!lane) {
      lane = { queue: [], running: 0, drainScheduled: false };
      this.lanes.set(key, lane);
    }
    return lane;
  }

  /**
   * Calls made in the same turn of the event loop join one batch (timers due at the same
   * instant fire in one turn, each followed by its own microtasks); nothing waits longer.
   */
  private scheduleDrain(key: string, lane: Lane<I, O>): void {
    if (lane.drainScheduled) return;
    lane.drainScheduled = true;
    setImmediate(() => {
      lane.drainScheduled = false;
      this.drain(key, lane);
    });
  }

  private drain(key: string, lane: Lane<I, O>): void {
    while (lane.running < this.options.concurrency && lane.queue.length > 0) {
      const members = lane.queue.splice(0, this.options.maxBatch);
      lane.running += 1;
      void this.start(key, lane, members);
    }
    if (lane.running === 0 && lane.queue.length === 0) this.lanes.delete(key);
  }

  private async start(key: string, lane: Lane<I, O>, members: Member<I, O>[]): Promise<void> {
    const batch: RunningBatch<I, O> = { members, controller: new AbortController() };
    for (const m of members) m.batch = batch;
    try {
      const outcomes = await this.options.process(
        key,
        members.map((m) => m.input),
        batch.controller.signal,
      );
      members.forEach((m, i) => {
        const outcome = outcomes[i];
        if (!outcome) m.reject(new Error('the batch returned no outcome for this call'));
        else if (outcome.ok) m.resolve(outcome.value);
        else m.reject(outcome.error);
      });
    } catch (err) {
      for (const m of members) m.reject(err);
    } finally {
      lane.running -= 1;
      this.drain(key, lane);
    }
  }

  /**
   * A caller's signal aborted. Queued: it leaves the queue, nothing was sent for
   * it. In a running batch: it is answered at once; the batch goes on for the
   * others (each of its steps is idempotent, so whatever it did or did not do for
   * this member, a retry finishes the job), and stops when nobody is left.
   */
  private cancel(key: string, member: Member<I, O>): void {
    if (member.settled) return;
    const lane = this.lanes.get(key);
    const index = lane ? lane.queue.indexOf(member) : -1;
    if (index >= 0) {
      lane!.queue.splice(index, 1);
      member.reject(this.options.cancelled(key, member.input, false));
      return;
    }
    member.reject(this.options.cancelled(key, member.input, true));
    const batch = member.batch;
    if (batch && batch.members.every((m) => m.settled)) batch.controller.abort();
  }
}
