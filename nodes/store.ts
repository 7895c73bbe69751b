/**
 * Versioned in-memory key-value store. A key only ever moves forward: an entry is replaced only by
 * a strictly higher version, so late or duplicate replication messages cannot roll it back.
 */

export interface Entry {
  value: unknown;
  version: number;
}

export class VersionedStore {
  private readonly map = new Map<string, Entry>();
  private highest = 0;

  get(key: string): Entry | undefined {
    return this.map.get(key);
  }

  /** Apply `(value, version)` if it is newer than what the key holds. Returns whether it applied. */
  apply(key: string, value: unknown, version: number): boolean {
    const cur = this.map.get(key);
    if (cur !== undefined && cur.version >= version) return false;
    this.map.set(key, { value, version });
    if (version > this.highest) this.highest = version;
    return true;
  }

  /**
   * Live iterator over the entries (a Map iterator): it sees keys added after it was created and
   * the current entry of every key, which is what an incremental catch-up snapshot relies on.
   */
  entries(): IterableIterator<[string, Entry]> {
    return this.map.entries();
  }

  /**
   * Drop every entry (POST /admin/reset between experiment steps). The highest version is kept, so
   * versions assigned or applied afterwards still only move forward.
   */
  clear(): number {
    const n = this.map.size;
    this.map.clear();
    return n;
  }

  get size(): number {
    return this.map.size;
  }

  /** Highest version ever applied (0 when empty). */
  get maxVersion(): number {
    return this.highest;
  }

  /**
   * `{ "<key>": { value, version } }`. A null-prototype object so a key like `__proto__` is an
   * ordinary own property and survives JSON.stringify.
   */
  toJSON(): Record<string, Entry> {
    const out = Object.create(null) as Record<string, Entry>;
    for (const [k, e] of this.map) out[k] = e;
    return out;
  }
}
