import type { DemoGuests, DemoGuestsContext } from './demo.js';
export async function startRealGuests(_context: DemoGuestsContext, _out: NodeJS.WritableStream): Promise<DemoGuests> {
  throw new Error('not yet');
}
