import { createServer, connect as connectTcp, type Socket } from 'node:net';

/**
 * A TCP proxy in front of the test Postgres that can lose the answer to a COMMIT: it lets the
 * COMMIT reach the server (the transaction commits) and cuts the client's connection when the
 * server's CommandComplete "COMMIT" comes back, before the client reads it. The client sees its
 * connection closed (CONNECTION_CLOSED) and cannot tell whether the commit landed — what a network
 * failure or a server crash right after the commit looks like.
 *
 * Connections are told apart by their backend process id (the BackendKeyData message each session
 * starts with), so a test can aim at the session it sees in pg_stat_activity.
 */
export interface PgProxy {
  /** postgres:// URL of the proxy (same database, user and options). */
  url: string;
  /** The next COMMIT answered to the session with this backend pid is lost, and its connection cut. */
  loseCommitAnswer(pid: number): void;
  /** COMMIT answers lost so far. */
  readonly answersLost: number;
  close(): Promise<void>;
}

/** CommandComplete ('C', length 11) with the tag "COMMIT": the server's answer to a committed COMMIT. */
const COMMIT_COMPLETE = Buffer.concat([Buffer.from([0x43, 0, 0, 0, 11]), Buffer.from('COMMIT\0', 'latin1')]);
/** BackendKeyData ('K', length 12): process id and secret key of the session. */
const BACKEND_KEY_DATA = Buffer.from([0x4b, 0, 0, 0, 12]);

export async function startPgProxy(targetUrl: string): Promise<PgProxy> {
  const target = new URL(targetUrl);
  const armed = new Set<number>();
  const sockets = new Set<Socket>();
  let answersLost = 0;

  const server = createServer((client) => {
    const upstream = connectTcp(Number(target.port || 5432), target.hostname);
    sockets.add(client).add(upstream);
    let pid: number | undefined;
    // The end of the previous chunk, so a message split across chunks is still recognised.
    let tail = Buffer.alloc(0);
    const cut = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (chunk: Buffer) => upstream.write(chunk));
    upstream.on('data', (chunk: Buffer) => {
      const seen = Buffer.concat([tail, chunk]);
      tail = seen.subarray(Math.max(0, seen.length - 16));
      if (pid === undefined) {
        const k = seen.indexOf(BACKEND_KEY_DATA);
        if (k >= 0 && seen.length >= k + 9) pid = seen.readInt32BE(k + 5);
      }
      if (pid !== undefined && armed.has(pid) && seen.includes(COMMIT_COMPLETE)) {
        armed.delete(pid);
        answersLost++;
        cut();
        return;
      }
      client.write(chunk);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('error', cut);
    upstream.on('error', cut);
    client.on('close', () => sockets.delete(client));
    upstream.on('close', () => sockets.delete(upstream));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the proxy has no TCP address');
  const url = new URL(targetUrl);
  url.hostname = '127.0.0.1';
  url.port = String(address.port);

  return {
    url: url.toString(),
    loseCommitAnswer: (pid) => armed.add(pid),
    get answersLost() {
      return answersLost;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
