/**
 * Topic names, filters, `$share` parsing and matching (Mosquitto's rules), with a
 * property test comparing topicMatches to a plain level-by-level reference matcher.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  filterProblem,
  FilterProblem,
  isValidTopicFilter,
  isValidTopicName,
  parseSharedFilter,
  splitLevels,
  topicMatches,
} from '../../src/protocol/topic.ts';

describe('isValidTopicName', () => {
  for (const topic of ['a', '/', 'a//b', '/a', 'a/', '$SYS/broker', 'é/ü', ' ', 'a b/c']) {
    test(`accepts "${topic}"`, () => {
      assert.equal(isValidTopicName(topic), true);
    });
  }
  for (const topic of ['', '#', '+', 'a/+', 'a/#', 'a#', 'a+b', '+/a']) {
    test(`refuses "${topic}"`, () => {
      assert.equal(isValidTopicName(topic), false);
    });
  }
  test('at most 200 separators (Mosquitto TOPIC_HIERARCHY_LIMIT)', () => {
    assert.equal(isValidTopicName('/'.repeat(200)), true);
    assert.equal(isValidTopicName('/'.repeat(201)), false);
    assert.equal(isValidTopicName('a/'.repeat(200) + 'a'), true);
    assert.equal(isValidTopicName('a/'.repeat(201) + 'a'), false);
  });
  test('at most 65535 UTF-8 bytes', () => {
    assert.equal(isValidTopicName('a'.repeat(65535)), true);
    assert.equal(isValidTopicName('a'.repeat(65536)), false);
    assert.equal(isValidTopicName('é'.repeat(32767)), true); // 65534 bytes
    assert.equal(isValidTopicName('é'.repeat(32768)), false); // 65536 bytes
    assert.equal(isValidTopicName('€'.repeat(21845)), true); // 65535 bytes
    assert.equal(isValidTopicName('€'.repeat(21846)), false);
  });
});

describe('isValidTopicFilter', () => {
  const valid = [
    '#',
    '+',
    '+/+',
    'a/+/b',
    'a/#',
    '/#',
    '+/#',
    '//',
    '/',
    '$SYS/#',
    'sport/tennis/+',
    '$share/g/a',
    '$share/g/#',
    '$share/g//',
    '$share/group/+/x/#',
    '$sharex/+',
    'a/$share',
  ];
  const invalid = [
    '',
    'a+',
    '+a',
    'a/b+',
    'a/+b/c',
    'a/#/b',
    '#/',
    '##',
    'a#',
    'sport/tennis#',
    '$share',
    '$share/g',
    '$share//a',
    '$share/g/',
    '$share/+/a',
    '$share/g+/a',
    '$share/#',
    '$share/g/a#',
  ];
  for (const filter of valid) {
    test(`accepts "${filter}"`, () => {
      assert.equal(isValidTopicFilter(filter), true);
    });
  }
  for (const filter of invalid) {
    test(`refuses "${filter}"`, () => {
      assert.equal(isValidTopicFilter(filter), false);
    });
  }
  test('structural and $share problems are told apart', () => {
    assert.equal(filterProblem('a/#/b'), FilterProblem.Invalid);
    assert.equal(filterProblem('$share/g/a#'), FilterProblem.Invalid);
    assert.equal(filterProblem('$share//a'), FilterProblem.InvalidShare);
    assert.equal(filterProblem('$share/g'), FilterProblem.InvalidShare);
    assert.equal(filterProblem('a/+'), FilterProblem.None);
  });
  test('at most 200 separators', () => {
    assert.equal(isValidTopicFilter('+/'.repeat(200) + '#'), true);
    assert.equal(isValidTopicFilter('+/'.repeat(201) + '#'), false);
  });
});

describe('splitLevels and parseSharedFilter', () => {
  test('splitLevels keeps empty levels', () => {
    assert.deepEqual(splitLevels('a//b'), ['a', '', 'b']);
    assert.deepEqual(splitLevels('/'), ['', '']);
    assert.deepEqual(splitLevels('a'), ['a']);
    assert.deepEqual(splitLevels('/a/'), ['', 'a', '']);
  });
  test('parseSharedFilter splits group and filter', () => {
    assert.deepEqual(parseSharedFilter('$share/g/a/b'), { group: 'g', filter: 'a/b' });
    assert.deepEqual(parseSharedFilter('$share/g/#'), { group: 'g', filter: '#' });
    assert.deepEqual(parseSharedFilter('$share/g//'), { group: 'g', filter: '/' });
    assert.deepEqual(parseSharedFilter('$share/g'), { group: 'g', filter: '' });
    assert.deepEqual(parseSharedFilter('$share//a'), { group: '', filter: 'a' });
  });
  test('parseSharedFilter returns null for anything but $share/', () => {
    assert.equal(parseSharedFilter('a/b'), null);
    assert.equal(parseSharedFilter('$share'), null);
    assert.equal(parseSharedFilter('$sharex/g/a'), null);
    assert.equal(parseSharedFilter('$SHARE/g/a'), null);
  });
});

describe('topicMatches', () => {
  const cases: [filter: string, topic: string, matches: boolean][] = [
    // Spec §4.7.1.2 multi-level wildcard examples.
    ['sport/tennis/player1/#', 'sport/tennis/player1', true],
    ['sport/tennis/player1/#', 'sport/tennis/player1/ranking', true],
    ['sport/tennis/player1/#', 'sport/tennis/player1/score/wimbledon', true],
    ['sport/#', 'sport', true],
    ['sport/tennis/#', 'sport/tennisplayer1', false],
    ['#', 'a/b/c', true],
    ['#', '/', true],
    // Spec §4.7.1.3 single-level wildcard examples.
    ['sport/tennis/+', 'sport/tennis/player1', true],
    ['sport/tennis/+', 'sport/tennis/player2', true],
    ['sport/tennis/+', 'sport/tennis/player1/ranking', false],
    ['sport/+', 'sport', false],
    ['sport/+', 'sport/', true],
    ['+/+', '/finance', true],
    ['/+', '/finance', true],
    ['+', '/finance', false],
    ['+', 'a', true],
    ['+/#', 'a', true],
    ['a/+/#', 'a', false],
    ['a/+/#', 'a/b', true],
    ['a//b', 'a//b', true],
    ['a/+/b', 'a//b', true],
    ['a/b', 'a/b/', false],
    ['a/b/', 'a/b', false],
    ['ab', 'a', false],
    ['a', 'ab', false],
    // Spec §4.7.2: wildcards at the first level never match $ topics.
    ['#', '$SYS/broker/uptime', false],
    ['+/monitor/Clients', '$SYS/monitor/Clients', false],
    ['+', '$SYS', false],
    ['$SYS/#', '$SYS/monitor/Clients', true],
    ['$SYS/#', '$SYS', true],
    ['$SYS/monitor/+', '$SYS/monitor/Clients', true],
    ['a/#', 'a/$SYS', true],
    ['a/+', 'a/$x', true],
  ];
  for (const [filter, topic, expected] of cases) {
    test(`"${filter}" ${expected ? 'matches' : 'does not match'} "${topic}"`, () => {
      assert.equal(topicMatches(filter, topic), expected);
    });
  }

  /** The reference: levels compared one by one, recursively. */
  function referenceMatch(filter: string, topic: string): boolean {
    const f = filter.split('/');
    const t = topic.split('/');
    if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
    const walk = (i: number, j: number): boolean => {
      if (i === f.length) return j === t.length;
      if (f[i] === '#') return true;
      if (j === t.length) return false;
      if (f[i] !== '+' && f[i] !== t[j]) return false;
      return walk(i + 1, j + 1);
    };
    return walk(0, 0);
  }

  test('agrees with a reference matcher on random topics and filters', () => {
    const level = fc.constantFrom('a', 'b', 'ab', '', '$a', '$SYS');
    const topic = fc.array(level, { minLength: 1, maxLength: 5 }).map((l) => l.join('/'));
    const filterLevel = fc.oneof(level, fc.constant('+'));
    const filter = fc
      .tuple(fc.array(filterLevel, { minLength: 0, maxLength: 5 }), fc.boolean())
      .map(([levels, hash]) => (hash ? [...levels, '#'] : levels).join('/'))
      .filter((f) => f.length > 0);
    fc.assert(
      fc.property(filter, topic, (f, t) => {
        fc.pre(isValidTopicName(t) && isValidTopicFilter(f));
        assert.equal(topicMatches(f, t), referenceMatch(f, t), `"${f}" vs "${t}"`);
      }),
      { numRuns: 5000 },
    );
  });
});
