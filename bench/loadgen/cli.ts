/** Command-line parsing shared by the benchmarks. */

/** A bad command line: the message goes to stderr above the usage text. */
export class UsageError extends Error {}

/** A comma-separated list of names out of `allowed`, deduplicated, in the given order. */
export function parseList<T extends string>(
  text: string,
  allowed: readonly T[],
  what: string,
): T[] {
  const items = text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
  const chosen: T[] = [];
  for (const item of items) {
    const known = allowed.find((name) => name === item);
    if (known === undefined)
      throw new UsageError(`unknown ${what} "${item}" (known: ${allowed.join(', ')})`);
    if (!chosen.includes(known)) chosen.push(known);
  }
  if (chosen.length === 0) throw new UsageError(`no ${what} given`);
  return chosen;
}

/** The number of option `--name`, `fallback` when not given; at least `min`. */
export function parseNumber(
  text: string | undefined,
  fallback: number,
  name: string,
  min: number,
): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < min)
    throw new UsageError(`--${name} must be a number >= ${String(min)}`);
  return value;
}
