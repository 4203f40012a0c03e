/**
 * Decoding of QMP lines into typed messages, and encoding of commands. Pure: no I/O.
 *
 * Everything from the socket is untrusted: a line that is not JSON or not one of QMP's
 * message shapes becomes an `invalid` message with the reason, never an exception.
 */
import type { QmpEvent, QmpGreeting, QmpKnownEventName, QmpTimestamp } from './types.js';

/** One decoded line from QEMU. */
export type QmpMessage =
  | { readonly kind: 'greeting'; readonly greeting: QmpGreeting }
  | { readonly kind: 'return'; readonly id: unknown; readonly value: unknown }
  | { readonly kind: 'error'; readonly id: unknown; readonly errorClass: string; readonly desc: string }
  | { readonly kind: 'event'; readonly event: QmpEvent }
  | { readonly kind: 'invalid'; readonly reason: string };

type Json = Record<string, unknown>;

/** Names of the events that are delivered typed (see QmpKnownEventData). */
export const KNOWN_EVENTS: ReadonlySet<string> = new Set<QmpKnownEventName>(['STOP', 'RESUME', 'SHUTDOWN', 'BALLOON_CHANGE']);

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function hasOwn(o: Json, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, key);
}

/** Decodes one line. Never throws. */
export function decodeMessage(line: string): QmpMessage {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch (err) {
    return { kind: 'invalid', reason: `not JSON (${(err as Error).message})` };
  }
  if (!isObject(parsed)) return { kind: 'invalid', reason: 'not a JSON object' };
  if (hasOwn(parsed, 'return')) return { kind: 'return', id: parsed['id'], value: parsed['return'] };
  if (hasOwn(parsed, 'error')) {
    const e = parsed['error'];
    if (!isObject(e) || typeof e['class'] !== 'string' || typeof e['desc'] !== 'string') {
      return { kind: 'invalid', reason: 'error reply without string "class" and "desc"' };
    }
    return { kind: 'error', id: parsed['id'], errorClass: e['class'], desc: e['desc'] };
  }
  if (hasOwn(parsed, 'event')) return decodeEvent(parsed);
  if (hasOwn(parsed, 'QMP')) return decodeGreeting(parsed['QMP']);
  return { kind: 'invalid', reason: 'object has none of "return", "error", "event", "QMP"' };
}

function decodeGreeting(qmp: unknown): QmpMessage {
  if (!isObject(qmp)) return { kind: 'invalid', reason: 'greeting "QMP" is not an object' };
  const version = qmp['version'];
  const qemu = isObject(version) ? version['qemu'] : undefined;
  if (!isObject(version) || !isObject(qemu)) return { kind: 'invalid', reason: 'greeting without "version.qemu"' };
  const { major, minor, micro } = qemu;
  if (typeof major !== 'number' || typeof minor !== 'number' || typeof micro !== 'number') {
    return { kind: 'invalid', reason: 'greeting "version.qemu" without numeric major, minor, micro' };
  }
  const caps = qmp['capabilities'];
  if (!Array.isArray(caps) || !caps.every((c): c is string => typeof c === 'string')) {
    return { kind: 'invalid', reason: 'greeting "capabilities" is not a list of strings' };
  }
  const pkg = typeof version['package'] === 'string' ? version['package'] : '';
  return { kind: 'greeting', greeting: { version: { major, minor, micro, package: pkg }, capabilities: caps } };
}

function decodeEvent(msg: Json): QmpMessage {
  const name = msg['event'];
  if (typeof name !== 'string') return { kind: 'invalid', reason: 'event name is not a string' };
  const ts = msg['timestamp'];
  // QEMU always stamps events; a missing stamp is tolerated (zero) rather than losing the event.
  const timestamp: QmpTimestamp =
    isObject(ts) && typeof ts['seconds'] === 'number' && typeof ts['microseconds'] === 'number'
      ? { seconds: ts['seconds'], microseconds: ts['microseconds'] }
      : { seconds: 0, microseconds: 0 };
  const rawData = msg['data'];
  if (rawData !== undefined && !isObject(rawData)) return { kind: 'invalid', reason: `event ${name}: "data" is not an object` };
  const typed = typedEvent(name, rawData, timestamp);
  return { kind: 'event', event: typed ?? { event: name, data: rawData, timestamp, generic: true } };
}

/** The typed form of a known event, or undefined when the name is unknown or the payload has another shape. */
function typedEvent(name: string, data: Json | undefined, timestamp: QmpTimestamp): QmpEvent | undefined {
  switch (name as QmpKnownEventName) {
    case 'STOP':
      return { event: 'STOP', data: {}, timestamp };
    case 'RESUME':
      return { event: 'RESUME', data: {}, timestamp };
    case 'SHUTDOWN':
      if (data && typeof data['guest'] === 'boolean' && typeof data['reason'] === 'string') {
        return { event: 'SHUTDOWN', data: { guest: data['guest'], reason: data['reason'] }, timestamp };
      }
      return undefined;
    case 'BALLOON_CHANGE':
      if (data && typeof data['actual'] === 'number' && Number.isFinite(data['actual'])) {
        return { event: 'BALLOON_CHANGE', data: { actual: data['actual'] }, timestamp };
      }
      return undefined;
    default:
      return undefined;
  }
}

/** One command line to send: JSON plus "\n". */
export function encodeCommand(id: number, command: string, args?: Readonly<Record<string, unknown>>): string {
  return JSON.stringify(args === undefined ? { execute: command, id } : { execute: command, arguments: args, id }) + '\n';
}
