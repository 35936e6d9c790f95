/**
 * mosquitto_passwd's password prompt (get_password.c): "Password: " and "Reenter password: "
 * on stdout, each answer a line from stdin, without echo on a terminal.
 */
import { Buffer } from 'node:buffer';

/** fgets() buffer of get_password(): a password line holds at most 65499 bytes. */
const PROMPT_BUFFER = 65500;

function out(text: string): void {
  process.stdout.write(text);
}

function err(text: string): void {
  process.stderr.write(text);
}

/** The bytes a C string holds: everything before the first NUL. */
export function cString(bytes: Buffer): Buffer {
  const nul = bytes.indexOf(0);
  return nul === -1 ? bytes : bytes.subarray(0, nul);
}

/**
 * get_password(): "Password: " and "Reenter password: " on stdout, each answer read as a
 * line from stdin (without echo on a terminal). Resolves to the password, or the exit
 * code: 1 for an empty answer or end of input, 2 when the two differ, 0 on Ctrl-C.
 */
export async function promptPassword(): Promise<Buffer | number> {
  const input = new PromptInput();
  try {
    out('Password: ');
    const first = await input.readLine();
    if (first === 'interrupted') return 0;
    if (first === null) {
      err('Error: Empty password.\n');
      return 1;
    }
    out('\n');
    out('Reenter password: ');
    const second = await input.readLine();
    if (second === 'interrupted') return 0;
    if (second === null) {
      err('Error: Empty password.\n');
      return 1;
    }
    out('\n');
    if (!cString(first).equals(cString(second))) {
      err('Error: Passwords do not match.\n');
      return 2;
    }
    return cString(first);
  } finally {
    input.close();
  }
}

/**
 * Lines from stdin, read as fgets() would (at most 65499 bytes each, the rest left for the
 * next read). On a terminal, echo and line editing are off (raw mode), as Mosquitto turns
 * off ECHO and ICANON; Enter ends the line, Ctrl-C interrupts, and Backspace erases (which
 * Mosquitto, without line editing, would store as a character: see DEVIATIONS.md).
 */
class PromptInput {
  readonly #stdin = process.stdin;
  readonly #tty = process.stdin.isTTY;
  #buffered = Buffer.alloc(0);
  #ended = false;
  #interrupted = false;
  #wake: (() => void) | null = null;
  readonly #onData = (chunk: Buffer): void => {
    this.#buffered = Buffer.concat([this.#buffered, chunk]);
    this.#notify();
  };
  readonly #onEnd = (): void => {
    this.#ended = true;
    this.#notify();
  };
  readonly #onSignal = (): void => {
    this.#interrupted = true;
    this.#notify();
  };

  constructor() {
    this.#stdin.on('data', this.#onData);
    this.#stdin.once('end', this.#onEnd);
    this.#stdin.once('error', this.#onEnd);
    process.on('SIGINT', this.#onSignal);
    process.on('SIGTERM', this.#onSignal);
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  /** The line without its trailing CR/LF; null when empty or at end of input. */
  async readLine(): Promise<Buffer | null | 'interrupted'> {
    if (this.#tty) this.#stdin.setRawMode(true);
    this.#stdin.resume();
    try {
      for (;;) {
        if (this.#interrupted) return 'interrupted';
        const line = this.#tty ? this.#takeTerminalLine() : this.#takeLine();
        if (line === 'interrupted') return line;
        if (line !== null) return stripLineEnd(line);
        if (this.#ended) {
          const rest = this.#buffered;
          this.#buffered = Buffer.alloc(0);
          return rest.length === 0 ? null : stripLineEnd(rest);
        }
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
      }
    } finally {
      this.#stdin.pause();
      if (this.#tty) this.#stdin.setRawMode(false);
    }
  }

  /** fgets(): through the first '\n', or PROMPT_BUFFER - 1 bytes; null if neither yet. */
  #takeLine(): Buffer | null {
    const buffered = this.#buffered;
    const newline = buffered.indexOf(0x0a);
    let length: number;
    if (newline !== -1 && newline < PROMPT_BUFFER - 1) length = newline + 1;
    else if (buffered.length >= PROMPT_BUFFER - 1) length = PROMPT_BUFFER - 1;
    else return null;
    this.#buffered = buffered.subarray(length);
    return buffered.subarray(0, length);
  }

  /** Keystrokes up to Enter, with Backspace applied; Ctrl-C interrupts. */
  #takeTerminalLine(): Buffer | null | 'interrupted' {
    const buffered = this.#buffered;
    const line: number[] = [];
    for (let i = 0; i < buffered.length; i++) {
      const byte = buffered[i] ?? 0;
      if (byte === 0x03) return 'interrupted';
      if (byte === 0x0d || byte === 0x0a) {
        this.#buffered = buffered.subarray(i + 1);
        return Buffer.from(line.slice(0, PROMPT_BUFFER - 1));
      }
      if (byte === 0x7f || byte === 0x08) {
        // Erase one character: its UTF-8 continuation bytes and its first byte.
        while (line.length > 0 && ((line.at(-1) ?? 0) & 0xc0) === 0x80) line.pop();
        line.pop();
        continue;
      }
      line.push(byte);
    }
    return null;
  }

  close(): void {
    this.#stdin.off('data', this.#onData);
    this.#stdin.off('end', this.#onEnd);
    this.#stdin.off('error', this.#onEnd);
    process.off('SIGINT', this.#onSignal);
    process.off('SIGTERM', this.#onSignal);
    this.#stdin.pause();
  }
}

/** gets_quiet(): trailing '\n' and '\r' removed; an empty result counts as no answer. */
function stripLineEnd(line: Buffer): Buffer | null {
  let end = line.length;
  while (end > 0 && (line[end - 1] === 0x0a || line[end - 1] === 0x0d)) end--;
  return end === 0 ? null : line.subarray(0, end);
}

/**
 * get_password() with its own prompts, as mosquitto_ctrl calls it: `prompt`, then
 * `verifyPrompt` when given. `quiet` silences the error lines. Resolves to the password,
 * or 1 (empty answer / end of input), 2 (answers differ), 0 (Ctrl-C).
 */
export async function getPassword(
  prompt: string,
  verifyPrompt: string | null,
  quiet: boolean,
): Promise<Buffer | number> {
  const input = new PromptInput();
  try {
    out(prompt);
    const first = await input.readLine();
    if (first === 'interrupted') return 0;
    if (first === null) {
      if (!quiet) err('Error: Empty password.\n');
      return 1;
    }
    out('\n');
    if (verifyPrompt !== null) {
      out(verifyPrompt);
      const second = await input.readLine();
      if (second === 'interrupted') return 0;
      if (second === null) {
        if (!quiet) err('Error: Empty password.\n');
        return 1;
      }
      out('\n');
      if (!cString(first).equals(cString(second))) {
        if (!quiet) err('Error: Passwords do not match.\n');
        return 2;
      }
    }
    return cString(first);
  } finally {
    input.close();
  }
}
