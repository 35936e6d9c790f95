/** A ToolIo that records output, for running the tools' main functions in-process. */
import { Buffer } from 'node:buffer';
import type { ToolIo } from '../../src/cli/io.ts';

export interface RecordingIo extends ToolIo {
  readonly stdout: () => Buffer;
  readonly stderr: () => string;
}

export function recordingIo(stdin: Buffer | string = '', env: NodeJS.ProcessEnv = {}): RecordingIo {
  const out: Buffer[] = [];
  let err = '';
  const input = Buffer.isBuffer(stdin) ? stdin : Buffer.from(stdin);
  return {
    out(data) {
      out.push(Buffer.isBuffer(data) ? data : Buffer.from(data));
    },
    err(text) {
      err += text;
    },
    env: { HOME: '/nonexistent', ...env },
    pid: 4242,
    readStdin: () => Promise.resolve(input),
    streamStdin(onData, onEnd) {
      let stopped = false;
      queueMicrotask(() => {
        if (stopped) return;
        if (input.length > 0) onData(input);
        onEnd();
      });
      return () => {
        stopped = true;
      };
    },
    onSignal: () => () => undefined,
    stdoutFailed: false,
    stdout: () => Buffer.concat(out),
    stderr: () => err,
  };
}
