/**
 * Reading V8 heap snapshots (`.heapsnapshot` JSON, as written by `--heapsnapshot-signal`):
 * live bytes and object counts per constructor, and the difference between two snapshots.
 * A snapshot is taken after a full GC, so what it holds is live: growth between two
 * snapshots is retained memory, not garbage the collector has not reached yet.
 */
import { readFileSync } from 'node:fs';

export interface HeapClass {
  /** `<node type>:<constructor or name>`, e.g. `object:Timeout`, `string:(string)`. */
  key: string;
  count: number;
  selfBytes: number;
}

interface SnapshotJson {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/** Live objects of a snapshot grouped by type and name, with the heap's total. */
export function summarizeHeapSnapshot(file: string): { totalBytes: number; classes: Map<string, HeapClass> } {
  const json = JSON.parse(readFileSync(file, 'utf8')) as SnapshotJson;
  const fields = json.snapshot.meta.node_fields;
  const types = json.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const classes = new Map<string, HeapClass>();
  let totalBytes = 0;
  for (let i = 0; i < json.nodes.length; i += width) {
    const type = types[json.nodes[i + typeAt]!] ?? '?';
    // Strings and code are grouped by type only: their "name" is their content.
    const name = type === 'object' || type === 'closure' || type === 'native' ? json.strings[json.nodes[i + nameAt]!] ?? '?' : `(${type})`;
    const key = `${type}:${name}`;
    const size = json.nodes[i + sizeAt]!;
    totalBytes += size;
    const entry = classes.get(key) ?? { key, count: 0, selfBytes: 0 };
    entry.count++;
    entry.selfBytes += size;
    classes.set(key, entry);
  }
  return { totalBytes, classes };
}

/** Classes whose live bytes changed most between two snapshots, largest growth first. */
export function diffHeapSnapshots(before: Map<string, HeapClass>, after: Map<string, HeapClass>, top = 15): { key: string; countDelta: number; bytesDelta: number }[] {
  const keys = new Set([...before.keys(), ...after.keys()]);
  const rows = [...keys].map((key) => ({
    key,
    countDelta: (after.get(key)?.count ?? 0) - (before.get(key)?.count ?? 0),
    bytesDelta: (after.get(key)?.selfBytes ?? 0) - (before.get(key)?.selfBytes ?? 0),
  }));
  return rows.sort((a, b) => Math.abs(b.bytesDelta) - Math.abs(a.bytesDelta)).slice(0, top);
}
