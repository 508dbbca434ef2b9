import { loadConversationsConfig } from './conversations.config';

const minimal = { DATABASE_URL: 'postgres://db/im', KAFKA_BROKERS: 'k1:9092' };

describe('the conversations configuration', () => {
  it('prunes channel_messages every 5 minutes, 5,000 rows a statement, unless told otherwise', () => {
    expect(loadConversationsConfig(minimal)).toMatchObject({ MESSAGE_PRUNE_INTERVAL_MS: 300_000, MESSAGE_PRUNE_BATCH_SIZE: 5_000, GRPC_PORT: 50054 });
    expect(loadConversationsConfig({ ...minimal, MESSAGE_PRUNE_INTERVAL_MS: '0', MESSAGE_PRUNE_BATCH_SIZE: '250' })).toMatchObject({
      MESSAGE_PRUNE_INTERVAL_MS: 0,
      MESSAGE_PRUNE_BATCH_SIZE: 250,
    });
  });

  it.each([
    ['MESSAGE_PRUNE_INTERVAL_MS', '-1'],
    ['MESSAGE_PRUNE_INTERVAL_MS', '1.5'],
    ['MESSAGE_PRUNE_INTERVAL_MS', 'soon'],
    ['MESSAGE_PRUNE_BATCH_SIZE', '0'],
    ['MESSAGE_PRUNE_BATCH_SIZE', '1000000'],
  ])('refuses %s=%s at start, naming it', (key, value) => {
    expect(() => loadConversationsConfig({ ...minimal, [key]: value })).toThrow(new RegExp(`${key}: `));
  });
});
