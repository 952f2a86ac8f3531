import { WebSocket } from 'ws';
import { treasuryUpdateFormat } from '../../src/ledger/read-client.js';
import { websocketUrl } from '../../src/ledger/updates-socket.js';

/** A /v2/updates frame as the benches read it: only which kind of update it is and its offset. */
export interface UpdateFrame {
  update?: { Transaction?: { value: { offset: number } }; OffsetCheckpoint?: { value: { offset: number } } };
}

/**
 * The treasury's /v2/updates websocket from the ledger's start, with the update format ingestion
 * asks for; the request is sent as soon as the socket opens (then `onOpen`).
 */
export function openTreasuryStream(o: { url: string; token: string; party: string }, onOpen?: () => void): WebSocket {
  const ws = new WebSocket(websocketUrl(o.url, '/v2/updates'), [`jwt.token.${o.token}`, 'daml.ws.auth'], { perMessageDeflate: false });
  ws.on('open', () => {
    onOpen?.();
    ws.send(JSON.stringify({ beginExclusive: 0, updateFormat: treasuryUpdateFormat(o.party) }));
  });
  return ws;
}

/** The frame's offset; undefined when it is not an update (an error frame). */
export function frameOffset(el: UpdateFrame): number | undefined {
  return (el.update?.Transaction ?? el.update?.OffsetCheckpoint)?.value.offset;
}
