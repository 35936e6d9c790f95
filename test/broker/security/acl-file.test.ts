/**
 * acl_file as Mosquitto reads and evaluates it (features §5.2): the grammar and its error
 * lines, sections, deny entries, `$` topics, patterns, and the CVE-2017-7650 rule. The
 * same rules are exercised over sockets in acl.test.ts and against Debian's broker in
 * vs-mosquitto.test.ts.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { MemoryLog } from '../../../src/broker/broker-log.ts';
import type { AclRules } from '../../../src/broker/security/acl-file.ts';
import { AclAccess, loadAclFile, parseAclFile } from '../../../src/broker/security/acl-file.ts';

function rules(text: string): AclRules {
  const parsed = parseAclFile(Buffer.from(text, 'utf8'), '/acl', new MemoryLog());
  assert.ok(parsed !== null, 'the ACL file parses');
  return parsed;
}

function errors(text: string): string[] {
  const log = new MemoryLog();
  const parsed = parseAclFile(Buffer.from(text, 'utf8'), '/acl', log);
  assert.equal(parsed, null);
  return log.messages();
}

/** 'r', 'w', 'rw' or '-' for what (clientId, username) may do on topic. */
function access(acl: AclRules, clientId: string, username: string | null, topic: string): string {
  const client = acl.forClient(clientId, username);
  const log = new MemoryLog();
  const read = client.allows(topic, AclAccess.Read, log);
  const write = client.allows(topic, AclAccess.Write, log);
  return read ? (write ? 'rw' : 'r') : write ? 'w' : '-';
}

describe('ACL grammar', () => {
  test('invalid lines stop the file with Mosquitto’s error', () => {
    assert.deepEqual(errors('topic\n'), ['Error: Empty topic in acl_file "/acl".']);
    assert.deepEqual(errors('topic foo bar\n'), [
      'Error: Invalid topic access type "foo" in acl_file "/acl".',
    ]);
    assert.deepEqual(errors('topic read a/#/b\n'), [
      'Error: Invalid ACL topic "a/#/b" in acl_file "/acl".',
    ]);
    assert.deepEqual(errors('pattern write a+\n'), [
      'Error: Invalid ACL topic "a+" in acl_file "/acl".',
    ]);
    assert.deepEqual(errors('user\n'), ['Error: Missing username in acl_file "/acl".']);
    assert.deepEqual(errors('user bob\nbogus line here\n'), [
      'Error: Invalid line in acl_file "/acl": bogus.',
    ]);
    // Only a '#' in the first column is a comment; tabs do not separate tokens.
    assert.deepEqual(errors('  # indented\n'), ['Error: Invalid line in acl_file "/acl":   #.']);
    assert.deepEqual(errors('topic\tread\tx\n'), [
      'Error: Invalid line in acl_file "/acl": topic\tread\tx.',
    ]);
  });

  test('a pattern without %c or %u is accepted with a warning', () => {
    const log = new MemoryLog();
    assert.ok(parseAclFile(Buffer.from('pattern read fixed/#\n'), '/acl', log) !== null);
    assert.deepEqual(log.messages(), [
      "Warning: ACL pattern 'fixed/#' does not contain '%c' or '%u'.",
    ]);
  });

  test('comments, blank lines, CRLF, trailing blanks and extra spaces', () => {
    const acl = rules('# c\n\n   \ntopic   read    a/b  \r\nuser   bob \t\r\ntopic c\n');
    assert.equal(access(acl, 'x', null, 'a/b'), 'r');
    assert.equal(access(acl, 'x', 'bob', 'c'), 'rw');
  });

  test('without an access word the topic is readwrite; "topic read" is the topic "read"', () => {
    const acl = rules('topic x\ntopic read\n');
    assert.equal(access(acl, 'c', null, 'x'), 'rw');
    assert.equal(access(acl, 'c', null, 'read'), 'rw');
  });

  test('with an access word the topic is the rest of the line, spaces included', () => {
    const acl = rules('topic read a b/c d\n');
    assert.equal(access(acl, 'c', null, 'a b/c d'), 'r');
    assert.equal(access(acl, 'c', null, 'a'), '-');
  });

  test('a missing file', () => {
    const log = new MemoryLog();
    assert.equal(loadAclFile('/nonexistent/acl', log), 'unreadable');
    assert.deepEqual(log.messages(), ['Error: Unable to open acl_file "/nonexistent/acl".']);
  });
});

describe('ACL evaluation', () => {
  test('lines before the first user line are for clients without a username only', () => {
    const acl = rules('topic read anon/#\nuser bob\ntopic bob/#\n');
    assert.equal(access(acl, 'c', null, 'anon/x'), 'r');
    assert.equal(access(acl, 'c', 'bob', 'anon/x'), '-');
    assert.equal(access(acl, 'c', 'bob', 'bob/x'), 'rw');
    assert.equal(access(acl, 'c', null, 'bob/x'), '-');
    // A username without a section (and no patterns) may do nothing.
    assert.equal(access(acl, 'c', 'carol', 'anon/x'), '-');
  });

  test('sections of the same user merge; write and read are separate grants', () => {
    const acl = rules('user bob\ntopic read a\nuser carol\ntopic b\nuser bob\ntopic write a\n');
    assert.equal(access(acl, 'c', 'bob', 'a'), 'rw');
    assert.equal(access(acl, 'c', 'carol', 'a'), '-');
  });

  test('deny wins over any grant, wherever it is in the file', () => {
    const acl = rules('user bob\ntopic a/#\ntopic deny a/secret\ntopic read a/secret\n');
    assert.equal(access(acl, 'c', 'bob', 'a/public'), 'rw');
    assert.equal(access(acl, 'c', 'bob', 'a/secret'), '-');
  });

  test('a matching grant without the access asked for does not stop the search', () => {
    const acl = rules('user bob\ntopic read a/#\ntopic write a/b\n');
    assert.equal(access(acl, 'c', 'bob', 'a/b'), 'rw');
    assert.equal(access(acl, 'c', 'bob', 'a/c'), 'r');
  });

  test('$ topics only match $ entries: # does not cover $SYS', () => {
    const acl = rules('topic read #\ntopic read $SYS/broker/#\n');
    assert.equal(access(acl, 'c', null, 'x/y'), 'r');
    assert.equal(access(acl, 'c', null, '$SYS/broker/uptime'), 'r');
    assert.equal(access(acl, 'c', null, '$SYS/other'), '-');
    assert.equal(access(acl, 'c', null, '$other'), '-');
  });

  test('patterns: %c and %u anywhere, %u patterns skipped without a username', () => {
    const acl = rules(
      'pattern read clients/%c/#\npattern write users/%u/#\npattern readwrite mix-%c-%u\n',
    );
    assert.equal(access(acl, 'id1', 'bob', 'clients/id1/x'), 'r');
    assert.equal(access(acl, 'id1', 'bob', 'clients/id2/x'), '-');
    assert.equal(access(acl, 'id1', 'bob', 'users/bob/x'), 'w');
    assert.equal(access(acl, 'id1', 'bob', 'mix-id1-bob'), 'rw');
    assert.equal(access(acl, 'id1', null, 'clients/id1/x'), 'r');
    assert.equal(access(acl, 'id1', null, 'mix-id1-%u'), '-');
  });

  test('the user section is consulted before the patterns, deny patterns first', () => {
    const acl = rules('user bob\ntopic read p/x\npattern deny p/%u\npattern readwrite p/#\n');
    // Read is granted by the section; write falls through to the patterns, which allow it.
    assert.equal(access(acl, 'c', 'bob', 'p/x'), 'rw');
    assert.equal(access(acl, 'c', 'bob', 'p/bob'), '-');
    assert.equal(access(acl, 'c', 'bob', 'p/y'), 'rw');
  });

  test('CVE-2017-7650: + or # in a username or client id defeats no pattern', () => {
    const acl = rules(
      'user a+b\ntopic read own\npattern readwrite clients/%c/#\npattern readwrite users/%u\n',
    );
    const log = new MemoryLog();
    // "clients/#/#" would match every client's topics; "users/+" every user's.
    assert.equal(acl.forClient('#', null).allows('clients/other/x', AclAccess.Read, log), false);
    assert.equal(acl.forClient('c', '+').allows('users/alice', AclAccess.Write, log), false);
    assert.deepEqual(log.messages(), [
      'ACL denying access to client with dangerous client id "#"',
      'ACL denying access to client with dangerous username "+"',
    ]);
    // Their own section still applies: it comes before the patterns.
    assert.equal(access(acl, 'c', 'a+b', 'own'), 'r');
    assert.equal(access(acl, 'c', 'a+b', 'users/a+b'), '-');
  });

  test('an empty ACL file denies everything (CVE-2018-12550)', () => {
    const acl = rules('');
    assert.equal(access(acl, 'c', null, 'a'), '-');
    assert.equal(access(acl, 'c', 'bob', 'a'), '-');
  });
});
