export type { ChartDef, RenderedChart } from "./charts.ts";
export { compareCharts, renderCompareCharts, renderSvg } from "./charts.ts";
export type { ReportOptions } from "./html.ts";
export { escapeHtml, renderCompareReport } from "./html.ts";
export type { DriverStats, SampleStats, SummaryColumn, SummaryTable, Watermarks } from "./stats.ts";
export {
  atomicAllocFailures,
  atomicFloor,
  driverStats,
  hostDrops,
  median,
  medianRefillSpacingMs,
  rtoCount,
  sampleStats,
  summaryTable,
  tQuantile975,
  watermarks,
} from "./stats.ts";
export { formatCompareTable, formatRunTable } from "./table.ts";
export { writeReportAtomic } from "./write.ts";
