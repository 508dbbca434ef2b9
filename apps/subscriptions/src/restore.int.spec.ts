import { status } from '@grpc/grpc-js';
import { eventually, grpcClient, ServiceProcess, testDb, uniqueId } from '@im/testing';
import { CHANNEL_DIRECTORY_GROUP } from './channel-directory/channel-directory.projection';

jest.setTimeout(180_000);

/**
 * A database restored from a backup is behind Kafka: its checkpoints are older than the offsets the
 * consumer group committed. The projection must resume from its own checkpoint and re-apply what
 * the restore lost, instead of trusting Kafka's committed offset and skipping those records forever.
 */
describe('after the database is restored to an earlier state', () => {
  it('the channel directory re-applies what the restore lost, so existing channels are found again', async () => {
    const db = await testDb();
    const channelsService = await ServiceProcess.start('channels');
    const channels = grpcClient('ChannelService', channelsService.grpcAddress);
    let subscriptionsService = await ServiceProcess.start('subscriptions');
    try {
      const channel = { channelId: uniqueId('restored'), channelType: 2 };
      await channels.createChannel({ channel });
      const before = grpcClient('SubscriptionService', subscriptionsService.grpcAddress);
      await before.addSubscribers({ channel, uids: ['u1'] }); // the directory has applied the creation
      before.close();
      await subscriptionsService.stop();

      // The restore: a backup from before this group had applied anything (Kafka keeps its offsets).
      await db.query('DELETE FROM subscriptions.channels WHERE channel_id = $1', [channel.channelId]);
      await db.query('DELETE FROM subscriptions.consumer_checkpoints WHERE group_id = $1', [CHANNEL_DIRECTORY_GROUP]);

      subscriptionsService = await ServiceProcess.start('subscriptions');
      const after = grpcClient('SubscriptionService', subscriptionsService.grpcAddress);
      try {
        // While the directory replays, calls answer UNAVAILABLE after their bounded wait; clients retry.
        const added = await eventually(
          () => after.addSubscribers({ channel, uids: ['u2'] }).catch((e) => (e.code === status.UNAVAILABLE ? undefined : Promise.reject(e))),
          'the directory to re-apply the lost channel',
          60_000,
          200,
        );
        expect(added).toMatchObject({ membershipVersion: 2 });
      } finally {
        after.close();
      }
    } finally {
      channels.close();
      await Promise.all([channelsService.stop(), subscriptionsService.stop()]);
      await db.end();
    }
  });
});
