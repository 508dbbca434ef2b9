import { testDb, uniqueId } from '@im/testing';
import { EntityManager } from 'typeorm';
import { ChannelDirectoryRepository, ChannelFact } from './channel-directory.repository';

describe('channel directory projection (real Postgres)', () => {
  let db: Awaited<ReturnType<typeof testDb>>;
  let em: EntityManager;
  const repository = new ChannelDirectoryRepository();

  beforeAll(async () => {
    db = await testDb();
    em = { query: (sql: string, params: unknown[]) => db.rows(sql, params) } as unknown as EntityManager;
  });

  afterAll(() => db?.end());

  const channel = () => ({ channelId: uniqueId('dir'), channelType: 2 });
  const fact = (ref: ChannelFact['channel'], status: ChannelFact['status'], version: number): ChannelFact => ({
    channel: ref,
    status,
    version,
    occurredAt: new Date(Date.UTC(2026, 0, 1, 0, 0, version)).toISOString(),
  });

  it('given created then deleted, when the history is replayed from the start, then the channel stays deleted', async () => {
    const ref = channel();
    await repository.apply(em, [fact(ref, 'active', 1), fact(ref, 'active', 2)]);
    expect(await repository.isLive(em, ref)).toBe(true);
    await repository.apply(em, [fact(ref, 'deleted', 3)]);
    expect(await repository.isLive(em, ref)).toBe(false);
    await repository.apply(em, [fact(ref, 'active', 1), fact(ref, 'active', 2), fact(ref, 'deleted', 3)]);
    expect(await repository.isLive(em, ref)).toBe(false);
    const rows = await db.rows('SELECT status, version::int AS version FROM subscriptions.channels WHERE channel_id = $1', [ref.channelId]);
    expect(rows).toEqual([{ status: 'deleted', version: 3 }]);
  });

  it('given a deleted channel, when it is created again (a higher version), then it is live again, even within one batch', async () => {
    const ref = channel();
    const other = channel();
    await repository.apply(em, [fact(ref, 'active', 1), fact(other, 'active', 1), fact(ref, 'deleted', 2), fact(ref, 'active', 3)]);
    expect(await repository.isLive(em, ref)).toBe(true);
    expect(await repository.isLive(em, other)).toBe(true);
    expect(await repository.isLive(em, channel())).toBe(false);
  });
});
