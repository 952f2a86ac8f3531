import { pino, type Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level: string;
  /** undefined: pretty when stdout is a terminal, JSON otherwise. */
  pretty?: boolean | undefined;
}

/**
 * Paths pino blanks in every log line, wherever a careless caller passes one of these objects:
 * credentials must never reach logs.
 */
const REDACT_PATHS = [
  'token',
  'accessToken',
  'access_token',
  'clientSecret',
  'client_secret',
  'password',
  'privateKey',
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers["sec-websocket-protocol"]',
  '*.token',
  '*.accessToken',
  '*.clientSecret',
  '*.password',
  '*.privateKey',
  '*.authorization',
];

export function createLogger(opts: LoggerOptions): Logger {
  const pretty = opts.pretty ?? process.stdout.isTTY === true;
  return pino({
    level: opts.level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } } : {}),
  });
}
