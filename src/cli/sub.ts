import { notBuiltYet } from './not-built.ts';

/** Entry point of `mosquitto_sub`. */
export function main(_argv: readonly string[]): Promise<number> {
  return Promise.resolve(notBuiltYet('mosquitto_sub'));
}
