/** What the benchmark ran on, printed above the table so figures can be compared honestly. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { MOSQUITTO_21_BINARY, MOSQUITTO_BINARY, OPEN_FILES_WANTED, REPO_ROOT } from './brokers.ts';

export interface MachineInfo {
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly kernel: string;
  readonly node: string;
  readonly mosquitto: string;
  readonly mosquitto21: string;
  readonly aedes: string;
  readonly ours: string;
  readonly loadAverage: readonly number[];
  /** Hard limit of open files: what brokers and generator can raise their soft limit to. */
  readonly openFilesLimit: number;
}

function packageVersion(path: string): string {
  try {
    const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
    if (typeof parsed === 'object' && parsed !== null && 'version' in parsed) {
      return String(parsed.version);
    }
  } catch {
    // reported as unknown below
  }
  return 'unknown';
}

function mosquittoVersion(binary = MOSQUITTO_BINARY): string {
  const run = spawnSync(binary, ['-h'], { encoding: 'utf8' });
  const match = /mosquitto version (\S+)/.exec(run.stdout);
  return match?.[1] ?? 'not installed';
}

function gitCommit(): string {
  const run = spawnSync('git', ['rev-parse', '--short', 'HEAD'], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
  });
  return run.status === 0 ? run.stdout.trim() : 'unknown';
}

function hardOpenFilesLimit(): number {
  try {
    const limits = readFileSync('/proc/self/limits', 'utf8');
    const match = /^Max open files\s+\S+\s+(\S+)/m.exec(limits);
    if (match?.[1] === 'unlimited') return Number.MAX_SAFE_INTEGER;
    return match?.[1] === undefined ? 1024 : Number(match[1]);
  } catch {
    return 1024;
  }
}

export function describeMachine(): MachineInfo {
  const cpuList = cpus();
  return {
    cpuModel: cpuList[0]?.model.trim() ?? 'unknown CPU',
    cores: cpuList.length,
    memoryGiB: totalmem() / 2 ** 30,
    kernel: release(),
    node: process.version,
    mosquitto: mosquittoVersion(),
    mosquitto21: mosquittoVersion(MOSQUITTO_21_BINARY),
    aedes: packageVersion(join(REPO_ROOT, 'node_modules', 'aedes', 'package.json')),
    ours: `${packageVersion(join(REPO_ROOT, 'package.json'))} (git ${gitCommit()})`,
    loadAverage: loadavg(),
    openFilesLimit: hardOpenFilesLimit(),
  };
}

export function formatMachine(info: MachineInfo): string[] {
  const load = info.loadAverage.map((value) => value.toFixed(2)).join(' ');
  return [
    `machine: ${info.cpuModel}, ${String(info.cores)} cores, ${info.memoryGiB.toFixed(1)} GiB, Linux ${info.kernel}`,
    `software: node ${info.node}, mosquitto-2.1 ${info.mosquitto21}, mosquitto ${info.mosquitto}, aedes ${info.aedes}, mosquitto-ts ${info.ours}`,
    `load average at start: ${load}; open files limit (hard): ${String(info.openFilesLimit)}`,
  ];
}

/**
 * Descriptors the brokers and the generator can have: OPEN_FILES_WANTED where a process may
 * raise its hard limit that far (root with CAP_SYS_RESOURCE: containers often drop it), else
 * the hard limit.
 */
export function openFilesAvailable(info: MachineInfo): number {
  const raise = spawnSync('/bin/sh', ['-c', `ulimit -n ${String(OPEN_FILES_WANTED)}`]);
  return raise.status === 0
    ? Math.max(info.openFilesLimit, OPEN_FILES_WANTED)
    : info.openFilesLimit;
}
