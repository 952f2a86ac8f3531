import { createLogger, type Logger } from '../../src/logger.js';

/** Tests are silent unless LOG_LEVEL asks (LOG_LEVEL=warn npm test): a failing test's own output stands out. */
export function testLogger(): Logger {
  return createLogger({ level: process.env.LOG_LEVEL ?? 'silent', pretty: false });
}
