/** Imported by worker-probe.ts: its own import.meta.url, and an error thrown on a known line. */
export const depUrl = import.meta.url;

export function fail(): never {
  throw new Error("thrown in worker-probe-dep.ts");
}
