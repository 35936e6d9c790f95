/**
 * The per-user defaults file read before the command line (client_config_load):
 * $XDG_CONFIG_HOME/mosquitto_<tool>, else $HOME/.config/mosquitto_<tool>. Each line is
 * read as up to 1023 characters (fgets), `#` in the first column makes a comment, the
 * line is cut at its first space into an option and the rest (strtok), and scanned like
 * argv. A missing file is fine; a bad line aborts like a bad argument.
 */
import { Buffer } from 'node:buffer';
import { existsSync, readFileSync } from 'node:fs';
import type { Tool } from './config.ts';
import { PROGRAM } from './config.ts';

/** The file's path for `tool`, or null when neither variable is set. */
export function optionsFilePath(tool: Tool, env: NodeJS.ProcessEnv): string | null {
  const xdg = env.XDG_CONFIG_HOME;
  if (xdg !== undefined) return `${xdg}/${PROGRAM[tool]}`;
  const home = env.HOME;
  if (home !== undefined) return `${home}/.config/${PROGRAM[tool]}`;
  return null;
}

/** Each non-comment line as its argv words (one or two), in order. */
export function readOptionsFile(path: string): string[][] {
  // Checked first: a thrown ENOENT (the usual case) costs more than the whole read.
  if (!existsSync(path)) return [];
  let text: string;
  try {
    text = readFileSync(path, 'latin1');
  } catch {
    return [];
  }
  const lines: string[][] = [];
  for (const physical of text.split(/(?<=\n)/)) {
    // fgets reads at most 1023 characters at a time: longer lines arrive in pieces.
    for (let start = 0; start < physical.length; start += 1023) {
      const piece = Buffer.from(physical.slice(start, start + 1023), 'latin1').toString('utf8');
      if (piece.startsWith('#')) continue;
      const line = piece.replace(/[\r\n]+$/, '');
      const words = tokenize(line);
      if (words !== null) lines.push(words);
    }
  }
  return lines;
}

/** strtok(line, " ") then strtok(NULL, ""): the first word, and the rest after one space. */
function tokenize(line: string): string[] | null {
  let i = 0;
  while (line[i] === ' ') i++;
  if (i === line.length) return null;
  const end = line.indexOf(' ', i);
  if (end < 0) return [line.slice(i)];
  const first = line.slice(i, end);
  const rest = line.slice(end + 1);
  return rest === '' ? [first] : [first, rest];
}
