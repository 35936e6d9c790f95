/**
 * Command-line programs run by tests (Debian's mosquitto_pub / mosquitto_sub, and later our
 * own tools): output captured, a time limit on everything, never left running.
 */
import type { ChildProcess } from 'node:child_process';
import { findOnPath, spawnTracked, terminate, waitForExit } from './children.ts';

export interface CommandResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CommandOptions {
  /** Written to stdin, which is then closed. */
  readonly input?: string;
  /**
   * Run under `stdbuf -oL`: C programs fully buffer stdout into a pipe, so a line such as
   * mosquitto_sub's "Subscribed (mid: 1): 0" would only appear when the program exits.
   */
  readonly lineBuffered?: boolean;
}

const stdbufPath = findOnPath('stdbuf');

/** A program that is running; its output so far can be read and waited for. */
export class RunningCommand {
  private out = '';
  private err = '';
  private readonly listeners = new Set<() => void>();
  private spawnError: Error | null = null;

  constructor(
    readonly description: string,
    private readonly child: ChildProcess,
  ) {
    child.stdout?.setEncoding('utf8');
    child.stderr?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      this.out += chunk;
      this.notify();
    });
    child.stderr?.on('data', (chunk: string) => {
      this.err += chunk;
      this.notify();
    });
    child.once('error', (error) => {
      this.spawnError = error;
      this.notify();
    });
    child.once('exit', () => {
      this.notify();
    });
  }

  get stdout(): string {
    return this.out;
  }

  get stderr(): string {
    return this.err;
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** Resolves once stdout matches; rejects (with the output so far) on exit or timeout. */
  waitForStdout(pattern: RegExp, timeoutMs = 5000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (pattern.test(this.out)) {
          done();
          resolve();
        } else if (this.exited || this.spawnError !== null) {
          done();
          reject(new Error(this.describeFailure(`exited before printing ${String(pattern)}`)));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(this.describeFailure(`did not print ${String(pattern)} in ${timeoutMs} ms`)),
        );
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.listeners.delete(check);
      };
      this.listeners.add(check);
      check();
    });
  }

  /** Waits for the program to exit on its own; kills it and throws after the timeout. */
  async finished(timeoutMs = 5000): Promise<CommandResult> {
    if (!(await waitForExit(this.child, timeoutMs))) {
      await terminate(this.child, 500);
      throw new Error(this.describeFailure(`still running after ${timeoutMs} ms (killed)`));
    }
    if (this.spawnError !== null) throw new Error(this.describeFailure('could not be started'));
    // 'exit' can come before the last output; 'close' means the pipes are drained.
    await new Promise<void>((resolve) => {
      if (
        this.child.stdout?.readableEnded !== false &&
        this.child.stderr?.readableEnded !== false
      ) {
        resolve();
      } else {
        this.child.once('close', () => {
          resolve();
        });
      }
    });
    return {
      code: this.child.exitCode,
      signal: this.child.signalCode,
      stdout: this.out,
      stderr: this.err,
    };
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** Ends the program if it is still running (SIGTERM, then SIGKILL). */
  stop(): Promise<void> {
    return terminate(this.child, 1000);
  }

  private describeFailure(what: string): string {
    const parts = [`${this.description}: ${what}`];
    if (this.spawnError !== null) parts.push(`spawn error: ${this.spawnError.message}`);
    if (this.exited) {
      parts.push(`exit: ${String(this.child.exitCode ?? this.child.signalCode)}`);
    }
    parts.push(`--- stdout ---\n${this.out}`, `--- stderr ---\n${this.err}`);
    return parts.join('\n');
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }
}

/** Starts `file args`; the caller waits for output, for the exit, or stops it. */
export function startCommand(
  file: string,
  args: readonly string[],
  options: CommandOptions = {},
): RunningCommand {
  const [command, argv] =
    options.lineBuffered === true && stdbufPath !== null
      ? [stdbufPath, ['-oL', file, ...args]]
      : [file, [...args]];
  const child = spawnTracked(command, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin?.on('error', () => {
    // The program may exit without reading its input (EPIPE): its exit code tells the story.
  });
  child.stdin?.end(options.input ?? '');
  return new RunningCommand([file, ...args].join(' '), child);
}

/** Runs `file args` to completion (killed and reported after `timeoutMs`). */
export function runCommand(
  file: string,
  args: readonly string[],
  options: CommandOptions & { readonly timeoutMs?: number } = {},
): Promise<CommandResult> {
  return startCommand(file, args, options).finished(options.timeoutMs ?? 5000);
}
