/**
 * Connection deadlines (a CONNECT within 90 s, then 1.5 x the keepalive) for every
 * connection on one clock timer: a binary min-heap ordered by deadline, then by arming
 * order. An idle connection costs a heap slot and three fields instead of a Node timer,
 * its handle and a closure (about 250 bytes each, which adds up over 10,000 clients).
 *
 * Traffic does not touch the heap: a connection only records when it last heard from its
 * client, and when its armed deadline comes it checks whether it really expired and
 * re-arms with its true deadline otherwise (Node's own timer lists work the same way).
 */
import type { Clock, TimerHandle } from '../common/clock.ts';

export interface DeadlineOwner {
  /** Clock.now() milliseconds when onDeadline is due; meaningful while armed. */
  deadline: number;
  /** Arming order, to break ties: owners due at the same time run first come, first served. */
  deadlineOrder: number;
  /** Position in the heap; -1 when not armed. */
  deadlineIndex: number;
  /** The deadline came (the owner is no longer armed). */
  onDeadline(): void;
}

function before(a: DeadlineOwner, b: DeadlineOwner): boolean {
  return (
    a.deadline < b.deadline || (a.deadline === b.deadline && a.deadlineOrder < b.deadlineOrder)
  );
}

function runDue(heap: DeadlineHeap): void {
  heap.runDue();
}

export class DeadlineHeap {
  readonly #clock: Clock;
  readonly #items: DeadlineOwner[] = [];
  #order = 0;
  #timer: TimerHandle | null = null;
  /** When the clock timer fires (Infinity when none is set). */
  #timerDue = Infinity;
  readonly #fire: () => void;

  constructor(clock: Clock) {
    this.#clock = clock;
    this.#fire = runDue.bind(null, this);
  }

  get size(): number {
    return this.#items.length;
  }

  /** Arms (or re-arms) `owner` for Clock.now() + `ms`. */
  arm(owner: DeadlineOwner, ms: number): void {
    this.armAt(owner, this.#clock.now() + ms);
  }

  /** Arms (or re-arms) `owner` for the Clock.now() time `deadline`. */
  armAt(owner: DeadlineOwner, deadline: number): void {
    if (owner.deadlineIndex >= 0) this.#removeAt(owner.deadlineIndex);
    owner.deadline = deadline;
    owner.deadlineOrder = this.#order++;
    const items = this.#items;
    owner.deadlineIndex = items.length;
    items.push(owner);
    this.#siftUp(owner.deadlineIndex);
    this.#schedule();
  }

  cancel(owner: DeadlineOwner): void {
    if (owner.deadlineIndex < 0) return;
    this.#removeAt(owner.deadlineIndex);
    // The clock timer stays: if it fires early, runDue finds nothing due and re-arms.
  }

  /** Runs every owner whose deadline has come, in deadline order. */
  runDue(): void {
    this.#timer = null;
    this.#timerDue = Infinity;
    const clock = this.#clock;
    const items = this.#items;
    for (;;) {
      const top = items[0];
      if (top === undefined || top.deadline > clock.now()) break;
      this.#removeAt(0);
      top.onDeadline();
    }
    this.#schedule();
  }

  #schedule(): void {
    const top = this.#items[0];
    if (top === undefined || top.deadline >= this.#timerDue) return;
    const clock = this.#clock;
    if (this.#timer !== null) clock.cancel(this.#timer);
    this.#timerDue = top.deadline;
    this.#timer = clock.setTimer(this.#fire, Math.max(0, top.deadline - clock.now()));
  }

  #removeAt(index: number): void {
    const items = this.#items;
    const removed = items[index];
    const last = items.pop();
    if (removed !== undefined) removed.deadlineIndex = -1;
    if (last === undefined || last === removed) return;
    items[index] = last;
    last.deadlineIndex = index;
    this.#siftDown(index);
    this.#siftUp(last.deadlineIndex);
  }

  #siftUp(start: number): void {
    const items = this.#items;
    let index = start;
    const owner = items[index];
    if (owner === undefined) return;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = items[parentIndex];
      if (parent === undefined || !before(owner, parent)) break;
      items[index] = parent;
      parent.deadlineIndex = index;
      index = parentIndex;
    }
    items[index] = owner;
    owner.deadlineIndex = index;
  }

  #siftDown(start: number): void {
    const items = this.#items;
    const length = items.length;
    let index = start;
    const owner = items[index];
    if (owner === undefined) return;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= length) break;
      let child = left;
      const leftOwner = items[left];
      const rightOwner = items[left + 1];
      if (leftOwner === undefined) break;
      let childOwner = leftOwner;
      if (rightOwner !== undefined && before(rightOwner, leftOwner)) {
        child = left + 1;
        childOwner = rightOwner;
      }
      if (!before(childOwner, owner)) break;
      items[index] = childOwner;
      childOwner.deadlineIndex = index;
      index = child;
    }
    items[index] = owner;
    owner.deadlineIndex = index;
  }
}

/** One heap per clock: the system clock's is shared by every broker of the process. */
const heaps = new WeakMap<Clock, DeadlineHeap>();

export function deadlineHeapFor(clock: Clock): DeadlineHeap {
  let heap = heaps.get(clock);
  if (heap === undefined) {
    heap = new DeadlineHeap(clock);
    heaps.set(clock, heap);
  }
  return heap;
}
