/**
 * The protocol layer's public surface: constants, packet types, errors, the codec
 * (FrameDecoder, encodePacket, PublishForm), topic rules and the property table.
 */
export * from './constants.ts';
export * from './errors.ts';
export type * from './packets.ts';
export { EMPTY_PROPERTIES } from './packets.ts';
export { FrameDecoder } from './decoder.ts';
export type { FrameDecoderOptions } from './decoder.ts';
export { encodePacket, encodePublishForm, setDup, setPacketId } from './encoder.ts';
export type { PublishForm } from './encoder.ts';
export {
  filterProblem,
  FilterProblem,
  isValidTopicFilter,
  isValidTopicName,
  parseSharedFilter,
  splitLevels,
  topicMatches,
} from './topic.ts';
export type { SharedFilter } from './topic.ts';
export {
  PROPERTY_BY_ID,
  PROPERTY_BY_NAME,
  PROPERTY_SPECS,
  PropertyCheck,
  PropertyType,
  WILL_PROPERTIES,
} from './properties.ts';
export type { PropertySpec } from './properties.ts';
export {
  checkMqttString,
  checkMqttUtf8,
  encodeVarint,
  MAX_STRING_BYTES,
  Utf8Problem,
  varintLength,
} from './primitives.ts';
