/**
 * Values by store id, for a restore. Store ids are usually dense (Mosquitto and we count
 * them from 1), so a plain array does the lookups, at a fraction of a Map's cost for the
 * millions of messages a large store holds; an id far past the array's end (which would
 * turn it into a slow dictionary) goes to a Map instead.
 */
export class StoreIdIndex<T> {
  readonly #dense: (T | undefined)[] = [];
  readonly #sparse = new Map<number, T>();

  set(storeId: number, value: T): void {
    if (storeId >= 0 && storeId < this.#dense.length + MAX_GAP) this.#dense[storeId] = value;
    else this.#sparse.set(storeId, value);
  }

  get(storeId: number): T | undefined {
    const value = storeId >= 0 && storeId < this.#dense.length ? this.#dense[storeId] : undefined;
    return value !== undefined || this.#sparse.size === 0 ? value : this.#sparse.get(storeId);
  }
}

/** Holes V8 tolerates past an array's end before it makes the array a dictionary. */
const MAX_GAP = 1024;
