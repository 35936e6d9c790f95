/**
 * Values by store id, for a restore. Store ids are usually dense (Mosquitto and we count
 * them from 1), so a plain array does the lookups, at a fraction of a Map's cost for the
 * millions of messages a large store holds; sparse ids fall back to a Map.
 */
export class StoreIdIndex<T> {
  readonly #dense: (T | undefined)[] = [];
  readonly #sparse = new Map<number, T>();
  readonly #denseLimit: number;

  /** `expected`: about how many values will be set (ids up to 4x that stay dense). */
  constructor(expected: number) {
    this.#denseLimit = Math.max(1024, expected * 4);
  }

  set(storeId: number, value: T): void {
    if (storeId >= 0 && storeId < this.#denseLimit) this.#dense[storeId] = value;
    else this.#sparse.set(storeId, value);
  }

  get(storeId: number): T | undefined {
    return storeId >= 0 && storeId < this.#denseLimit
      ? this.#dense[storeId]
      : this.#sparse.get(storeId);
  }
}
