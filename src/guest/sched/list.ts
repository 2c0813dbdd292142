/**
 * list_del for the model's array-backed lists (poll lists, wait queues, worklists): removes `item`
 * keeping the others' order, in place. Array.prototype.splice would allocate the array of removed
 * elements on every call, and these run per NAPI poll and per timed-out wait.
 */
export function listDel<T>(list: T[], item: T): boolean {
  const i = list.indexOf(item);
  if (i < 0) return false;
  const last = list.length - 1;
  for (let j = i; j < last; j++) list[j] = list[j + 1]!;
  list.length = last;
  return true;
}
