import { adminCli, grpcClient, ServiceProcess, testDb } from '@im/testing';
import { FANOUT_INPUTS_GROUP } from './inputs/fanout-inputs.projection';
import { Membership, Ref, Services } from '../test/fanout-fixtures';

jest.setTimeout(300_000);

describe('the fanout inputs projection rebuilt from offset 0 with the admin CLI', () => {
  it('converges to the same channel facts, membership stretches and membership versions', async () => {
    const services = await Services.start();
    const membership = await Membership.connect();
    const db = await testDb();
    let fanout: ServiceProcess | undefined;
    try {
      const [g1, g2, g3] = [await services.group(), await services.group(), await services.group()];
      await membership.add(g1, ['a', 'b', 'c']);
      await membership.remove(g1, ['b']);
      await membership.add(g1, ['b', 'd']);
      await membership.add(g2, ['a']);
      await services.channels.updateChannel({ channel: g2, attributes: { sendBan: true }, updateMask: { paths: ['send_ban'] } });
      await membership.add(g3, ['x']);
      await services.channels.deleteChannel({ channel: g3 });
      const mine = [g1, g2, g3];
      // A read passes the barrier: everything above is applied.
      await services.messages.syncMessages({ uid: 'a', channel: g1 });

      const snapshot = async (channels: Ref[]) => {
        const ids = channels.map((c) => c.channelId);
        return {
          memberships: await db.rows(
            'SELECT channel_id, uid, join_version, left_version FROM fanout.memberships WHERE channel_id = ANY($1) ORDER BY channel_id, uid, join_version',
            [ids],
          ),
          channels: await db.rows('SELECT * FROM fanout.channels WHERE channel_id = ANY($1) ORDER BY channel_id', [ids]),
          versions: await db.rows('SELECT channel_id, membership_version FROM fanout.channel_heads WHERE channel_id = ANY($1) ORDER BY channel_id', [ids]),
        };
      };
      const before = await snapshot(mine);
      expect(before.memberships.filter((r) => r.channel_id === g1.channelId)).toEqual([
        { channel_id: g1.channelId, uid: 'a', join_version: '1', left_version: null },
        { channel_id: g1.channelId, uid: 'b', join_version: '1', left_version: '2' },
        { channel_id: g1.channelId, uid: 'b', join_version: '3', left_version: null },
        { channel_id: g1.channelId, uid: 'c', join_version: '1', left_version: null },
        { channel_id: g1.channelId, uid: 'd', join_version: '3', left_version: null },
      ]);

      // Rebuild as an operator does: stop the service, run the admin CLI, start it again.
      await services.fanoutProcess.stop();
      const rebuilt = await adminCli('rebuild', 'fanout', FANOUT_INPUTS_GROUP, '--no-wait', '--json');
      expect(rebuilt).toMatchObject({ code: 0 });
      expect(JSON.parse(rebuilt.stdout)).toMatchObject({ truncated: ['channels', 'memberships'], reset: ['channel_heads.membership_version'] });
      expect(await snapshot(mine)).toEqual({ memberships: [], channels: [], versions: before.versions.map((v) => ({ ...v, membership_version: '0' })) });

      fanout = await ServiceProcess.start('fanout');
      // The replay from offset 0 goes through everything earlier suites left on the shared topics.
      await fanout.waitCaughtUp();
      const messages = grpcClient('MessageService', fanout.grpcAddress);
      await messages.syncMessages({ uid: 'a', channel: g1 });
      messages.close();
      expect(await snapshot(mine)).toEqual(before);
    } finally {
      await fanout?.stop();
      await membership.disconnect();
      await db.end();
      await services.stop();
    }
  });
});
