import { createKafka } from '@im/kafka';
import { createServiceDataSource } from '@im/persistence';
import { baseConfigSchema, kafkaConfigSchema, kafkaConnectionOf, loadConfig } from '@im/service-kit';
import { Admin, Kafka } from 'kafkajs';
import { DataSource } from 'typeorm';

const adminConfigSchema = kafkaConfigSchema.extend(baseConfigSchema.pick({ DATABASE_URL: true }).shape);

/** Connections the commands share, opened on first use and closed once at the end. */
export class AdminContext {
  readonly config = loadConfig(adminConfigSchema);
  readonly kafka: Kafka;
  private admin?: Promise<Admin>;
  private dataSource?: Promise<DataSource>;

  constructor() {
    this.kafka = createKafka({
      ...kafkaConnectionOf(this.config, 'im-admin'),
      log: (level, message) => {
        if (level === 'error' && process.env.ADMIN_DEBUG) process.stderr.write(`kafkajs: ${message}\n`);
      },
    });
  }

  kafkaAdmin(): Promise<Admin> {
    this.admin ??= (async () => {
      const admin = this.kafka.admin();
      await admin.connect();
      return admin;
    })();
    return this.admin;
  }

  db(): Promise<DataSource> {
    this.dataSource ??= (async () => {
      const ds = createServiceDataSource({ url: this.config.DATABASE_URL, schema: 'public', migrations: [], poolSize: 2, applicationName: 'im-admin' });
      await ds.initialize();
      return ds;
    })();
    return this.dataSource;
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.admin?.then((a) => a.disconnect()), this.dataSource?.then((d) => d.destroy())]);
  }
}
