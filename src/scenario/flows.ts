/**
 * One entry per TCP flow, expanded from the sender groups, with each flow's reader decided: the
 * meaning of `reader: auto` (deal flows round-robin over the readers) is defined here, once.
 */
import type { Scenario, SenderGroup } from "./schema.ts";

export interface FlowSpec {
  /** Flow number, 0-based, in group order then position in the group. */
  id: number;
  /** Index of its group in network.senders. */
  group: number;
  /** Position inside the group. */
  index: number;
  /** When it opens: group start + index * stagger (ns). */
  start: number;
  /** Index of the reader in apps.readers that reads it. */
  reader: number;
  rtt: number;
  /** Sender access-link rate in bit/s; null when unlimited. */
  rate: number | null;
  cc: SenderGroup["cc"];
  hystart: boolean;
  initCwnd: number;
  flow: SenderGroup["flow"];
  loss: number;
}

export function expandFlows(s: Scenario): FlowSpec[] {
  const readerIndex = new Map(s.apps.readers.map((r, i) => [r.name, i]));
  const flows: FlowSpec[] = [];
  let dealt = 0;
  s.network.senders.forEach((g, group) => {
    for (let index = 0; index < g.count; index++) {
      const reader = g.reader === "auto" ? dealt++ % s.apps.readers.length : readerIndex.get(g.reader)!;
      flows.push({
        id: flows.length,
        group,
        index,
        start: g.start + index * g.stagger,
        reader,
        rtt: g.rtt,
        rate: g.rate,
        cc: g.cc,
        hystart: g.hystart,
        initCwnd: g.initCwnd,
        flow: g.flow,
        loss: g.loss,
      });
    }
  });
  return flows;
}
