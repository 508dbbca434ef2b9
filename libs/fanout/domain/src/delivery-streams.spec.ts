import { outcomeOf } from '@im/shared-domain';
import { AudienceIds, DeliveryStreamMode, MAX_STREAM_UIDS, RequestedStreamMode, streamModeAfterAttach, validateStreamUids } from './delivery-streams';

describe('the mode of a delivery stream', () => {
  it.each<[DeliveryStreamMode | undefined, RequestedStreamMode, DeliveryStreamMode]>([
    [undefined, { batched: true }, 'batched'],
    [undefined, { batched: false }, 'per-uid'],
    [undefined, {}, 'per-uid'],
    [undefined, { batched: null, audiences: null }, 'per-uid'],
    [undefined, { batched: true, audiences: true }, 'audiences'],
    [undefined, { batched: true, audiences: false }, 'batched'],
    ['batched', { batched: true }, 'batched'],
    ['per-uid', { batched: false }, 'per-uid'],
    ['per-uid', {}, 'per-uid'],
    ['audiences', { batched: true, audiences: true }, 'audiences'],
  ])('given the stream is %s, an attach asking %j leaves it %s', (current, requested, expected) => {
    expect(streamModeAfterAttach(current, requested)).toBe(expected);
  });

  it.each<[DeliveryStreamMode | undefined, RequestedStreamMode, string]>([
    ['batched', { batched: false }, 'BATCHED_MODE_MISMATCH'],
    ['batched', {}, 'BATCHED_MODE_MISMATCH'],
    ['per-uid', { batched: true }, 'BATCHED_MODE_MISMATCH'],
    ['per-uid', { batched: true, audiences: true }, 'BATCHED_MODE_MISMATCH'],
    ['audiences', {}, 'BATCHED_MODE_MISMATCH'],
    ['audiences', { batched: true }, 'AUDIENCES_MODE_MISMATCH'],
    ['batched', { batched: true, audiences: true }, 'AUDIENCES_MODE_MISMATCH'],
    [undefined, { audiences: true }, 'AUDIENCES_NEED_BATCHED'],
    ['audiences', { batched: false, audiences: true }, 'AUDIENCES_NEED_BATCHED'],
  ])('given the stream is %s, refuses an attach asking %j (%s)', (current, requested, reason) => {
    expect(outcomeOf(() => streamModeAfterAttach(current, requested))).toBe(`INVALID_ARGUMENT/${reason}`);
  });
});

describe('audience ids of a stream', () => {
  const lists = Array.from({ length: 6 }, (_, i) => [`u${i}`, `v${i}`]);

  it('defines a list on its first use and names it by the same id afterwards', () => {
    const ids = new AudienceIds(4);
    expect(ids.idOf(lists[0])).toEqual({ id: 1, defines: true });
    expect(ids.idOf(lists[1])).toEqual({ id: 2, defines: true });
    expect(ids.idOf(lists[0])).toEqual({ id: 1, defines: false });
    // Equal contents are not the same list: a rebuilt audience is defined anew.
    expect(ids.idOf([...lists[0]])).toEqual({ id: 3, defines: true });
  });

  it('gives the id of the least recently used list to a new one when full, and defines the old one again when it returns', () => {
    const ids = new AudienceIds(3);
    for (const list of lists.slice(0, 3)) ids.idOf(list);
    ids.idOf(lists[0]); // lists[1] is now the least recently used
    expect(ids.idOf(lists[3])).toEqual({ id: 2, defines: true });
    expect(ids.idOf(lists[1])).toEqual({ id: 3, defines: true });
    expect(ids.idOf(lists[0])).toEqual({ id: 1, defines: false });
    expect(ids.idOf(lists[3])).toEqual({ id: 2, defines: false });
  });

  it('never names two live lists by one id, whatever the order of use', () => {
    const ids = new AudienceIds(3);
    // What a gateway holds: id → the list of its latest definition.
    const gateway = new Map<number, string[]>();
    let seed = 7;
    for (let step = 0; step < 500; step++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const list = lists[seed % lists.length];
      const { id, defines } = ids.idOf(list);
      if (defines) gateway.set(id, list);
      expect(gateway.get(id)).toBe(list);
      expect(id).toBeGreaterThanOrEqual(1);
      expect(id).toBeLessThanOrEqual(3);
    }
  });
});

describe('attach and detach uids', () => {
  it.each([
    ['no uids', [], 'INVALID_ARGUMENT/EMPTY_UIDS'],
    ['too many uids', Array.from({ length: MAX_STREAM_UIDS + 1 }, (_, i) => `u${i}`), 'INVALID_ARGUMENT/TOO_MANY_UIDS'],
    ['an empty uid', ['a', ''], 'INVALID_ARGUMENT/EMPTY_ID'],
    ['a 65-character uid', ['x'.repeat(65)], 'INVALID_ARGUMENT/ID_TOO_LONG'],
    ['a uid with a space', ['a b'], 'INVALID_ARGUMENT/ID_INVALID_CHARACTERS'],
  ])('rejects %s', (_label, uids, expected) => {
    expect(outcomeOf(() => validateStreamUids(uids))).toBe(expected);
  });

  it('accepts the maximum and drops duplicates', () => {
    expect(validateStreamUids(Array.from({ length: MAX_STREAM_UIDS }, (_, i) => `u${i}`))).toHaveLength(MAX_STREAM_UIDS);
    expect(validateStreamUids(['a', 'a', 'b'])).toEqual(['a', 'b']);
  });
});
