export * from './constants.ts';
export * from './errors.ts';
export type * from './packets.ts';
export { EMPTY_PROPERTIES } from './packets.ts';
