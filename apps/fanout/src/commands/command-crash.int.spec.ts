import { eventually, GrpcTestClient, grpcClient, ServiceProcess, testDb, uniqueId } from '@im/testing';

jest.setTimeout(300_000);

/**
 * G3 across a crash of the channels service between its database commit and its Kafka publish: every
 * committed update (acknowledged or not) still becomes a command for every subscriber, once.
 */
describe('command stream survives a channels crash between commit and publish', () => {
  it('queues one channel.updated per committed update for every subscriber', async () => {
    const db = await testDb();
    const stable = await ServiceProcess.start('channels');
    const [subscriptionsService, fanout] = await ServiceProcess.together([ServiceProcess.start('subscriptions'), ServiceProcess.start('fanout')]);
    const channelsClient = grpcClient('ChannelService', stable.grpcAddress);
    const subscriptions = grpcClient('SubscriptionService', subscriptionsService.grpcAddress);
    const commands = grpcClient('CommandService', fanout.grpcAddress);
    const clients: GrpcTestClient[] = [channelsClient, subscriptions, commands];
    try {
      const channel = { channelId: uniqueId('crash'), channelType: 2 };
      const members = [uniqueId('a'), uniqueId('b')];
      await channelsClient.createChannel({ channel });
      await subscriptions.addSubscribers({ channel, uids: members });
      await stable.stop();

      // A burst of updates against a process that dies right after its first commit.
      const doomed = await ServiceProcess.start('channels', { IM_CRASH_AT: 'channels:after-commit' });
      const doomedClient = grpcClient('ChannelService', doomed.grpcAddress);
      const outcomes = await Promise.allSettled(
        Array.from({ length: 10 }, (_, i) => doomedClient.updateChannel({ channel, attributes: { name: `n${i}` }, updateMask: { paths: ['name'] } })),
      );
      doomedClient.close();
      await doomed.exited;
      expect(outcomes.every((o) => o.status === 'rejected')).toBe(true);

      const recovered = await ServiceProcess.start('channels');
      try {
        const committed = (
          await db.rows<{ version: string }>("SELECT version FROM channels.events WHERE stream_id = $1 AND type = 'channel.updated' ORDER BY version", [
            `2:${channel.channelId}`,
          ])
        ).map((r) => Number(r.version));
        expect(committed.length).toBeGreaterThanOrEqual(1);
        for (const uid of members) {
          const versions = await eventually(async () => {
            const got = ((await commands.syncCommands({ uid })).commands as { type: string; version: number }[])
              .filter((c) => c.type === 'channel.updated')
              .map((c) => c.version);
            return got.length >= committed.length ? got : undefined;
          }, `commands for ${uid}`);
          expect(versions).toEqual(committed);
        }
      } finally {
        await recovered.stop();
      }
    } finally {
      clients.forEach((c) => c.close());
      await Promise.all([subscriptionsService.stop(), fanout.stop()]);
      await db.end();
    }
  });
});
