/** Entry point of `mosquitto`. */
export function main(_argv: readonly string[]): void {
  process.stderr.write('mosquitto: not built yet in mosquitto-ts (see the README).\n');
  process.exitCode = 1;
}
