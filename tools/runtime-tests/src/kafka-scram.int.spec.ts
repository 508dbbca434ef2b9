import { TOPICS } from '@im/contracts';
import { createKafka, ensureTopics, topicSpec } from '@im/kafka';
import { kafkaConfigSchema, kafkaConnectionOf, loadConfig } from '@im/service-kit';
import { eventually, grpcClient, REPO_ROOT, separateTestDatabase, ServiceProcess, uniqueId } from '@im/testing';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Kafka } from 'kafkajs';

jest.setTimeout(240_000);

const script = (command: 'up' | 'down') =>
  promisify(execFile)('bash', ['scripts/infra/scram-broker.sh', command], { cwd: REPO_ROOT, env: process.env, timeout: 180_000 });

const SCRAM_CREDENTIALS = { KAFKA_SASL_USERNAME: 'im', KAFKA_SASL_PASSWORD: 'im-secret' };

/** A second broker that only speaks SASL/SCRAM, in clear and over TLS (scripts/infra/scram-broker.sh). */
describe('Kafka SASL/SCRAM and TLS against a real broker', () => {
  let brokers: string;
  let tlsBrokers: string;
  let caFile: string;

  beforeAll(async () => {
    const { stdout } = await script('up');
    const printed = (name: string) => new RegExp(`${name}=(\\S+)`).exec(stdout)![1];
    brokers = printed('KAFKA_SCRAM_BROKERS');
    tlsBrokers = printed('KAFKA_SCRAM_TLS_BROKERS');
    caFile = printed('KAFKA_SCRAM_CA_FILE');
  });

  afterAll(async () => {
    await script('down');
  });

  const kafkaFor = (env: Record<string, string>): Kafka => {
    // Any given KAFKA_BROKERS (the TLS listener) wins over the clear one.
    const config = loadConfig(kafkaConfigSchema, {
      KAFKA_BROKERS: env.KAFKA_BROKERS ?? brokers,
      ...env,
    });
    return createKafka(kafkaConnectionOf(config, uniqueId('scram-test')));
  };

  it.each(['scram-sha-256', 'scram-sha-512'])('produces and consumes with %s', async (mechanism) => {
    const kafka = kafkaFor({ KAFKA_SASL_MECHANISM: mechanism, ...SCRAM_CREDENTIALS });
    const topic = uniqueId('im.scram.test');
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, [topicSpec(topic, 1, 1)]);
    await admin.disconnect();

    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: [{ key: 'k', value: `over ${mechanism}` }] });
    await producer.disconnect();

    const consumer = kafka.consumer({ groupId: uniqueId('scram'), sessionTimeout: 6000, heartbeatInterval: 500 });
    const seen: string[] = [];
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void seen.push(String(message.value)) });
    await eventually(async () => seen.length > 0, 'the record back');
    await consumer.disconnect();
    expect(seen).toEqual([`over ${mechanism}`]);
  });

  it('produces over TLS, trusting the broker through KAFKA_SSL_CA_FILE', async () => {
    const kafka = kafkaFor({ KAFKA_BROKERS: tlsBrokers, KAFKA_SSL_CA_FILE: caFile, KAFKA_SASL_MECHANISM: 'scram-sha-512', ...SCRAM_CREDENTIALS });
    const topic = uniqueId('im.tls.test');
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, [topicSpec(topic, 1, 1)]);
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: [{ key: 'k', value: 'over TLS' }] });
    await producer.disconnect();
    const [partition] = await admin.fetchTopicOffsets(topic);
    await admin.disconnect();
    expect(partition.high).toBe('1');
  });

  it('refuses the TLS broker when its CA is not trusted (system CAs only)', async () => {
    const admin = kafkaFor({ KAFKA_BROKERS: tlsBrokers, KAFKA_SSL: 'true', KAFKA_SASL_MECHANISM: 'scram-sha-512', ...SCRAM_CREDENTIALS }).admin();
    const error = await admin.connect().catch((e) => e);
    await admin.disconnect().catch(() => undefined);
    expect(error).toBeInstanceOf(Error);
    expect(`${error.message} ${error.cause?.message ?? ''} ${error.originalError?.message ?? ''}`).toMatch(/self[- ]signed|certificate/i);
  });

  it('fails clearly with a wrong password', async () => {
    const admin = kafkaFor({ KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'im', KAFKA_SASL_PASSWORD: 'wrong' }).admin();
    const error = await admin.connect().catch((e) => e);
    await admin.disconnect().catch(() => undefined);
    expect(error?.name).toBe('KafkaJSSASLAuthenticationError');
    expect(error?.message).toMatch(/authentication failed/i);
  });

  it('runs a service on it: commands in, events out, over SCRAM', async () => {
    // Another cluster: a database of its own, as the suite's checkpoints belong to the suite's broker.
    const database = await separateTestDatabase('scram');
    const service = await ServiceProcess.start('channels', {
      KAFKA_BROKERS: brokers,
      DATABASE_URL: database,
      KAFKA_SASL_MECHANISM: 'scram-sha-256',
      ...SCRAM_CREDENTIALS,
    });
    try {
      const channels = grpcClient('ChannelService', service.grpcAddress);
      const channelId = uniqueId('scram');
      await channels.createChannel({ channel: { channelId, channelType: 2 } });
      channels.close();

      const kafka = kafkaFor({ KAFKA_SASL_MECHANISM: 'scram-sha-512', ...SCRAM_CREDENTIALS });
      const consumer = kafka.consumer({ groupId: uniqueId('scram-events'), sessionTimeout: 6000, heartbeatInterval: 500 });
      const keys: string[] = [];
      await consumer.connect();
      await consumer.subscribe({ topics: [TOPICS.channelsEvents], fromBeginning: true });
      await consumer.run({ eachMessage: async ({ message }) => void keys.push(String(message.key)) });
      await eventually(async () => keys.includes(`2:${channelId}`), 'channel.created on the SCRAM broker');
      await consumer.disconnect();
    } finally {
      await service.stop();
    }
  });

  it('a service with wrong credentials exits non-zero and says why', async () => {
    const service = await ServiceProcess.start(
      'channels',
      { KAFKA_BROKERS: brokers, KAFKA_SASL_MECHANISM: 'scram-sha-256', KAFKA_SASL_USERNAME: 'im', KAFKA_SASL_PASSWORD: 'wrong' },
      { waitReady: false },
    );
    expect(await service.exited).not.toBe(0);
    expect(service.logs).toMatch(/SASL SCRAM SHA256 authentication failed|authentication failed/i);
  });
});
