import { dropEventStoreDdl, eventStoreDdl } from '@im/persistence';
import { MigrationInterface, QueryRunner } from 'typeorm';

export class FanoutInit1767225600002 implements MigrationInterface {
  name = 'FanoutInit1767225600002';

  async up(q: QueryRunner): Promise<void> {
    for (const sql of eventStoreDdl('fanout')) await q.query(sql);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const sql of dropEventStoreDdl('fanout')) await q.query(sql);
  }
}
