/**
 * Child processes that cannot outlive the test run.
 *
 * Three layers, because a leaked broker on a random port breaks the next run in confusing
 * ways: tests stop what they start (t.after / after hooks); an 'exit' hook kills whatever
 * is still registered when the test file's process ends normally or by an uncaught error;
 * and on Linux each child is started under `setpriv --pdeathsig KILL`, so the kernel kills
 * it even when the test process itself is SIGKILLed (e.g. by the runner's timeout).
 * Temporary directories registered here are removed by the same 'exit' hook.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { accessSync, constants, rmSync } from 'node:fs';

const live = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of live) child.kill('SIGKILL');
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  });
}

/** A temporary directory removed when the process exits, if nobody removed it before. */
export function trackTempDir(dir: string): string {
  installExitHook();
  tempDirs.add(dir);
  return dir;
}

/** Removes a tracked temporary directory now. */
export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `setpriv` from util-linux, when this system has one that knows --pdeathsig. */
const setprivPath = ['/usr/bin/setpriv', '/bin/setpriv'].find(isExecutable) ?? null;

/** Spawns `command args` with the leak protections above; stdio defaults to pipes. */
export function spawnTracked(
  command: string,
  args: readonly string[],
  options: SpawnOptions = {},
): ChildProcess {
  installExitHook();
  const [file, argv] =
    setprivPath !== null && process.platform === 'linux'
      ? [setprivPath, ['--pdeathsig', 'KILL', command, ...args]]
      : [command, [...args]];
  const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  live.add(child);
  child.once('exit', () => live.delete(child));
  // A failed spawn emits 'error' and no 'exit'.
  child.once('error', () => live.delete(child));
  return child;
}

/** Resolves when the child has exited (at once if it already has). */
export function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, timeoutMs);
    const onExit = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

/** SIGTERM, then SIGKILL if the child is still there after `graceMs`; resolves once gone. */
export async function terminate(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  if (child.pid === undefined) return; // never started
  child.kill('SIGTERM');
  if (await waitForExit(child, graceMs)) return;
  child.kill('SIGKILL');
  await waitForExit(child, 5000);
}

/** Looks a program up on PATH (for tools outside the usual Debian locations). */
export function findOnPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir === '') continue;
    const candidate = `${dir}/${name}`;
    if (isExecutable(candidate)) return candidate;
  }
  return null;
}

export { isExecutable };
