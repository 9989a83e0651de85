/** Structured JSON logs (pino). One root logger; components take a child. */
import { pino, stdTimeFunctions, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'floodlight' },
    timestamp: stdTimeFunctions.isoTime,
  });
}
