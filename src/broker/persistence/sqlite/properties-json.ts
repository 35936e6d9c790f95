/**
 * MQTT 5 properties as Mosquitto 2.1's persist-sqlite plugin keeps them in its
 * `properties` columns (base_msgs, wills): a JSON array, one object per property, in
 * property order, printed without whitespace:
 *
 *   [{"identifier":"user-property","name":"a","value":"b"},
 *    {"identifier":"content-type","value":"text/plain"},
 *    {"identifier":"correlation-data","value":"0A0B"},
 *    {"identifier":"payload-format-indicator","value":1}]
 *
 * Mosquitto writes a value only for payload-format-indicator (number), content-type,
 * response-topic, reason-string (string), correlation-data (upper-case hex) and
 * user-property (name and value): the properties a stored message or will can carry. Any
 * other property would be written as a bare `{"identifier":...}`, which its restore skips;
 * we leave such properties out (they never travel with a stored message: the expiry is in
 * `expiry_time`, subscription identifiers are per delivery). An empty list is SQL NULL.
 *
 * Reading accepts what Mosquitto's restore accepts: any known identifier (matched without
 * regard to case) whose value has the right JSON type; others are skipped with a warning.
 */
import { Buffer } from 'node:buffer';
import type { Properties, UserProperty } from '../../../protocol/packets.ts';
import { EMPTY_PROPERTIES } from '../../../protocol/packets.ts';

type MutableProperties = { -readonly [K in keyof Properties]: Properties[K] };

/** The JSON text for `properties`, or null when none of them is kept. */
export function propertiesToJson(properties: Properties): string | null {
  if (properties === EMPTY_PROPERTIES) return null;
  let out = '';
  // Key order is property order (see Properties); user properties sit together.
  for (const key in properties) {
    switch (key) {
      case 'payloadFormatIndicator': {
        const value = properties.payloadFormatIndicator;
        if (value !== undefined) {
          out += `,{"identifier":"payload-format-indicator","value":${value}}`;
        }
        break;
      }
      case 'contentType':
        out += stringProperty('content-type', properties.contentType);
        break;
      case 'responseTopic':
        out += stringProperty('response-topic', properties.responseTopic);
        break;
      case 'reasonString':
        out += stringProperty('reason-string', properties.reasonString);
        break;
      case 'correlationData': {
        const value = properties.correlationData;
        if (value !== undefined) {
          out += `,{"identifier":"correlation-data","value":"${value.toString('hex').toUpperCase()}"}`;
        }
        break;
      }
      case 'userProperties': {
        const list = properties.userProperties;
        if (list !== undefined) {
          for (const [name, value] of list) {
            out += `,{"identifier":"user-property","name":${JSON.stringify(name)},"value":${JSON.stringify(value)}}`;
          }
        }
        break;
      }
      default:
        break;
    }
  }
  return out === '' ? null : `[${out.slice(1)}]`;
}

function stringProperty(identifier: string, value: string | undefined): string {
  // JSON.stringify escapes exactly as cJSON does for valid UTF-8 text: ", \, \b \f \n \r
  // \t, other control characters as \u00xx (lower case); everything else is left as is.
  return value === undefined
    ? ''
    : `,{"identifier":"${identifier}","value":${JSON.stringify(value)}}`;
}

type PropertyType = 'byte' | 'int16' | 'int32' | 'varint' | 'binary' | 'string' | 'pair';

/** Mosquitto's property names (mosquitto_string_to_property_info), with our field names. */
const PROPERTY_INFO: ReadonlyMap<string, readonly [keyof Properties, PropertyType]> = new Map([
  ['payload-format-indicator', ['payloadFormatIndicator', 'byte']],
  ['message-expiry-interval', ['messageExpiryInterval', 'int32']],
  ['content-type', ['contentType', 'string']],
  ['response-topic', ['responseTopic', 'string']],
  ['correlation-data', ['correlationData', 'binary']],
  ['subscription-identifier', ['subscriptionIdentifiers', 'varint']],
  ['session-expiry-interval', ['sessionExpiryInterval', 'int32']],
  ['assigned-client-identifier', ['assignedClientIdentifier', 'string']],
  ['server-keep-alive', ['serverKeepAlive', 'int16']],
  ['authentication-method', ['authenticationMethod', 'string']],
  ['authentication-data', ['authenticationData', 'binary']],
  ['request-problem-information', ['requestProblemInformation', 'byte']],
  ['will-delay-interval', ['willDelayInterval', 'int32']],
  ['request-response-information', ['requestResponseInformation', 'byte']],
  ['response-information', ['responseInformation', 'string']],
  ['server-reference', ['serverReference', 'string']],
  ['reason-string', ['reasonString', 'string']],
  ['receive-maximum', ['receiveMaximum', 'int16']],
  ['topic-alias-maximum', ['topicAliasMaximum', 'int16']],
  ['topic-alias', ['topicAlias', 'int16']],
  ['maximum-qos', ['maximumQoS', 'byte']],
  ['retain-available', ['retainAvailable', 'byte']],
  ['user-property', ['userProperties', 'pair']],
  ['maximum-packet-size', ['maximumPacketSize', 'int32']],
  ['wildcard-subscription-available', ['wildcardSubscriptionAvailable', 'byte']],
  ['subscription-identifier-available', ['subscriptionIdentifierAvailable', 'byte']],
  ['shared-subscription-available', ['sharedSubscriptionAvailable', 'byte']],
]);

/** cJSON's `valueint`: the number truncated and clamped to a C int. */
function valueInt(value: number): number {
  if (value >= 2147483647) return 2147483647;
  if (value <= -2147483648) return -2147483648;
  return Math.trunc(value);
}

/** Mosquitto's hex2nibble: anything but a hex digit counts as 0. */
function nibble(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x41 && code <= 0x46) return code - 0x37;
  if (code >= 0x61 && code <= 0x66) return code - 0x57;
  return 0;
}

function fromHex(text: string): Buffer {
  const length = Math.min(text.length >> 1, 0xffff);
  const bytes = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) {
    bytes[i] = (nibble(text.charCodeAt(2 * i)) << 4) | nibble(text.charCodeAt(2 * i + 1));
  }
  return bytes;
}

/** cJSON_GetObjectItem: the member of that name, compared without regard to case. */
function member(object: Record<string, unknown>, name: string): unknown {
  if (Object.hasOwn(object, name)) return object[name];
  for (const key of Object.keys(object)) {
    if (key.toLowerCase() === name) return object[key];
  }
  return undefined;
}

/**
 * Properties from a `properties` column (null, or text Mosquitto or we wrote). Text that is
 * not a JSON array gives no properties, as in Mosquitto.
 */
export function propertiesFromJson(json: string | null, warn: (line: string) => void): Properties {
  if (json === null) return EMPTY_PROPERTIES;
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return EMPTY_PROPERTIES;
  }
  if (!Array.isArray(parsed) || parsed.length === 0) return EMPTY_PROPERTIES;
  const result: MutableProperties = {};
  let userProperties: UserProperty[] | null = null;
  let subscriptionIdentifiers: number[] | null = null;
  for (const entry of parsed as unknown[]) {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      warn('Sqlite persistence: Ignoring property whilst restoring, invalid identifier / value');
      continue;
    }
    const object = entry as Record<string, unknown>;
    const identifier = member(object, 'identifier');
    const value = member(object, 'value');
    if (typeof identifier !== 'string' || value === undefined) {
      warn('Sqlite persistence: Ignoring property whilst restoring, invalid identifier / value');
      continue;
    }
    const info = PROPERTY_INFO.get(identifier.toLowerCase());
    if (info === undefined) {
      warn('Sqlite persistence: Ignoring property whilst restoring, unknown identifier');
      continue;
    }
    const [field, type] = info;
    switch (type) {
      case 'byte':
      case 'int16':
      case 'int32':
      case 'varint': {
        if (typeof value !== 'number') {
          warn(
            `Sqlite persistence: Ignoring ${type} property whilst restoring, value is incorrect type`,
          );
          continue;
        }
        const int = valueInt(value);
        const number = type === 'byte' ? int & 0xff : type === 'int16' ? int & 0xffff : int >>> 0;
        if (field === 'subscriptionIdentifiers') {
          subscriptionIdentifiers ??= [];
          subscriptionIdentifiers.push(number);
          if (result.subscriptionIdentifiers === undefined) {
            result.subscriptionIdentifiers = subscriptionIdentifiers;
          }
        } else {
          (result as Record<string, unknown>)[field] = number;
        }
        break;
      }
      case 'binary':
        if (typeof value !== 'string') {
          warn(
            'Sqlite persistence: Ignoring binary property whilst restoring, value is incorrect type',
          );
          continue;
        }
        (result as Record<string, unknown>)[field] = fromHex(value);
        break;
      case 'string':
        if (typeof value !== 'string') {
          warn(
            'Sqlite persistence: Ignoring string property whilst restoring, value is incorrect type',
          );
          continue;
        }
        (result as Record<string, unknown>)[field] = value;
        break;
      case 'pair': {
        const name = member(object, 'name');
        if (typeof value !== 'string') {
          warn(
            'Sqlite persistence: Ignoring string pair property whilst restoring, value is incorrect type',
          );
          continue;
        }
        if (typeof name !== 'string') {
          warn(
            'Sqlite persistence: Ignoring string pair property whilst restoring, name is missing or incorrect type',
          );
          continue;
        }
        userProperties ??= [];
        userProperties.push([name, value]);
        if (result.userProperties === undefined) result.userProperties = userProperties;
        break;
      }
    }
  }
  return Object.keys(result).length === 0 ? EMPTY_PROPERTIES : result;
}
