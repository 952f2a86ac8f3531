import { createLogger, type Logger } from '../../src/logger.js';

/** Tests log only problems unless LOG_LEVEL asks for more. */
export function testLogger(): Logger {
  return createLogger({ level: process.env.LOG_LEVEL ?? 'warn', pretty: false });
}
