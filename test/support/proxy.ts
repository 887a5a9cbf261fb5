import net from 'node:net';

import { onTestRunEnd } from './hooks';

// A TCP forwarder that a test controls, placed between the worker and one of its
// dependencies (MariaDB, the AWS emulator, the SMTP server), to make real outages:
//
//   pause()    new connections are accepted but not forwarded (a server that does not answer)
//   freeze()   no byte passes in either direction, on open connections too (a stalled network)
//   cut()      every open connection is reset, and each new one is closed at once (the server is gone)
//   restore()  all of the above ends; held bytes and connections flow on
//   hold(...)  stops one conversation at a chosen request: before it reaches the
//              server, or after (the server did the work, the client never hears back),
//              or resets its connection there (a network that fails at that request)
//   answer(...) MySQL protocol only: answers a matching query (COM_QUERY) with an
//              error packet of a chosen errno, SQLSTATE and message instead of
//              forwarding it: the server never sees it, the connection stays usable
//              (a server that refuses that statement, e.g. MySQL's 4006 on DROP USER)
//
// It forwards bytes and looks at them only to find a hold's match; it never
// changes them. A match is searched in each chunk plus the tail of the previous
// one, so a request split across two chunks is still found. An answer's match is
// searched in one whole query packet at the start of a chunk (the client sends
// one command and waits for its result).

export interface Hold {
  /** Resolves when the first conversation is caught. */
  readonly hit: Promise<void>;
  /** Conversations caught so far. */
  readonly hits: number;
  /** Stops catching, and lets what was held flow on (when the connection is still open). */
  release(): void;
}

export interface HoldOptions {
  /**
   * `request`: the matching bytes and everything the client sends after them wait;
   * `reply`: they go through, and the server's answers wait;
   * `reset`: the connection is reset instead, and the bytes never reach the server.
   */
  until: 'request' | 'reply' | 'reset';
}

/** The error a matching query is answered with (see TcpProxy.answer). */
export interface ErrorAnswer {
  errno: number;
  /** Five characters (default HY000). */
  sqlState?: string;
  message: string;
}

export interface TcpProxy {
  readonly host: string;
  readonly port: number;
  /** What the proxy forwards to. */
  readonly target: { host: string; port: number };
  pause(): void;
  freeze(): void;
  cut(): void;
  restore(): void;
  /** Catches every conversation whose client bytes match (text, regular expression or predicate over latin1 text), until released. */
  hold(match: string | RegExp | ((text: string) => boolean), options: HoldOptions): Hold;
  /** Answers every query whose text matches with `error` instead of forwarding it, until released. */
  answer(match: string | RegExp | ((text: string) => boolean), error: ErrorAnswer): Hold;
  /** Connections accepted so far (a way to see that a client tried). */
  readonly accepted: number;
  /** When each connection was accepted (Date.now()), cut or not. */
  readonly acceptedAt: readonly number[];
  /** Connections currently open on the client side. */
  readonly open: number;
  close(): Promise<void>;
}

const TAIL = 256;

const COM_QUERY = 0x03;

/** A MySQL ERR packet (protocol 4.1) with sequence id `sequence`. */
function errorPacket(sequence: number, error: ErrorAnswer): Buffer {
  const state = (error.sqlState ?? 'HY000').padEnd(5, '0').slice(0, 5);
  const message = Buffer.from(error.message, 'utf8');
  const payload = Buffer.alloc(1 + 2 + 1 + 5 + message.length);
  payload[0] = 0xff;
  payload.writeUInt16LE(error.errno, 1);
  payload.write('#', 3, 'latin1');
  payload.write(state, 4, 'latin1');
  message.copy(payload, 9);
  const header = Buffer.alloc(4);
  header.writeUIntLE(payload.length, 0, 3);
  header[3] = sequence & 0xff;
  return Buffer.concat([header, payload]);
}

/** Waits for a hold to catch something; fails with `what` (e.g. the statement it waits for) after `timeoutMs`. */
export async function caught(hold: Hold, what: string, timeoutMs = 30_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      hold.hit,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`nothing matching ${what} went through the proxy within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

interface Rule {
  test: (text: string) => boolean;
  until: 'request' | 'reply' | 'reset' | 'answer';
  error?: ErrorAnswer;
  hits: number;
  released: boolean;
  onHit: () => void;
  conns: Set<Conn>;
}

interface Conn {
  client: net.Socket;
  upstream?: net.Socket;
  /** Bytes not yet forwarded, per direction. */
  toServer: Buffer[];
  toClient: Buffer[];
  /** A hold that stopped this direction. */
  heldUp?: Rule;
  heldDown?: Rule;
  tail: string;
}

export async function startTcpProxy(target: { host: string; port: number }, options: { host?: string } = {}): Promise<TcpProxy> {
  const conns = new Set<Conn>();
  const rules = new Set<Rule>();
  let paused = false;
  let frozen = false;
  let cutOff = false;
  let accepted = 0;
  const acceptedAt: number[] = [];

  const flowUp = (c: Conn): boolean => !!c.upstream && !frozen && !c.heldUp;
  const flowDown = (c: Conn): boolean => !frozen && !c.heldDown;

  const flush = (c: Conn): void => {
    if (c.client.destroyed) return;
    if (flowUp(c) && c.upstream && !c.upstream.destroyed) {
      for (const chunk of c.toServer.splice(0)) c.upstream.write(chunk);
    }
    if (flowDown(c)) for (const chunk of c.toClient.splice(0)) c.client.write(chunk);
  };

  const destroy = (c: Conn): void => {
    c.client.destroy();
    c.upstream?.destroy();
    conns.delete(c);
    for (const r of rules) r.conns.delete(c);
  };

  /** A query packet at the start of `chunk` that an answer rule matches: answered here; returns what is left to forward. */
  const answered = (c: Conn, chunk: Buffer): Buffer => {
    if (chunk.length < 5 || chunk[4] !== COM_QUERY) return chunk;
    const length = chunk.readUIntLE(0, 3);
    if (chunk.length < 4 + length) return chunk;
    const text = chunk.subarray(5, 4 + length).toString('latin1');
    for (const rule of rules) {
      if (rule.until !== 'answer' || rule.released || !rule.test(text)) continue;
      rule.hits += 1;
      rule.onHit();
      c.client.write(errorPacket(chunk[3]! + 1, rule.error!));
      return chunk.subarray(4 + length);
    }
    return chunk;
  };

  const fromClient = (c: Conn, chunk: Buffer): void => {
    if (!c.heldUp && !c.heldDown) {
      const rest = answered(c, chunk);
      if (rest.length === 0) return;
      chunk = rest;
    }
    if (!c.heldUp && !c.heldDown) {
      const text = c.tail + chunk.toString('latin1');
      c.tail = text.slice(-TAIL);
      for (const rule of rules) {
        if (rule.until === 'answer' || rule.released || !rule.test(text)) continue;
        rule.hits += 1;
        rule.onHit();
        if (rule.until === 'reset') {
          c.client.resetAndDestroy();
          destroy(c);
          return;
        }
        rule.conns.add(c);
        if (rule.until === 'request') c.heldUp = rule;
        else c.heldDown = rule;
        break;
      }
    }
    if (c.heldUp || !flowUp(c)) {
      c.toServer.push(chunk);
      return;
    }
    if (c.toServer.length) flush(c);
    c.upstream!.write(chunk);
  };

  const fromServer = (c: Conn, chunk: Buffer): void => {
    if (!flowDown(c)) {
      c.toClient.push(chunk);
      return;
    }
    c.client.write(chunk);
  };

  const connect = (c: Conn): void => {
    const upstream = net.connect(target.port, target.host);
    c.upstream = upstream;
    upstream.on('data', (chunk: Buffer) => fromServer(c, chunk));
    upstream.on('error', () => destroy(c));
    upstream.on('close', () => destroy(c));
    upstream.on('connect', () => flush(c));
  };

  const server = net.createServer((client) => {
    accepted += 1;
    acceptedAt.push(Date.now());
    if (cutOff) {
      client.on('error', () => undefined);
      client.resetAndDestroy();
      return;
    }
    const c: Conn = { client, toServer: [], toClient: [], tail: '' };
    conns.add(c);
    client.on('data', (chunk: Buffer) => fromClient(c, chunk));
    client.on('error', () => destroy(c));
    client.on('close', () => destroy(c));
    if (!paused) connect(c);
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', () => undefined);
  const port = (server.address() as net.AddressInfo).port;

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      for (const r of rules) r.released = true;
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const c of [...conns]) destroy(c);
      await done;
    })();
    return closed;
  };
  onTestRunEnd(close);

  function addRule(match: string | RegExp | ((text: string) => boolean), kind: { until: Rule['until']; error?: ErrorAnswer }): Hold {
    const test =
      typeof match === 'string' ? (t: string) => t.includes(match) : match instanceof RegExp ? (t: string) => match.test(t) : match;
    let onHit!: () => void;
    const hit = new Promise<void>((resolve) => {
      onHit = resolve;
    });
    const rule: Rule = { test, until: kind.until, ...(kind.error ? { error: kind.error } : {}), hits: 0, released: false, onHit, conns: new Set() };
    rules.add(rule);
    return {
      hit,
      get hits() {
        return rule.hits;
      },
      release() {
        rule.released = true;
        rules.delete(rule);
        for (const c of rule.conns) {
          if (c.heldUp === rule) c.heldUp = undefined;
          if (c.heldDown === rule) c.heldDown = undefined;
          flush(c);
        }
        rule.conns.clear();
      },
    };
  }

  return {
    host,
    port,
    target: { ...target },
    get accepted() {
      return accepted;
    },
    acceptedAt,
    get open() {
      return conns.size;
    },
    pause() {
      paused = true;
    },
    freeze() {
      frozen = true;
    },
    cut() {
      cutOff = true;
      for (const c of [...conns]) {
        c.client.resetAndDestroy();
        destroy(c);
      }
    },
    restore() {
      paused = false;
      frozen = false;
      cutOff = false;
      for (const c of [...conns]) {
        if (!c.upstream) connect(c);
        else flush(c);
      }
    },
    answer(match, error) {
      return addRule(match, { until: 'answer', error });
    },
    hold(match, holdOptions) {
      return addRule(match, { until: holdOptions.until });
    },
    close,
  };
}
