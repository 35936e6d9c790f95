/**
 * Runs a command-line tool (ours from bin/, or Debian's) with its output kept as bytes:
 * payloads are binary and the comparisons are byte for byte. Debian's tools run under
 * `stdbuf -oL` (2.0.11 fully buffers stdout into a pipe), ours as they are.
 */
import { Buffer } from 'node:buffer';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { findOnPath, spawnTracked, terminate, waitForExit } from '../helpers/children.ts';
import { requiredPath } from '../helpers/mosquitto.ts';
import { repoRoot } from '../helpers/process.ts';

export type ToolName = 'mosquitto_pub' | 'mosquitto_sub' | 'mosquitto_rr' | 'mosquitto_ctrl';
export type Implementation = 'ours' | 'real';

export interface ToolResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: Buffer;
  readonly stderr: string;
}

export interface ToolOptions {
  readonly input?: Buffer | string;
  /** For 'real': another build of the tool than Debian's (e.g. /work/ref/m2022/bin/...). */
  readonly path?: string;
  readonly env?: NodeJS.ProcessEnv;
}

const stdbuf = findOnPath('stdbuf');

export class ToolProcess {
  private readonly out: Buffer[] = [];
  private readonly err: Buffer[] = [];
  private readonly listeners = new Set<() => void>();
  private closed = false;

  constructor(
    readonly description: string,
    private readonly child: ChildProcess,
  ) {
    child.stdout?.on('data', (chunk: Buffer) => {
      this.out.push(chunk);
      this.notify();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      this.err.push(chunk);
      this.notify();
    });
    child.once('close', () => {
      this.closed = true;
      this.notify();
    });
  }

  get stdout(): Buffer {
    return Buffer.concat(this.out);
  }

  get stderr(): string {
    return Buffer.concat(this.err).toString('utf8');
  }

  /** Resolves once stdout matches; rejects if the tool exits first or on timeout. */
  waitForStdout(pattern: RegExp, timeoutMs = 8000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners.delete(check);
        reject(
          new Error(
            `${this.description}: no ${String(pattern)} in ${timeoutMs} ms\n${this.report()}`,
          ),
        );
      }, timeoutMs);
      const check = (): void => {
        if (pattern.test(this.stdout.toString('latin1'))) {
          clearTimeout(timer);
          this.listeners.delete(check);
          resolve();
        } else if (this.closed) {
          clearTimeout(timer);
          this.listeners.delete(check);
          reject(
            new Error(`${this.description}: exited before ${String(pattern)}\n${this.report()}`),
          );
        }
      };
      this.listeners.add(check);
      check();
    });
  }

  /** Waits for the exit (killing the tool after `timeoutMs`) and for all output. */
  async finished(timeoutMs = 8000): Promise<ToolResult> {
    if (!(await waitForExit(this.child, timeoutMs))) {
      await terminate(this.child, 500);
      throw new Error(`${this.description}: still running after ${timeoutMs} ms\n${this.report()}`);
    }
    if (!this.closed) {
      await new Promise<void>((resolve) => {
        this.listeners.add(() => {
          if (this.closed) resolve();
        });
      });
    }
    return {
      code: this.child.exitCode,
      signal: this.child.signalCode,
      stdout: this.stdout,
      stderr: this.stderr,
    };
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  stop(): Promise<void> {
    return terminate(this.child, 1000);
  }

  private report(): string {
    return `--- stdout ---\n${this.stdout.toString('utf8')}\n--- stderr ---\n${this.stderr}`;
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }
}

/** Starts our tool or Debian's with `args`. */
export function startTool(
  implementation: Implementation,
  tool: ToolName,
  args: readonly string[],
  options: ToolOptions = {},
): ToolProcess {
  let command: string;
  let argv: string[];
  if (implementation === 'ours') {
    // As a user runs it: through its shebang line, which drops NODE_EXTRA_CA_CERTS.
    command = join(repoRoot, 'bin', tool);
    argv = [...args];
  } else if (stdbuf !== null) {
    command = stdbuf;
    argv = ['-oL', options.path ?? requiredPath(tool), ...args];
  } else {
    command = options.path ?? requiredPath(tool);
    argv = [...args];
  }
  const child = spawnTracked(command, argv, {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: options.env ?? { ...process.env, HOME: '/nonexistent', XDG_CONFIG_HOME: '/nonexistent' },
  });
  child.stdin?.on('error', () => undefined);
  child.stdin?.end(options.input ?? '');
  return new ToolProcess(`${implementation} ${tool} ${args.join(' ')}`, child);
}

export function runTool(
  implementation: Implementation,
  tool: ToolName,
  args: readonly string[],
  options: ToolOptions & { readonly timeoutMs?: number } = {},
): Promise<ToolResult> {
  return startTool(implementation, tool, args, options).finished(options.timeoutMs ?? 8000);
}

/**
 * The differences between Debian's 2.0.11 tools and the 2.0.22 behaviour we follow,
 * erased from both outputs before comparing (mosquitto-features.md §3.17). Each rule is
 * one row of that table:
 * - 2.0.14: a client without an id prints as `null`, not glibc's `(null)`;
 * - 2.0.13: %j's timestamp had a stray `Z` (and timestamps differ anyway);
 * - the version number in --help and --version.
 * Generated client ids (broker-assigned auto-<uuid>, v3.1's mosq-<18>) are also erased.
 */
export function normalise(text: string): string {
  return text
    .replace(/Client \(null\)/g, 'Client null')
    .replace(/auto-[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}/g, 'auto-<id>')
    .replace(/mosq-[A-Za-z0-9]{18}/g, 'mosq-<id>')
    .replace(/"tst":(\s*)"[^"]*"/g, '"tst":$1"<time>"')
    .replace(
      /version 2\.0\.\d+ running on libmosquitto 2\.0\.\d+/g,
      'version 2.0.x running on libmosquitto 2.0.x',
    );
}
