import { dropEventStoreDdl, eventStoreDdl } from '@im/persistence';
import { MigrationInterface, QueryRunner } from 'typeorm';

export class SubscriptionsInit1767225600001 implements MigrationInterface {
  name = 'SubscriptionsInit1767225600001';

  async up(q: QueryRunner): Promise<void> {
    for (const sql of eventStoreDdl('subscriptions')) await q.query(sql);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const sql of dropEventStoreDdl('subscriptions')) await q.query(sql);
  }
}
