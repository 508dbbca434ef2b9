import { Admin, Kafka } from 'kafkajs';

/** The next offset to be written (the high watermark) per `topic:partition`. */
export type EndOffsets = (topics: readonly string[]) => Promise<Map<string, bigint>>;

export interface EndOffsetsReader {
  read: EndOffsets;
  /** Closes the reader's own broker connections. */
  close(): Promise<void>;
}

/** The parts of kafkajs's cluster this reader uses (src/cluster/index.js). */
interface KafkajsCluster {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  addMultipleTargetTopics(topics: string[]): Promise<void>;
  refreshMetadata(): Promise<void>;
  refreshMetadataIfNecessary(): Promise<void>;
  findTopicPartitionMetadata(topic: string): { partitionId: number }[];
  fetchTopicsOffset(
    topics: { topic: string; fromBeginning: boolean; partitions: { partition: number }[] }[],
  ): Promise<{ topic: string; partitions: { partition: number; offset: string }[] }[]>;
}

const CREATE_CLUSTER = 'private:Kafka:createCluster';

/**
 * Reads end offsets with one ListOffsets request per broker for all the topics. kafkajs's admin
 * has no call for that: `fetchTopicOffsets` sends two requests per topic, one after the other
 * (latest, then earliest), which made the read barrier of every send batch four requests on two
 * round trips (ADR 12). The request goes through kafkajs's own cluster client, which its public
 * API does not expose; where that is not found (another kafkajs), the admin's call is used.
 */
export function endOffsetsReader(kafka: Kafka, admin: Admin): EndOffsetsReader {
  const create = Object.getOwnPropertySymbols(kafka).find((s) => s.description === CREATE_CLUSTER);
  const factory = create && (kafka as unknown as Record<symbol, unknown>)[create];
  if (typeof factory !== 'function') return { read: (topics) => viaAdmin(admin, topics), close: async () => undefined };
  let connected: Promise<KafkajsCluster> | undefined;
  const cluster = () =>
    (connected ??= (async () => {
      const c = (factory as (opts: object) => KafkajsCluster)({ allowAutoTopicCreation: false });
      await c.connect();
      return c;
    })().catch((error) => {
      connected = undefined;
      throw error;
    }));
  const read: EndOffsets = async (topics) => {
    for (let attempt = 0; ; attempt++) {
      try {
        const c = await cluster();
        await c.addMultipleTargetTopics([...topics]);
        if (attempt > 0) await c.refreshMetadata();
        else await c.refreshMetadataIfNecessary();
        const answers = await c.fetchTopicsOffset(
          topics.map((topic) => ({ topic, fromBeginning: false, partitions: c.findTopicPartitionMetadata(topic).map((p) => ({ partition: p.partitionId })) })),
        );
        const ends = new Map<string, bigint>();
        for (const { topic, partitions } of answers) for (const p of partitions) ends.set(`${topic}:${p.partition}`, BigInt(p.offset));
        return ends;
      } catch {
        // A moved leader or stale metadata: read the metadata again and ask once more, then as the admin asks.
        if (attempt >= 2) return viaAdmin(admin, topics);
      }
    }
  };
  const close = async () => {
    const open = connected;
    connected = undefined;
    await open?.then((c) => c.disconnect()).catch(() => undefined);
  };
  return { read, close };
}

async function viaAdmin(admin: Admin, topics: readonly string[]): Promise<Map<string, bigint>> {
  const ends = new Map<string, bigint>();
  const all = await Promise.all(topics.map(async (topic) => ({ topic, offsets: await admin.fetchTopicOffsets(topic) })));
  for (const { topic, offsets } of all) for (const p of offsets) ends.set(`${topic}:${p.partition}`, BigInt(p.high));
  return ends;
}
