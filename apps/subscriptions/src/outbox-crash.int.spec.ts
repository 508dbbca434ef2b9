import { TOPICS } from '@im/contracts';
import { grpcClient, ServiceProcess, testDb, TopicWatcher, uniqueId } from '@im/testing';

jest.setTimeout(180_000);

describe('subscriptions outbox: a crash between the database commit and the Kafka publish', () => {
  it('publishes every committed membership event once, in version order, after restart', async () => {
    const watcher = await new TopicWatcher().start([TOPICS.subscriptionsEvents]);
    const db = await testDb();
    const channelsService = await ServiceProcess.start('channels');
    const channels = grpcClient('ChannelService', channelsService.grpcAddress);
    const channel = { channelId: uniqueId('crash'), channelType: 2 };
    const key = `2:${channel.channelId}`;
    await channels.createChannel({ channel });
    channels.close();

    try {
      // The first process dies (SIGKILL, no cleanup) right after committing 3 events, before publishing.
      const doomed = await ServiceProcess.start('subscriptions', { IM_CRASH_AT: 'subscriptions:after-commit' });
      const client = grpcClient('SubscriptionService', doomed.grpcAddress);
      const uids = Array.from({ length: 2500 }, (_, i) => `u${String(i).padStart(4, '0')}`);
      const error = await client.addSubscribers({ channel, uids }).catch((e) => e);
      client.close();
      expect(error?.code).toBeDefined(); // the caller was never acknowledged
      await doomed.exited;
      const rows = await db.rows<{ published_at: Date | null }>('SELECT published_at FROM subscriptions.events WHERE stream_id = $1', [key]);
      expect(rows.map((r) => r.published_at)).toEqual([null, null, null]);

      // A fresh process's relay publishes them; a later change continues the versions.
      const survivor = await ServiceProcess.start('subscriptions');
      try {
        const again = grpcClient('SubscriptionService', survivor.grpcAddress);
        expect(await again.removeSubscribers({ channel, uids: ['u0000'] })).toEqual({ membershipVersion: 4 });
        again.close();
        const records = await watcher.waitFor((r) => r.key === key, 'recovered events and the later one', 4);
        const envelopes = records.map((r) => JSON.parse(r.value ?? 'null'));
        expect(envelopes.map((e) => [e.type, e.data.membershipVersion, e.data.uids.length])).toEqual([
          ['subscribers.added', 1, 1000],
          ['subscribers.added', 2, 1000],
          ['subscribers.added', 3, 500],
          ['subscribers.removed', 4, 1],
        ]);
      } finally {
        await survivor.stop();
      }
    } finally {
      await channelsService.stop();
      await watcher.stop();
      await db.end();
    }
  });
});
