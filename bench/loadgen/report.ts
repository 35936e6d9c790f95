/**
 * Turns the runs of a benchmark into the printed table: medians over rounds, ratios of ours
 * to each other broker, and beside every figure the CPU of the broker, of the generator and
 * of everything else on the machine, so a reader can tell who the bottleneck was.
 */
import type { BrokerName } from './brokers.ts';
import type { LoadgenResult } from './loadgen.ts';
import type { Metric, RunSettings, Scenario } from './scenarios.ts';

/** One measurement: its result, or why there is none. */
export type Outcome<R> =
  | { readonly kind: 'ok'; readonly result: R }
  | { readonly kind: 'failed'; readonly error: string }
  | { readonly kind: 'not-started'; readonly error: string };

export type RunOutcome = Outcome<LoadgenResult>;

export interface ScenarioRuns {
  readonly scenario: Scenario;
  readonly runs: ReadonlyMap<BrokerName, readonly RunOutcome[]>;
  /** The highest VmHWM (kB) of the broker's processes in this scenario. */
  readonly peakRssKb?: ReadonlyMap<BrokerName, number> | undefined;
}

/** `lost` of a run (0 where the mode has none); below 0: duplicates. */
export function lostOf(result: LoadgenResult): number {
  return result.kind === 'connections' ? 0 : result.lost;
}

export const megabytes = (kb: number): string => (kb / 1024).toFixed(1);

export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const upper = sorted[middle] ?? 0;
  return sorted.length % 2 === 1 ? upper : ((sorted[middle - 1] ?? upper) + upper) / 2;
}

/** CPU in percent of one core during the measured window; `other` is the rest of the machine. */
export interface CpuShares {
  readonly broker: number;
  readonly generator: number;
  readonly other: number | null;
}

export function cpuShares(result: LoadgenResult): CpuShares {
  const seconds = result.elapsed > 0 ? result.elapsed : 1;
  const other =
    result.kind === 'connections'
      ? null
      : Math.max(0, result.machineCpu - result.brokerCpu - result.generatorCpu);
  return {
    broker: (100 * result.brokerCpu) / seconds,
    generator: (100 * result.generatorCpu) / seconds,
    other: other === null ? null : (100 * other) / seconds,
  };
}

export function formatCpu(cpu: CpuShares): string {
  const parts = [cpu.broker, cpu.generator];
  if (cpu.other !== null) parts.push(cpu.other);
  return parts.map((value) => `${value.toFixed(0)}%`).join(' / ');
}

/** One progress line per run. */
export function formatRun(scenario: Scenario<string>, broker: string, outcome: RunOutcome): string {
  if (outcome.kind !== 'ok') {
    return outcome.kind === 'not-started'
      ? `${broker}: failed to start (${outcome.error})`
      : `${broker}: run failed (${outcome.error})`;
  }
  const figures = scenario.metrics
    .map((metric) => {
      const value = metric.value(outcome.result);
      return value === null ? `${metric.label} n/a` : `${metric.format(value)} ${metric.label}`;
    })
    .join(', ');
  const lost = lostOf(outcome.result);
  const loss =
    lost > 0 ? `, LOST ${String(lost)}` : lost < 0 ? `, ${String(-lost)} DUPLICATES` : '';
  return `${broker}: ${figures}${loss}; cpu broker/gen/other ${formatCpu(cpuShares(outcome.result))}`;
}

export interface Summary {
  readonly value: number | null;
  readonly cell: string;
}

function okResults(runs: readonly RunOutcome[]): LoadgenResult[] {
  const results: LoadgenResult[] = [];
  for (const run of runs) if (run.kind === 'ok') results.push(run.result);
  return results;
}

/** The median of `metric` over the runs, as a table cell noting losses and failed runs. */
export function summarize(metric: Metric, runs: readonly RunOutcome[]): Summary {
  const results = okResults(runs);
  const values: number[] = [];
  for (const result of results) {
    const value = metric.value(result);
    if (value !== null) values.push(value);
  }
  const value = median(values);
  if (value === null) {
    if (runs.some((run) => run.kind === 'not-started')) return { value, cell: 'failed to start' };
    return { value, cell: runs.length === 0 ? '-' : 'run failed' };
  }
  let cell = metric.format(value);
  // lost < 0: more deliveries than messages sent times subscribers (duplicates)
  const losses = results.map(lostOf);
  const lost = Math.max(0, ...losses);
  const extra = -Math.min(0, ...losses);
  if (lost > 0) cell += ` (lost ${String(lost)})`;
  if (extra > 0) cell += ` (${String(extra)} duplicates)`;
  if (values.length < runs.length)
    cell += ` (${String(values.length)}/${String(runs.length)} runs)`;
  return { value, cell };
}

/** Median CPU shares over the runs, as formatCpu writes them. */
export function summarizeCpu(runs: readonly RunOutcome[]): string {
  const shares = okResults(runs).map(cpuShares);
  if (shares.length === 0) return '';
  const others = shares.flatMap((share) => (share.other === null ? [] : [share.other]));
  return formatCpu({
    broker: median(shares.map((share) => share.broker)) ?? 0,
    generator: median(shares.map((share) => share.generator)) ?? 0,
    other: median(others),
  });
}

/** `ours / other` as "1.23x", or "-" when either is missing. */
export function ratio(ours: number | null, other: number | null): string {
  if (ours === null || other === null || other === 0) return '-';
  return `${(ours / other).toFixed(2)}x`;
}

/** A markdown table: the first `left` columns left aligned, the others right aligned. */
export function renderMarkdown(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  left = 2,
): string[] {
  const widths = header.map((title, column) =>
    Math.max(title.length, 3, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]): string =>
    `| ${cells
      .map((cell, column) => {
        const width = widths[column] ?? 0;
        return column < left ? cell.padEnd(width) : cell.padStart(width);
      })
      .join(' | ')} |`;
  const rule = `|${widths.map((width, column) => (column < left ? '-'.repeat(width + 2) : `${'-'.repeat(width + 1)}:`)).join('|')}|`;
  return [line(header), rule, ...rows.map(line)];
}

/** The markdown table plus the notes on failures below it. */
export function buildReport(
  scenarios: readonly ScenarioRuns[],
  brokers: readonly BrokerName[],
  settings: RunSettings,
): string[] {
  // ours / each other broker, in BROKER_NAMES order: the reference (Mosquitto 2.1) first
  const others = brokers.includes('ours') ? brokers.filter((name) => name !== 'ours') : [];
  const header = ['Scenario', 'Figure', ...brokers, ...others.map((name) => `ours/${name}`)];
  const rows: string[][] = [];
  const notes = new Set<string>();
  for (const { scenario, runs, peakRssKb } of scenarios) {
    scenario.metrics.forEach((metric, index) => {
      const summaries = new Map<BrokerName, Summary>();
      for (const name of brokers) summaries.set(name, summarize(metric, runs.get(name) ?? []));
      const ours = summaries.get('ours')?.value ?? null;
      rows.push([
        index === 0 ? scenario.title(settings) : '',
        `${metric.label}${metric.better === 'lower' ? ' (lower is better)' : ''}`,
        ...brokers.map((name) => summaries.get(name)?.cell ?? '-'),
        ...others.map((name) => ratio(ours, summaries.get(name)?.value ?? null)),
      ]);
    });
    rows.push([
      '',
      'CPU broker / generator / other',
      ...brokers.map((name) => summarizeCpu(runs.get(name) ?? [])),
      ...others.map(() => ''),
    ]);
    const peaks = scenarioPeaks(brokers, { scenario, runs, peakRssKb });
    rows.push([
      '',
      'broker peak RSS MB (lower is better)',
      ...brokers.map((name) => {
        const peak = peaks.get(name);
        return peak === undefined ? '' : megabytes(peak);
      }),
      ...others.map((name) => {
        const ours = peaks.get('ours');
        const other = peaks.get(name);
        return ours === undefined || other === undefined ? '' : ratio(ours, other);
      }),
    ]);
    for (const name of brokers) {
      for (const run of runs.get(name) ?? []) {
        if (run.kind === 'not-started') notes.add(`${name}: failed to start (${run.error})`);
        if (run.kind === 'failed') notes.add(`${name}, ${scenario.id}: run failed (${run.error})`);
      }
    }
  }
  return [...renderMarkdown(header, rows), '', ...notes];
}

/** Peak RSS per broker of one scenario (only brokers that ran it). */
function scenarioPeaks(
  brokers: readonly BrokerName[],
  runs: ScenarioRuns,
): ReadonlyMap<BrokerName, number> {
  const peaks = new Map<BrokerName, number>();
  for (const name of brokers) {
    const peak = runs.peakRssKb?.get(name);
    if (peak !== undefined && (runs.runs.get(name)?.length ?? 0) > 0) peaks.set(name, peak);
  }
  return peaks;
}

/** One table: each broker's peak RSS over the whole benchmark (all its processes). */
export function buildPeakReport(
  scenarios: readonly ScenarioRuns[],
  brokers: readonly BrokerName[],
): string[] {
  const rows: string[][] = [];
  for (const name of brokers) {
    let peak = 0;
    let where = '';
    for (const runs of scenarios) {
      const value = scenarioPeaks(brokers, runs).get(name);
      if (value !== undefined && value > peak) {
        peak = value;
        where = runs.scenario.id;
      }
    }
    if (peak > 0) rows.push([name, megabytes(peak), where]);
  }
  return renderMarkdown(['Broker', 'peak RSS MB, whole benchmark', 'in scenario'], rows, 1);
}
