import { createWebSocketInspector } from '@statelyai/inspect';
import type { InspectionEvent, MachineContext, Observer } from 'xstate';

/**
 * Live machines in the Stately inspector (https://stately.ai/inspect), off by default. The daemon
 * passes `inspect` to the runtimes when INSPECT / `--inspect` is on. With `serve`, a local bridge
 * (@statelyai/inspect/server) is started: open http://localhost:<port> in a browser to watch.
 */
export interface MachineInspectorOptions {
  /** Where the websocket bridge listens; default 8181 (8080 is the HTTP API's default). */
  port?: number;
  /** Start the local bridge in this process (default true); false to send to one already running. */
  serve?: boolean;
}

export interface MachineInspector {
  inspect: Observer<InspectionEvent>;
  url: string;
  stop(): void;
}

/** Signed and prepared transactions are large base64 blobs: the inspector shows that they exist, not their bytes. */
function sanitizeContext(context: MachineContext): MachineContext {
  const out: MachineContext = { ...context };
  for (const key of ['signed', 'prepared', 'factory', 'acceptContext']) {
    if (out[key] !== null && out[key] !== undefined) out[key] = `[${key}]`;
  }
  return out;
}

export async function createMachineInspector(opts: MachineInspectorOptions = {}): Promise<MachineInspector> {
  const port = opts.port ?? 8181;
  let server: { stop(): void } | undefined;
  if (opts.serve ?? true) {
    const { createInspectorServer } = await import('@statelyai/inspect/server');
    server = createInspectorServer({ port, autoOpen: false });
  }
  const url = `ws://localhost:${port}`;
  const inspector = createWebSocketInspector({ url, sanitizeContext });
  return {
    inspect: inspector.inspect,
    url,
    stop() {
      inspector.stop();
      server?.stop();
    },
  };
}
