/**
 * The shared strftime (broker log timestamps, the tools' `@` codes): day-of-year based
 * conversions late in the day, where the tools' former copy rounded into the next day.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { strftime, strftimeConversion } from '../../src/common/strftime.ts';

test('%j, %U and %W count whole days, whatever the hour', () => {
  for (const hour of [0, 11, 12, 18, 23]) {
    const newYear = new Date(2026, 0, 1, hour, 59, 59);
    assert.equal(strftimeConversion('j', newYear), '001', `hour ${String(hour)}`);
    // 2026-01-03 is a Saturday: still week 00 for both Sunday- and Monday-based counts.
    const saturday = new Date(2026, 0, 3, hour, 59, 59);
    assert.equal(strftime('%U %W', saturday), '00 00', `hour ${String(hour)}`);
    assert.equal(strftime('%j', new Date(2026, 11, 31, hour)), '365');
  }
});

test('an unknown conversion is copied as written', () => {
  assert.equal(strftime('%Q-%Y', new Date(2026, 5, 1)), '%Q-2026');
});
