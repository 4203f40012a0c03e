/**
 * How long a test waits for an event. Tests wait on events, never on the clock: this deadline only bounds how long
 * a broken build hangs. It is generous for a loaded 2-core machine (the suite shares it with builds, benchmarks and
 * real guests), where the events awaited take well under a second when the machine is idle. Speed is measured
 * in bench/, as ratios against a baseline in the same run.
 */
export const EVENT_DEADLINE_MS = 60_000;
