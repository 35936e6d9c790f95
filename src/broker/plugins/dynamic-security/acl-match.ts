/**
 * Topic matching as the dynamic security plugin does it: publish ACLs match topics like
 * mosquitto_topic_matches_sub, subscribe/unsubscribe patterns match filters like the
 * plugin's sub_acl_check (2.0), and 2.1's `%c` / `%u` levels stand for the client id and
 * username.
 */

/** The level's value after %c/%u substitution; null when the substitution cannot match. */
function substitute(level: string, clientId: string, username: string | null): string | null {
  if (level === '%c') return /[/+#]/.test(clientId) || clientId === '' ? null : clientId;
  if (level === '%u') {
    if (username === null || username === '' || /[/+#]/.test(username)) return null;
    return username;
  }
  return level;
}

/** mosquitto_topic_matches_sub(_with_pattern): an ACL filter against a topic name. */
export function aclMatchesTopic(
  acl: string,
  topic: string,
  clientId: string,
  username: string | null,
): boolean {
  if (acl === '' || topic === '') return false;
  const a = acl.split('/');
  const t = topic.split('/');
  if (topic.startsWith('$') && (a[0] === '+' || a[0] === '#')) return false;
  for (let i = 0; i < a.length; i++) {
    const level = a[i] as string;
    if (level === '#') return i === a.length - 1;
    if (i >= t.length) return false;
    if (level === '+') continue;
    const value = substitute(level, clientId, username);
    if (value === null || value !== t[i]) return false;
  }
  // "foo/#" also matches "foo", handled above only when a is longer; here lengths must agree.
  return a.length === t.length;
}

/** "foo/#" matches "foo" (mosquitto_topic_matches_sub): check that case separately. */
export function aclMatchesPublish(
  acl: string,
  topic: string,
  clientId: string,
  username: string | null,
): boolean {
  if (aclMatchesTopic(acl, topic, clientId, username)) return true;
  if (acl.endsWith('/#')) {
    return aclMatchesTopic(acl.slice(0, -2), topic, clientId, username);
  }
  return false;
}

/** The plugin's sub_acl_check: does a subscribe-pattern ACL cover the subscription filter? */
export function aclMatchesFilter(
  acl: string,
  sub: string,
  clientId: string,
  username: string | null,
): boolean {
  if (acl === '#') return true;
  let aclText = acl;
  let subText = sub;
  let aclHash = false;
  let subHash = false;
  if (aclText === '#') {
    aclText = '';
    aclHash = true;
  } else if (aclText.endsWith('/#')) {
    aclText = aclText.slice(0, -2);
    aclHash = true;
  }
  if (subText === '#') {
    subText = '';
    subHash = true;
  } else if (subText.endsWith('/#')) {
    subText = subText.slice(0, -2);
    subHash = true;
  }
  if (subHash && !aclHash) return false;
  const a = aclText.split('/');
  const s = subText.split('/');
  if (a.length > s.length) return false;
  if (s.length > a.length && !aclHash) return false;
  for (let i = 0; i < s.length; i++) {
    if (i < a.length) {
      const level = a[i] as string;
      if (level === '+') continue;
      const value = substitute(level, clientId, username);
      if (value !== null && value === s[i]) continue;
      return false;
    } else if (!aclHash) {
      return false;
    }
  }
  return true;
}

/** mosquitto_sub_topic_check: a valid subscription filter (wildcards whole levels). */
export function isValidAclTopic(topic: string): boolean {
  if (topic === '' || topic.length > 65535) return false;
  const levels = topic.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i] as string;
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) return false;
    if (level.includes('+') && level !== '+') return false;
  }
  return true;
}
