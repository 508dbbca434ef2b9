import { TOPICS } from '@im/contracts';
import { grpcClient, GrpcTestClient, ServiceProcess, testKafka } from '@im/testing';
import { Producer } from 'kafkajs';
import { CpuTarget } from './cpu-usage';
import { ProjectionLagSampler } from './projection-lag';
import { createGroups, Group } from './send-phases';
import { SeededUser, seedUser } from './sync-seed';
import { SyncBenchSettings } from './sync-settings';
import { SystemUnderTest } from './system';

/** The conversations projection's consumer group and input topics (see the conversations service). */
export const CONVERSATIONS_GROUP = 'conversations.read-model';
export const CONVERSATIONS_INPUTS = [TOPICS.subscriptionsEvents, TOPICS.fanoutEvents, TOPICS.channelsEvents];

/** The conversations service, which some steps restart with other settings (auto_explain, the pruner). */
export class ConversationsService {
  private constructor(
    private proc: ServiceProcess,
    private grpc: GrpcTestClient,
  ) {}

  static async start(env: Record<string, string> = {}): Promise<ConversationsService> {
    const proc = await ServiceProcess.start('conversations', env);
    return new ConversationsService(proc, grpcClient('ConversationService', proc.grpcAddress));
  }

  get client(): GrpcTestClient {
    return this.grpc;
  }

  get httpPort(): number {
    return this.proc.httpPort;
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  /** Stops the instance gracefully (it leaves its consumer group) and starts a new one with `env`. */
  async restart(env: Record<string, string> = {}): Promise<void> {
    await this.stop();
    this.proc = await ServiceProcess.start('conversations', env);
    this.grpc = grpcClient('ConversationService', this.proc.grpcAddress);
  }

  async stop(): Promise<void> {
    this.grpc.close();
    await this.proc.stop();
  }
}

/** All four services, a producer for seeding, and what several steps share (users, groups, the lag sampler). */
export class SyncSystem {
  private readonly users = new Map<number, Promise<SeededUser>>();
  private loadGroupsOnce: Promise<Group[]> | undefined;

  private constructor(
    readonly sys: SystemUnderTest,
    readonly conversations: ConversationsService,
    readonly producer: Producer,
    readonly lag: ProjectionLagSampler,
    private readonly settings: SyncBenchSettings,
  ) {}

  static async start(settings: SyncBenchSettings): Promise<SyncSystem> {
    const sys = await SystemUnderTest.start({ brokerWaitMs: settings.brokerWaitMs });
    let conversations: ConversationsService | undefined;
    let producer: Producer | undefined;
    try {
      conversations = await ConversationsService.start();
      producer = testKafka().producer({ idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      const service = conversations;
      const lag = await ProjectionLagSampler.open({
        schema: 'conversations',
        group: CONVERSATIONS_GROUP,
        topics: CONVERSATIONS_INPUTS,
        metricsPort: () => service.httpPort,
      });
      return new SyncSystem(sys, conversations, producer, lag, settings);
    } catch (error) {
      await producer?.disconnect();
      await conversations?.stop();
      await sys.stop();
      throw error;
    }
  }

  get services() {
    return { channels: this.sys.channels, subscriptions: this.sys.subscriptions, messages: this.sys.messages, conversations: this.conversations.client };
  }

  /** A user with `size` conversations, seeded once per run and shared by the steps that need one. */
  user(size: number): Promise<SeededUser> {
    let uid = this.users.get(size);
    if (!uid) this.users.set(size, (uid = seedUser(this.conversations.client, this.producer, size)));
    return uid;
  }

  /** The 2-member groups the load steps send to, created once. */
  loadGroups(): Promise<Group[]> {
    this.loadGroupsOnce ??= createGroups(this.sys, this.settings.loadGroups, 2);
    return this.loadGroupsOnce;
  }

  cpuTargets(): CpuTarget[] {
    const targets = this.sys.cpuTargets();
    // After the three services of the send path, before the broker and the database.
    targets.splice(3, 0, { label: 'conversations service (node)', pids: () => [this.conversations.pid ?? -1] });
    return targets;
  }

  async stop(): Promise<void> {
    await this.lag.close().catch(() => undefined);
    await this.producer.disconnect().catch(() => undefined);
    await this.conversations.stop();
    await this.sys.stop();
  }
}
