/**
 * Unix domain socket files for `listener 0 <path>`. Listening itself is tcp.ts's
 * StreamListener (or a TLS/WebSocket listener) with a path; this is the file around it.
 * Node removes the file when the server closes, as Mosquitto does on shutdown.
 */
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';

/**
 * Removes a socket file left behind by a previous run, so that binding succeeds
 * (Mosquitto unlinks the path before binding). Only a socket is removed: a regular file
 * at that path is a configuration mistake that binding then reports.
 */
export function removeStaleSocket(path: string): void {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch {
    // Nothing there (or not ours to remove): bind() reports what matters.
  }
}

/**
 * Gives the socket file Mosquitto's mode: it binds with umask 0007, so owner and group
 * may connect and others may not, whatever the process umask.
 */
export function restrictSocketMode(path: string): void {
  chmodSync(path, 0o770);
}
