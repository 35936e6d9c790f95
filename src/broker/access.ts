/**
 * Mosquitto's built-in topic rules that apply before any ACL file or plugin
 * (security.c acl__check_dollar): clients may not publish to `$SYS` (except bridge
 * state notifications) nor to `$share`.
 */
import { topicMatches } from '../protocol/topic.ts';

const BRIDGE_STATE_FILTER = '$SYS/broker/connection/+/state';

/** Whether a client may publish (or set a will) on `topic`. */
export function mayPublish(topic: string): boolean {
  if (topic.charCodeAt(0) !== 0x24 /* $ */) return true;
  if (topic.startsWith('$SYS')) return topicMatches(BRIDGE_STATE_FILTER, topic);
  if (topic.startsWith('$share')) return false;
  return true;
}
