import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { WebSocketServer, type WebSocket } from 'ws';
import { treasuryUpdateFormat } from '../../src/ledger/read-client.js';
import { frameOffset, openTreasuryStream, type UpdateFrame } from './treasury-stream.js';

/**
 * The ledger "on another machine", for bench:ingest: reads the treasury's /v2/updates stream from
 * the ledger double once, keeps every frame's text, and then serves that stream to websocket
 * clients without building or serialising anything, so the ledger's share of this machine's cores
 * is the socket writes alone (a validator runs on its own hardware). Only the bench's request is
 * served (the same update format, any beginExclusive); every HTTP call is passed to the double.
 * Prints one JSON line {url, frames} when ready.
 */
const { values } = parseArgs({
  options: { url: { type: 'string' }, token: { type: 'string' }, party: { type: 'string' }, 'ledger-end': { type: 'string' } },
});
const doubleUrl = new URL(values.url!);
const ledgerEnd = Number(values['ledger-end']);
const format = JSON.stringify(treasuryUpdateFormat(values.party!));

interface Frame {
  offset: number;
  text: Buffer;
}

function record(): Promise<Frame[]> {
  return new Promise((resolve, reject) => {
    const frames: Frame[] = [];
    const ws = openTreasuryStream({ url: values.url!, token: values.token!, party: values.party! });
    ws.on('message', (data: Buffer) => {
      const offset = frameOffset(JSON.parse(data.toString()) as UpdateFrame);
      if (offset === undefined) {
        reject(new Error(`the double sent a frame that is not an update: ${data.toString().slice(0, 200)}`));
        return;
      }
      frames.push({ offset, text: data });
      if (offset >= ledgerEnd) {
        ws.close();
        resolve(frames);
      }
    });
    ws.on('error', reject);
  });
}

const frames = await record();

/** Above this much unsent data a stream waits for the client to read. */
const HIGH_WATER_MARK = 1 << 20;

async function replay(ws: WebSocket, beginExclusive: number): Promise<void> {
  for (const f of frames) {
    if (f.offset <= beginExclusive) continue;
    while (ws.bufferedAmount > HIGH_WATER_MARK && ws.readyState === ws.OPEN) await new Promise((r) => setTimeout(r, 1));
    if (ws.readyState !== ws.OPEN) return;
    ws.send(f.text, { binary: false });
  }
  // An open-ended stream stays open after the ledger end, as the double's does.
}

const server = createServer((req, res) => {
  // Everything but the stream is the double's: pruning offsets, ledger end, …
  const upstream = httpRequest(
    { host: doubleUrl.hostname, port: doubleUrl.port, path: req.url, method: req.method, headers: req.headers },
    (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    },
  );
  upstream.on('error', (e) => res.destroy(e));
  req.pipe(upstream);
});
const wss = new WebSocketServer({ server, path: '/v2/updates', perMessageDeflate: false, handleProtocols: () => 'daml.ws.auth' });
wss.on('connection', (ws) => {
  ws.once('message', (data: Buffer) => {
    const req = JSON.parse(data.toString()) as { beginExclusive?: number; updateFormat?: unknown };
    if (JSON.stringify(req.updateFormat) !== format || typeof req.beginExclusive !== 'number') {
      ws.close(1008, 'the replay serves only the recorded request');
      return;
    }
    void replay(ws, req.beginExclusive);
  });
});
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}`, frames: frames.length })}\n`);
});
const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.resume();
