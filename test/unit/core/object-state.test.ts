/**
 * The join and ordering rule (shared/core/object-state.ts) as pure functions: whatever the order and
 * however often the facts of one key arrive, the derived state is the same; and the cases the README
 * states (a delete older than the create does not remove it, a create after a delete revives, a delete
 * names its ETag, ties).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { deriveDeletedAt, mergeFacts, type ObjectChange } from '../../../shared/core/object-state.js';

type Facts = Parameters<typeof mergeFacts>[0];
const blank = (etag: string): Facts => ({ etag, createdAt: null, createdFrom: null, removedAt: null });
const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
const created = (etag: string, s: number): ObjectChange => ({ kind: 'created', bucket: 'b', key: 'k', etag, at: at(s), from: 'event' });
const removed = (etag: string | undefined, s: number): ObjectChange => ({ kind: 'removed', bucket: 'b', key: 'k', ...(etag ? { etag } : {}), at: at(s) });

/** Applies the changes in order to per-ETag facts and derives deletedAt (ms, or null = live). */
function state(changes: readonly ObjectChange[]): Record<string, number | null> {
  const facts = new Map<string, Facts>();
  for (const change of changes) {
    const etag = change.etag ?? '';
    facts.set(etag, mergeFacts(facts.get(etag) ?? blank(etag), change));
  }
  return Object.fromEntries([...deriveDeletedAt([...facts.values()])].map(([etag, d]) => [etag, d?.getTime() ?? null]).sort());
}

describe('object-state: the ordering rule', () => {
  it('any order, any redelivery: the same state', () => {
    const change = fc.oneof(
      fc.record({ etag: fc.constantFrom('A', 'B', 'C'), s: fc.integer({ min: 0, max: 6 }) }).map(({ etag, s }) => created(etag, s)),
      fc.record({ etag: fc.constantFrom('A', 'B', 'C', undefined), s: fc.integer({ min: 0, max: 6 }) }).map(({ etag, s }) => removed(etag, s)),
    );
    fc.assert(
      fc.property(fc.array(change, { minLength: 1, maxLength: 8 }).chain((changes) => fc.tuple(fc.constant(changes), fc.shuffledSubarray([...changes, ...changes], { minLength: changes.length * 2 }))), ([changes, shuffled]) => {
        assert.deepEqual(state(shuffled), state(changes));
      }),
      { numRuns: 500 },
    );
  });

  it('at most one version of a key is live, and only the newest created', () => {
    assert.deepEqual(state([created('A', 1), created('B', 2)]), { A: at(2).getTime(), B: null });
    assert.deepEqual(state([created('B', 2), created('A', 1)]), { A: at(2).getTime(), B: null });
  });

  it('a delete older than the create does not remove it; a create after a delete revives', () => {
    assert.deepEqual(state([created('A', 3), removed('A', 2)]), { A: null });
    assert.deepEqual(state([created('A', 1), removed('A', 2), created('A', 3)]), { A: null });
    assert.deepEqual(state([removed('A', 2), created('A', 1)]), { A: at(2).getTime() });
  });

  it('a delete names its ETag: it never removes another version; one without ETag removes what is older', () => {
    assert.deepEqual(state([created('B', 1), removed('A', 2)]), { A: at(2).getTime(), B: null });
    assert.deepEqual(state([created('B', 1), removed(undefined, 2)]), { B: at(2).getTime() });
    assert.deepEqual(state([created('B', 3), removed(undefined, 2)]), { B: null });
  });

  it('ties (second precision): a create and a delete of one ETag → deleted; two creates → the greater ETag', () => {
    assert.deepEqual(state([removed('A', 2), created('A', 2)]), { A: at(2).getTime() });
    assert.deepEqual(state([created('B', 2), created('A', 2)]), { A: at(2).getTime(), B: null });
  });

  it('a callback sets the creation time only until an event brings OSS\'s', () => {
    const callback: ObjectChange = { kind: 'created', bucket: 'b', key: 'k', etag: 'A', at: at(9), from: 'callback' };
    const fromCallback = mergeFacts(blank('A'), callback);
    assert.deepEqual([fromCallback.createdAt, fromCallback.createdFrom], [at(9), 'callback']);
    const fromEvent = mergeFacts(fromCallback, created('A', 5));
    assert.deepEqual([fromEvent.createdAt, fromEvent.createdFrom], [at(5), 'event']);
    assert.deepEqual(mergeFacts(fromEvent, callback), fromEvent);
  });
});
