import { createServer } from 'node:net';

// Ports for the servers the tests start (Temporal dev servers, moto, the dev
// stack, proxies...), chosen before the server binds them.
//
// Chosen below the kernel's ephemeral range (32768-60999 on Linux), not by
// binding port 0: a port from that range is what every process gets for its own
// port-0 listeners and outgoing connections (a Temporal dev server picks its
// internal services' ports that way), so one chosen there can be taken by
// someone else between the choice and its use. Below it, only another explicit
// choice can collide, and each port is handed out once per test process.

const RANGE = { from: 20_000, to: 32_000 };
const handedOut = new Set<number>();

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A port on 127.0.0.1 that nothing listens on now and that this process has not handed out before. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 500; attempt++) {
    const port = RANGE.from + Math.floor(Math.random() * (RANGE.to - RANGE.from));
    if (handedOut.has(port)) continue;
    if (await canListen(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port between ${RANGE.from} and ${RANGE.to}`);
}
