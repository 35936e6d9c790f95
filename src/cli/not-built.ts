/**
 * The honest answer of a command whose issue has not landed yet: it says so on stderr
 * and exits non-zero, so no script mistakes it for the real tool.
 */
export function notBuiltYet(command: string): number {
  process.stderr.write(
    `${command}: not built yet in mosquitto-ts (see the README's feature table).\n`,
  );
  return 1;
}
