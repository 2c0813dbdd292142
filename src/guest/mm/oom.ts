/**
 * The OOM killer's choice of victim (mm/oom_kill.c): oom_badness per task and select_bad_process,
 * as Linux 3.2 and 6.1 write them. Only user tasks registered with Mm are candidates (kernel
 * threads are oom_unkillable_task); none is root, so 3.2's CAP_SYS_ADMIN bonus never applies.
 */
import type { MmTask } from "./task.ts";

/** OOM_SCORE_ADJ_MIN (include/linux/oom.h): a task with this oom_score_adj is never chosen. */
export const OOM_SCORE_ADJ_MIN = -1000;
/** OOM_SCORE_ADJ_MAX (include/linux/oom.h). */
export const OOM_SCORE_ADJ_MAX = 1000;
/**
 * PTRS_PER_PTE (arch/x86/include/asm/pgtable_64_types.h): one page-table page maps 512 pages, so a
 * footprint of n pages needs ceil(n / 512) PTE pages (mm->nr_ptes in 3.2; 6.1's mm_pgtables_bytes
 * also counts the PMD pages above them, 1/512 of that again, left out).
 */
export const PTRS_PER_PTE = 512;

export type OomRules = "3.2" | "6.1";

/** Page-table pages of a task: its footprint (resident and swapped) over PTRS_PER_PTE. */
export function nrPtes(t: MmTask): number {
  return Math.ceil(t.anonPages.length / PTRS_PER_PTE);
}

/**
 * 3.2 oom_badness: 0 for OOM_SCORE_ADJ_MIN, else (rss + nr_ptes + swapents) × 1000 / totalpages
 * (integer division) plus oom_score_adj, at least 1 and at most 1000.
 */
export function oomBadness32(t: MmTask, totalpages: number): number {
  if (t.oomScoreAdj === OOM_SCORE_ADJ_MIN) return 0;
  const points = Math.floor(((t.anonRss + nrPtes(t) + t.swapents) * 1000) / Math.max(totalpages, 1));
  const adjusted = points + t.oomScoreAdj;
  return adjusted <= 0 ? 1 : Math.min(adjusted, 1000);
}

/**
 * 6.1 oom_badness: LONG_MIN (here -Infinity) for OOM_SCORE_ADJ_MIN, else rss + swapents +
 * page-table pages plus oom_score_adj × (totalpages / 1000), the division an integer one.
 */
export function oomBadness61(t: MmTask, totalpages: number): number {
  if (t.oomScoreAdj === OOM_SCORE_ADJ_MIN) return Number.NEGATIVE_INFINITY;
  return t.anonRss + t.swapents + nrPtes(t) + t.oomScoreAdj * Math.floor(totalpages / 1000);
}

/**
 * select_bad_process over the live tasks in creation order (for_each_process). 3.2 starts from
 * chosen points 0 and takes a task only with more (`points > *ppoints`), so ties keep the first and
 * a badness of 0 is never chosen; 6.1's oom_evaluate_task starts from LONG_MIN and skips only
 * `points < chosen_points`, so ties go to the later task. Null: no killable task.
 */
export function selectBadProcess(
  tasks: readonly MmTask[],
  totalpages: number,
  rules: OomRules,
): MmTask | null {
  let victim: MmTask | null = null;
  let chosen = rules === "3.2" ? 0 : Number.NEGATIVE_INFINITY;
  for (const t of tasks) {
    if (t.killed) continue;
    if (rules === "3.2") {
      const points = oomBadness32(t, totalpages);
      if (points > chosen) {
        victim = t;
        chosen = points;
      }
    } else {
      const points = oomBadness61(t, totalpages);
      if (points !== Number.NEGATIVE_INFINITY && points >= chosen) {
        victim = t;
        chosen = points;
      }
    }
  }
  return victim;
}
