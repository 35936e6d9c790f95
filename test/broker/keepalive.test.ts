/**
 * DeadlineHeap: every connection deadline on one clock timer, due in deadline order
 * (ties first armed, first run), re-armable and cancellable.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/common/clock.ts';
import { DeadlineHeap } from '../../src/broker/keepalive.ts';
import type { DeadlineOwner } from '../../src/broker/keepalive.ts';

class Owner implements DeadlineOwner {
  deadline = 0;
  deadlineOrder = 0;
  deadlineIndex = -1;
  constructor(
    readonly name: string,
    private readonly fired: string[],
    private readonly clock: ManualClock,
  ) {}
  onDeadline(): void {
    this.fired.push(`${this.name}@${this.clock.now()}`);
  }
}

describe('DeadlineHeap', () => {
  test('runs owners at their deadlines, in order, ties in arming order', () => {
    const clock = new ManualClock();
    const heap = new DeadlineHeap(clock);
    const fired: string[] = [];
    const owners = ['a', 'b', 'c', 'd', 'e'].map((name) => new Owner(name, fired, clock));
    const [a, b, c, d, e] = owners as [Owner, Owner, Owner, Owner, Owner];
    heap.arm(c, 300);
    heap.arm(a, 100);
    heap.arm(d, 300);
    heap.arm(b, 200);
    heap.arm(e, 50);
    heap.cancel(e);
    assert.equal(heap.size, 4);
    clock.advance(99);
    assert.deepEqual(fired, []);
    clock.advance(1);
    assert.deepEqual(fired, ['a@100']);
    clock.advance(1000);
    assert.deepEqual(fired, ['a@100', 'b@200', 'c@300', 'd@300']);
    assert.equal(heap.size, 0);
    assert.equal(a.deadlineIndex, -1);
  });

  test('re-arming moves a deadline both ways; an owner may re-arm itself when due', () => {
    const clock = new ManualClock();
    const heap = new DeadlineHeap(clock);
    const fired: string[] = [];
    const early = new Owner('early', fired, clock);
    const late = new Owner('late', fired, clock);
    heap.arm(early, 100);
    heap.arm(late, 200);
    heap.arm(early, 500);
    heap.arm(late, 50);
    clock.advance(60);
    assert.deepEqual(fired, ['late@50']);
    const again = {
      deadline: 0,
      deadlineOrder: 0,
      deadlineIndex: -1,
      runs: 0,
      onDeadline(): void {
        this.runs++;
        fired.push(`again@${clock.now()}`);
        if (this.runs < 3) heap.arm(this, 10);
      },
    };
    heap.arm(again, 10);
    clock.advance(1000);
    assert.deepEqual(fired, ['late@50', 'again@70', 'again@80', 'again@90', 'early@500']);
  });

  test('many owners come out sorted', () => {
    const clock = new ManualClock();
    const heap = new DeadlineHeap(clock);
    const fired: string[] = [];
    const owners: Owner[] = [];
    for (let i = 0; i < 200; i++) {
      const owner = new Owner(String(i), fired, clock);
      owners.push(owner);
      heap.arm(owner, ((i * 7919) % 1000) + 1);
    }
    for (let i = 0; i < 200; i += 3) heap.cancel(owners[i] as Owner);
    clock.advance(2000);
    const times = fired.map((entry) => Number(entry.split('@')[1]));
    assert.equal(fired.length, 200 - 67);
    assert.deepEqual(
      times,
      [...times].sort((x, y) => x - y),
    );
  });
});
