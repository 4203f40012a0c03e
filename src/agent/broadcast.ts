/**
 * Fan-out of stats samples to any number of streams, with bounded memory per stream.
 *
 * A subscriber gets the latest sample first, then every new one. A stream that
 * cannot keep up (its transport reports backpressure and more than `maxQueued`
 * samples wait behind it) is dropped, never buffered without bound: one stuck
 * consumer must not grow the sidecar's memory.
 */

/** Where a subscriber's samples go: a gRPC server stream fits this shape. */
export interface SampleSink<T> {
  /** Returns false when the transport wants the writer to wait for 'drain'. */
  write(sample: T): boolean;
  once(event: 'drain', listener: () => void): unknown;
  removeListener(event: 'drain', listener: () => void): unknown;
}

export interface Subscription {
  /** Stops delivering to this sink. */
  close(): void;
}

interface Subscriber<T> {
  sink: SampleSink<T>;
  queue: T[];
  blocked: boolean;
  onDrain: () => void;
  onDrop: (queued: number) => void;
}

export class Broadcast<T> {
  private latestSample: T | undefined;
  private readonly subscribers = new Set<Subscriber<T>>();

  constructor(
    /** Samples a blocked stream may have waiting before it is dropped. */
    private readonly maxQueued = 16,
  ) {}

  get latest(): T | undefined {
    return this.latestSample;
  }

  get size(): number {
    return this.subscribers.size;
  }

  /**
   * Adds a sink. `onDrop` is called (once) when the sink is dropped for being too
   * slow; the caller ends the stream there.
   */
  subscribe(sink: SampleSink<T>, onDrop: (queued: number) => void): Subscription {
    const sub: Subscriber<T> = {
      sink,
      queue: [],
      blocked: false,
      onDrain: () => this.flush(sub),
      onDrop,
    };
    this.subscribers.add(sub);
    if (this.latestSample !== undefined) this.deliver(sub, this.latestSample);
    return { close: () => this.remove(sub) };
  }

  /** Records a sample as the latest and sends it to every subscriber. */
  publish(sample: T): void {
    this.latestSample = sample;
    for (const sub of [...this.subscribers]) this.deliver(sub, sample);
  }

  /** Drops every subscriber without calling onDrop (the owner is closing). */
  clear(): void {
    for (const sub of [...this.subscribers]) this.remove(sub);
  }

  private deliver(sub: Subscriber<T>, sample: T): void {
    if (sub.blocked) {
      sub.queue.push(sample);
      if (sub.queue.length > this.maxQueued) {
        const queued = sub.queue.length;
        this.remove(sub);
        sub.onDrop(queued);
      }
      return;
    }
    if (!sub.sink.write(sample)) {
      sub.blocked = true;
      sub.sink.once('drain', sub.onDrain);
    }
  }

  private flush(sub: Subscriber<T>): void {
    if (!this.subscribers.has(sub)) return;
    sub.blocked = false;
    while (sub.queue.length > 0 && !sub.blocked) {
      const next = sub.queue.shift() as T;
      if (!sub.sink.write(next)) {
        sub.blocked = true;
        sub.sink.once('drain', sub.onDrain);
      }
    }
  }

  private remove(sub: Subscriber<T>): void {
    if (!this.subscribers.delete(sub)) return;
    sub.sink.removeListener('drain', sub.onDrain);
    sub.queue.length = 0;
  }
}
