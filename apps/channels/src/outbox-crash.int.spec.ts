import { TOPICS } from '@im/contracts';
import { eventually, grpcClient, ServiceProcess, testDb, TopicWatcher, uniqueId } from '@im/testing';

jest.setTimeout(180_000);

describe('transactional outbox: a crash between the database commit and the Kafka publish', () => {
  it('publishes the committed event exactly once after restart', async () => {
    const watcher = await new TopicWatcher().start([TOPICS.channelsEvents]);
    const db = await testDb();
    const channelId = uniqueId('crash');
    const key = `2:${channelId}`;

    // The first process dies (SIGKILL, no cleanup) right after committing, before publishing.
    const doomed = await ServiceProcess.start('channels', { IM_CRASH_AT: 'channels:after-commit' });
    const client = grpcClient('ChannelService', doomed.grpcAddress);
    const error = await client.createChannel({ channel: { channelId, channelType: 2 }, attributes: { name: 'survivor' } }).catch((e) => e);
    client.close();
    expect(error?.code).toBeDefined(); // the caller was never acknowledged
    await doomed.exited;

    const [row] = await db.rows<{ published_at: Date | null }>('SELECT published_at FROM channels.events WHERE stream_id = $1', [key]);
    expect(row.published_at).toBeNull();
    expect(watcher.records.filter((r) => r.key === key)).toHaveLength(0);

    // A fresh process's relay finds the unpublished row and publishes it.
    const survivor = await ServiceProcess.start('channels');
    try {
      await watcher.waitFor((r) => r.key === key, 'the recovered event');
      await eventually(async () => {
        const [r] = await db.rows<{ published_at: Date | null }>('SELECT published_at FROM channels.events WHERE stream_id = $1', [key]);
        return r.published_at !== null;
      }, 'the row marked published');
      // Let further relay ticks pass; nothing may be published a second time.
      const again = grpcClient('ChannelService', survivor.grpcAddress);
      const marker = uniqueId('after');
      await again.createChannel({ channel: { channelId: marker, channelType: 2 } });
      await watcher.waitFor((r) => r.key === `2:${marker}`, 'a later event');
      await new Promise((r) => setTimeout(r, 2500));
      again.close();
      const published = watcher.records.filter((r) => r.key === key);
      expect(published).toHaveLength(1);
      expect(JSON.parse(published[0].value!)).toMatchObject({ type: 'channel.created', data: { attributes: { name: 'survivor' }, version: 1 } });
    } finally {
      await survivor.stop();
      await watcher.stop();
      await db.end();
    }
  });
});
