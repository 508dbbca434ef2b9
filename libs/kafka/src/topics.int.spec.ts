import { createKafka, parseBrokers } from './client';
import { ensureTopics, topicSpec } from './topics';

// libs/testing builds on this library, so this test reads the broker address the test command exports.
const brokers = process.env.KAFKA_BROKERS;
const uniqueId = (prefix: string) => `${prefix}.${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;

jest.setTimeout(60_000);

describe('ensureTopics on the real broker', () => {
  it('lets several services create the same new topics at once, and returns only when every partition has a leader', async () => {
    if (!brokers) throw new Error('KAFKA_BROKERS is not set: run `npm test`, or source .cache/infra/env');
    const kafka = createKafka({ brokers: parseBrokers(brokers), clientId: uniqueId('topics-test') });
    const admins = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const admin = kafka.admin();
        await admin.connect();
        return admin;
      }),
    );
    try {
      const topics = [uniqueId('race.events.v1'), uniqueId('race.commands.v1')];
      await Promise.all(
        admins.map((admin) =>
          ensureTopics(
            admin,
            topics.map((t) => topicSpec(t, 3, 1)),
          ),
        ),
      );
      const { topics: metadata } = await admins[0].fetchTopicMetadata({ topics });
      expect(metadata.map((t) => [t.name, t.partitions.length, t.partitions.every((p) => p.leader >= 0)]).sort()).toEqual(
        topics.map((t) => [t, 3, true]).sort(),
      );
      await admins[0].deleteTopics({ topics });
    } finally {
      await Promise.all(admins.map((a) => a.disconnect()));
    }
  });
});
