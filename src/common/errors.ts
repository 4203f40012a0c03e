/**
 * Errors caused by the caller's input, with a message that names the field and what is accepted, so a VM owner can
 * fix the VMI from its events alone. Pure: how an error reaches the caller (a gRPC status, an exit code) is decided at
 * that edge (src/hook-sidecar/callbacks.ts, src/cli/exit.ts).
 */
export class InputError extends Error {
  constructor(
    /** The offending field, e.g. `vmi.metadata.annotations["kubemom.io/priority"]`. */
    readonly field: string,
    /** What is wrong and what is accepted. */
    readonly problem: string,
  ) {
    super(`${field}: ${problem}`);
    this.name = 'InputError';
  }
}

/** Input larger than we are willing to process. */
export class InputTooLargeError extends InputError {
  constructor(field: string, sizeBytes: number, limitBytes: number) {
    super(field, `is ${sizeBytes} bytes; at most ${limitBytes} bytes are accepted`);
    this.name = 'InputTooLargeError';
  }
}

/**
 * The one shape of a value parser's result (a quantity, an IO limit list, a CPU amount): the value, or what is wrong
 * with it and what is accepted. A value parser does not know which field it reads; its caller does, and turns an
 * error into an InputError naming the field (valueOf).
 */
export type Parsed<T> = { value: T } | { error: string };

/** The parsed value, or an InputError naming `field` (with `hint` appended to the problem, e.g. what the field accepts). */
export function valueOf<T>(field: string, parsed: Parsed<T>, hint = ''): T {
  if ('error' in parsed) throw new InputError(field, `${parsed.error}${hint}`);
  return parsed.value;
}
