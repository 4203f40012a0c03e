/**
 * Structured JSON logging for every KubeMom process.
 *
 * Logs go to stderr so that commands which print results (policy replay, eval)
 * keep stdout clean for machines. Level comes from KUBEMOM_LOG_LEVEL.
 */
import { pino, type Logger } from 'pino';
import { InputError } from './errors.js';

export type { Logger };

let root: Logger | undefined;

/** The levels KUBEMOM_LOG_LEVEL accepts (pino's). */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Refuses an unknown KUBEMOM_LOG_LEVEL at start, before anything logs. */
export function checkLogLevel(level: string | undefined = process.env.KUBEMOM_LOG_LEVEL): void {
  if (level === undefined || (LOG_LEVELS as readonly string[]).includes(level)) return;
  throw new InputError('KUBEMOM_LOG_LEVEL', `"${level}" is not a log level; accepted: ${LOG_LEVELS.join(', ')}`);
}

function createRoot(): Logger {
  return pino(
  {
    level: process.env.KUBEMOM_LOG_LEVEL ?? 'info',
    base: { pid: process.pid },
    messageKey: 'msg',
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  },
  pino.destination({ fd: 2, sync: true }),
  );
}

/** A child logger whose lines carry `component` (e.g. "sidecar", "shim"). */
export function logger(component: string): Logger {
  // Created on first use so that commands can set KUBEMOM_LOG_LEVEL before logging starts.
  root ??= createRoot();
  return root.child({ component });
}
