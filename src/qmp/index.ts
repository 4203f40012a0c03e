/** The QMP client: public surface. See docs/qmp.md. */
export { QmpClient, type QmpClientOptions, type QmpClientState, type QmpClientEvents, type QmpClientStats } from './client.js';
export * from './errors.js';
export type * from './types.js';
export { queryStatus, queryBalloon, balloon, qomList, qomGet, qomSet, queryBlock, blockSetIoThrottle } from './commands.js';
export { backoffDelay, resolveBackoff, type BackoffOptions, type ResolvedBackoff } from './backoff.js';
