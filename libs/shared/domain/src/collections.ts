/** One item per key — the last one given for it — in the order the keys first appeared. */
export function lastPerKey<T>(items: readonly T[], keyOf: (item: T) => string): T[] {
  return [...new Map(items.map((item) => [keyOf(item), item])).values()];
}
