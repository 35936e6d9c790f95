/**
 * The tools' own topic checks (libmosquitto's mosquitto_pub_topic_check,
 * mosquitto_sub_topic_check and mosquitto_validate_utf8), which are laxer than the
 * broker's: no limit on the number of levels, `$share` not special.
 */
import { Buffer } from 'node:buffer';
import { checkMqttString, Utf8Problem } from '../../protocol/primitives.ts';

export function isValidUtf8Argument(text: string): boolean {
  return checkMqttString(text) === Utf8Problem.None && Buffer.byteLength(text) <= 65_536;
}

/** A publish topic: non-empty, no `+` or `#`, at most 65535 bytes (2.0.22: empty is refused). */
export function isValidPublishTopic(topic: string): boolean {
  return topic !== '' && !/[+#]/.test(topic) && Buffer.byteLength(topic) <= 65_535;
}

/** A subscription filter: `+` a whole level, `#` the whole last level. */
export function isValidSubscribeTopic(filter: string): boolean {
  if (filter === '' || Buffer.byteLength(filter) > 65_535) return false;
  for (let i = 0; i < filter.length; i++) {
    const c = filter[i];
    if (c !== '+' && c !== '#') continue;
    const before = i === 0 ? '' : filter[i - 1];
    if (before !== '' && before !== '/') return false;
    const after = filter[i + 1];
    if (c === '+' && after !== undefined && after !== '/') return false;
    if (c === '#' && after !== undefined) return false;
  }
  return true;
}
