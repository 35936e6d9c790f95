/**
 * A broker running as a separate process on a free 127.0.0.1 port with a temporary config:
 * our `bin/mosquitto` here, Debian's `/usr/sbin/mosquitto` in mosquitto.ts. Both have the
 * same interface, so a test can run `for (const target of [ourBroker, realMosquitto])`.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { removeTempDir, spawnTracked, terminate, trackTempDir } from './children.ts';

/** The repository root: this file runs as dist/test/helpers/process.js. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

export type BrokerKind = 'ours' | 'mosquitto';

export interface BrokerStartOptions {
  /** Lines appended to the config after `listener <port> 127.0.0.1` / `allow_anonymous`. */
  readonly config?: readonly string[];
  /** Writes `allow_anonymous true` unless false (then nothing is written). */
  readonly allowAnonymous?: boolean;
  /** Files written into the broker's temporary directory before it starts. */
  readonly files?: Readonly<Record<string, string>>;
  /** Extra command-line arguments (after `-c <config>`), e.g. ['-v']. */
  readonly args?: readonly string[];
  readonly startTimeoutMs?: number;
}

export interface RunningBroker {
  readonly kind: BrokerKind;
  /** For test names and messages: 'ours' or 'mosquitto 2.0.11'. */
  readonly label: string;
  readonly host: string;
  readonly port: number;
  /** The temporary directory holding the config and `files`; `{dir}` in config lines. */
  readonly dir: string;
  readonly configPath: string;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** True once the process has exited (on its own or by stop()). */
  readonly exited: boolean;
  /** The broker's process id (for /proc and resource checks). */
  readonly pid: number | undefined;
  /** The exit code once it has exited by itself (null while running or if signalled). */
  readonly exitCode: number | null;
  /** Sends a signal to the broker process (SIGHUP to reload, SIGUSR2 to dump, ...). */
  signal(name: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL; removes the temporary directory. Safe to call twice. */
  stop(): Promise<void>;
}

export interface BrokerTarget {
  readonly kind: BrokerKind;
  readonly label: string;
  start(options?: BrokerStartOptions): Promise<RunningBroker>;
}

/** What a broker process is: how to start it for a given config file. */
export interface BrokerCommand {
  readonly kind: BrokerKind;
  readonly label: string;
  readonly command: string;
  readonly args: (configPath: string) => readonly string[];
  /** Config lines written before the test's own lines. */
  readonly preamble?: readonly string[];
}

/** Thrown when a broker process does not come up; the message carries its output. */
export class BrokerStartError extends Error {
  constructor(
    message: string,
    readonly output: string,
  ) {
    super(output.trim() === '' ? message : `${message}\n--- broker output ---\n${output.trim()}`);
    this.name = 'BrokerStartError';
  }
}

/** A port that was free a moment ago (the kernel's choice for port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => {
        resolvePort(port);
      });
    });
  });
}

function canConnect(port: number, host: string): Promise<boolean> {
  return new Promise((resolveProbe) => {
    const socket = createConnection({ port, host });
    socket.once('connect', () => {
      socket.destroy();
      resolveProbe(true);
    });
    socket.once('error', () => {
      socket.destroy();
      resolveProbe(false);
    });
  });
}

class SpawnedBroker implements RunningBroker {
  readonly host = '127.0.0.1';
  private readonly chunks: string[] = [];
  private stopping: Promise<void> | null = null;

  constructor(
    readonly kind: BrokerKind,
    readonly label: string,
    readonly port: number,
    readonly dir: string,
    readonly configPath: string,
    readonly child: ChildProcess,
  ) {
    const collect = (chunk: Buffer): void => {
      this.chunks.push(chunk.toString('utf8'));
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
  }

  output(): string {
    return this.chunks.join('');
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get exitCode(): number | null {
    return this.child.exitCode;
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  signal(name: NodeJS.Signals): void {
    this.child.kill(name);
  }

  describeExit(): string {
    const { exitCode, signalCode } = this.child;
    return signalCode !== null ? `killed by ${signalCode}` : `exit code ${String(exitCode)}`;
  }

  stop(): Promise<void> {
    this.stopping ??= terminate(this.child).then(() => {
      removeTempDir(this.dir);
    });
    return this.stopping;
  }
}

/** Config file text: listener, anonymous access, then the test's own lines. */
export function configText(
  port: number,
  dir: string,
  preamble: readonly string[],
  options: BrokerStartOptions,
): string {
  const lines = [...preamble, `listener ${port} 127.0.0.1`];
  if (options.allowAnonymous ?? true) lines.push('allow_anonymous true');
  lines.push(...(options.config ?? []).map((line) => line.replaceAll('{dir}', dir)));
  return lines.join('\n') + '\n';
}

async function startOnce(
  spec: BrokerCommand,
  options: BrokerStartOptions,
): Promise<SpawnedBroker | 'port-taken'> {
  const dir = trackTempDir(mkdtempSync(join(tmpdir(), `mosquitto-ts-${spec.kind}-`)));
  const port = await freePort();
  for (const [name, content] of Object.entries(options.files ?? {})) {
    writeFileSync(join(dir, name), content.replaceAll('{dir}', dir));
  }
  const configPath = join(dir, 'mosquitto.conf');
  writeFileSync(configPath, configText(port, dir, spec.preamble ?? [], options));
  const child = spawnTracked(spec.command, [...spec.args(configPath), ...(options.args ?? [])], {
    cwd: repoRoot,
  });
  const broker = new SpawnedBroker(spec.kind, spec.label, port, dir, configPath, child);
  // Kept in an object: the 'error' event assigns it behind TypeScript's back.
  const spawnFailure: { error: Error | null } = { error: null };
  child.once('error', (error) => {
    spawnFailure.error = error;
  });
  const gone = (): boolean => spawnFailure.error !== null || broker.exited;

  const deadline = Date.now() + (options.startTimeoutMs ?? 10_000);
  for (;;) {
    if (gone()) {
      await broker.stop();
      const output = broker.output();
      if (/address already in use/i.test(output)) return 'port-taken';
      const why =
        spawnFailure.error !== null
          ? `could not be started: ${spawnFailure.error.message}`
          : `exited before accepting connections (${broker.describeExit()})`;
      throw new BrokerStartError(`${spec.label} broker (${spec.command}) ${why}`, output);
    }
    // Checked while the process is alive: a port answered by someone else's listener would
    // have made ours fail to bind and exit, which the branch above sees on the next round.
    if (await canConnect(port, broker.host)) {
      if (!gone()) return broker;
      continue;
    }
    if (Date.now() > deadline) {
      await broker.stop();
      throw new BrokerStartError(
        `${spec.label} broker did not accept connections on port ${port} within ` +
          `${options.startTimeoutMs ?? 10_000} ms`,
        broker.output(),
      );
    }
    await delay(20);
  }
}

/** Starts a broker process and waits until its port accepts connections. */
export async function startBrokerProcess(
  spec: BrokerCommand,
  options: BrokerStartOptions = {},
): Promise<RunningBroker> {
  // The free port can be taken between our probe and the broker's bind; try a new one.
  for (let attempt = 1; ; attempt++) {
    const result = await startOnce(spec, options);
    if (result !== 'port-taken') return result;
    if (attempt === 3) throw new BrokerStartError(`${spec.label}: no free port after 3 tries`, '');
  }
}

/** Our broker: `bin/mosquitto -c <config>` run as a user would (its shebang line). */
export const ourBroker: BrokerTarget = {
  kind: 'ours',
  label: 'ours',
  start(options?: BrokerStartOptions): Promise<RunningBroker> {
    return startBrokerProcess(
      {
        kind: 'ours',
        label: 'ours',
        command: join(repoRoot, 'bin', 'mosquitto'),
        args: (configPath) => ['-c', configPath],
      },
      options,
    );
  },
};
