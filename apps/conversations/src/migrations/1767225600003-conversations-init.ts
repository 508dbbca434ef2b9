import { dropEventStoreDdl, eventStoreDdl } from '@im/persistence';
import { MigrationInterface, QueryRunner } from 'typeorm';

export class ConversationsInit1767225600003 implements MigrationInterface {
  name = 'ConversationsInit1767225600003';

  async up(q: QueryRunner): Promise<void> {
    for (const sql of eventStoreDdl('conversations')) await q.query(sql);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const sql of dropEventStoreDdl('conversations')) await q.query(sql);
  }
}
