/**
 * What the mosquitto_ctrl shell's modes share: the words of a line as 2.1 splits them
 * (strtok_r on spaces), the completion tree, and the interface between the shell and a
 * control module (dynsec, broker).
 */
import type { CJsonValue } from '../common/cjson.ts';
import type { ShellOutput } from './ctrl-shell-output.ts';

/**
 * A line's words, taken one at a time as strtok_r(…, " ", &saveptr) does: runs of spaces
 * separate words (tabs do not). `rest()` is what saveptr points at: the text after the
 * single space that ended the last word ("" after the last word), used for free text.
 */
export class Words {
  private position = 0;

  constructor(private readonly line: string) {}

  next(): string | null {
    let start = this.position;
    while (start < this.line.length && this.line[start] === ' ') start++;
    if (start >= this.line.length) {
      this.position = this.line.length;
      return null;
    }
    const space = this.line.indexOf(' ', start);
    const end = space < 0 ? this.line.length : space;
    this.position = space < 0 ? end : end + 1;
    return this.line.slice(start, end);
  }

  rest(): string {
    return this.line.slice(this.position);
  }
}

/** One command of a mode, with the candidates of each of its arguments for completion. */
export interface CompletionCommand {
  readonly name: string;
  readonly args: readonly (() => readonly string[])[];
}

/** The completion tree of a mode: `help` completes every other command's name. */
export function completionTree(
  commands: readonly CompletionCommand[],
): readonly CompletionCommand[] {
  const names = commands.map((command) => command.name);
  return [{ name: 'help', args: [() => names] }, ...commands];
}

/** Plain commands (no arguments to complete). */
export const plain = (...names: string[]): CompletionCommand[] =>
  names.map((name) => ({ name, args: [] }));

/** What a module may ask of the shell. */
export interface ShellHost {
  readonly output: ShellOutput;
  /**
   * ctrl_shell_publish_blocking: sends one command to the module's request topic and
   * waits for the PUBACK and the response (2 s each). 0 when both came.
   */
  publish(command: Record<string, CJsonValue>): Promise<number>;
  /** ctrl_shell_get_password: "password:", a line without echo; null at end of input. */
  readPassword(): Promise<string | null>;
  /** ctrl_shell_print_help_final: help on disconnect/exit/help/return or "Unknown command". */
  helpFinal(command: string, module: string | null): void;
}

/** A control module of the shell (2.1's struct ctrl_shell__module). */
export interface ShellModule {
  readonly name: string;
  readonly requestTopic: string;
  readonly responseTopic: string;
  readonly commands: readonly CompletionCommand[];
  /** Runs `command` (the line's first word); false when the module has no such command. */
  run(command: string, words: Words): Promise<boolean>;
  /** A response with a `data` member. */
  onResponse(command: string, data: Record<string, unknown>, payload: string): void;
  /** After the response topic's subscription was granted (on entering the mode). */
  onSubscribe(): Promise<void>;
}

export const lower = (text: string): string => text.toLowerCase();

/** json_get_string (not optional): the member when it is a string. */
export function jsonString(object: unknown, name: string): string | null {
  if (typeof object !== 'object' || object === null) return null;
  const value = (object as Record<string, unknown>)[name];
  return typeof value === 'string' ? value : null;
}

/** The member `name` of an object, if there is one. */
export function member(object: unknown, name: string): unknown {
  if (typeof object !== 'object' || object === null || Array.isArray(object)) return undefined;
  return (object as Record<string, unknown>)[name];
}
