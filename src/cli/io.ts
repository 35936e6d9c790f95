/**
 * What a tool touches of the process: stdout (bytes), stderr, the environment, stdin, the
 * pid, signals. main() uses the real process; tests may pass their own.
 */
import type { Buffer } from 'node:buffer';

export interface ToolIo {
  out(data: Buffer | string): void;
  err(text: string): void;
  readonly env: NodeJS.ProcessEnv;
  readonly pid: number;
  /** The whole of stdin. */
  readStdin(): Promise<Buffer>;
  /**
   * stdin as it arrives; `onEnd` after the last chunk. Returns the function that stops
   * reading, so that a tool that ends early is not kept alive by an open stdin.
   */
  streamStdin(onData: (chunk: Buffer) => void, onEnd: () => void): () => void;
  /** Registers a handler for SIGINT/SIGTERM; returns the function that removes it. */
  onSignal(handler: (signal: 'SIGINT' | 'SIGTERM') => void): () => void;
  /** True once a write to stdout failed (EPIPE: the reader went away). */
  readonly stdoutFailed: boolean;
}

export function processIo(): ToolIo {
  let stdoutFailed = false;
  process.stdout.on('error', () => {
    stdoutFailed = true;
  });
  return {
    out(data) {
      if (!stdoutFailed) process.stdout.write(data);
    },
    err(text) {
      process.stderr.write(text);
    },
    env: process.env,
    pid: process.pid,
    async readStdin() {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      const { Buffer: B } = await import('node:buffer');
      return B.concat(chunks);
    },
    streamStdin(onData, onEnd) {
      process.stdin.on('data', onData);
      process.stdin.once('end', onEnd);
      return () => {
        process.stdin.off('data', onData);
        process.stdin.off('end', onEnd);
        process.stdin.destroy();
      };
    },
    onSignal(handler) {
      const onInt = (): void => {
        handler('SIGINT');
      };
      const onTerm = (): void => {
        handler('SIGTERM');
      };
      process.on('SIGINT', onInt);
      process.on('SIGTERM', onTerm);
      return () => {
        process.off('SIGINT', onInt);
        process.off('SIGTERM', onTerm);
      };
    },
    get stdoutFailed() {
      return stdoutFailed;
    },
  };
}
