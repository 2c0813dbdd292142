/**
 * list_del for the model's array-backed lists (poll lists, wait queues, worklists): removes `item`
 * keeping the others' order, in place. Array.prototype.splice would allocate the array of removed
 * elements on every call, and these run per NAPI poll and per timed-out wait; pop() keeps the backing
 * store (see listClear).
 */
export function listDel<T>(list: T[], item: T): boolean {
  const i = list.indexOf(item);
  if (i < 0) return false;
  const last = list.length - 1;
  for (let j = i; j < last; j++) list[j] = list[j + 1]!;
  list.pop();
  return true;
}

/**
 * Empties an array-backed list in place, keeping its backing store: V8 drops the store when
 * `length` is set to 0 (a smaller length may trim it too), so the next push would allocate a new
 * one, about 150 bytes per wait queue emptied by a wake-up. pop() keeps it.
 */
export function listClear<T>(list: T[]): void {
  while (list.length > 0) list.pop();
}
