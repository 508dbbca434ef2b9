import { MigrationInterface, QueryRunner } from 'typeorm';

export class SubscriptionsMembership1767225600011 implements MigrationInterface {
  name = 'SubscriptionsMembership1767225600011';

  async up(q: QueryRunner): Promise<void> {
    // One row per channel that ever had a membership change: its membership version. Writers lock it,
    // so concurrent requests on one channel queue up instead of racing for versions.
    await q.query(`CREATE TABLE subscriptions.channel_memberships (
      channel_type int         NOT NULL,
      channel_id   text        NOT NULL,
      version      bigint      NOT NULL,
      updated_at   timestamptz NOT NULL,
      PRIMARY KEY (channel_type, channel_id)
    )`);
    // Membership history as intervals of membership versions: member from joined_version (inclusive)
    // to left_version (exclusive; NULL while a member). A re-join opens a new row. uid sorts in
    // code-point order ("C"), the order ListSubscribers and the events use.
    await q.query(`CREATE TABLE subscriptions.member_intervals (
      channel_type   int    NOT NULL,
      channel_id     text   NOT NULL,
      uid            text   COLLATE "C" NOT NULL,
      joined_version bigint NOT NULL,
      left_version   bigint NULL,
      PRIMARY KEY (channel_type, channel_id, uid, joined_version),
      CHECK (left_version IS NULL OR left_version > joined_version)
    )`);
    // At most one open interval per member; also the index current-member listing pages over.
    await q.query(`CREATE UNIQUE INDEX member_intervals_current_uq
      ON subscriptions.member_intervals (channel_type, channel_id, uid) WHERE left_version IS NULL`);
    // Projection of im.channels.events.v1: which channels are live (AddSubscribers needs a live channel).
    await q.query(`CREATE TABLE subscriptions.channels (
      channel_type int         NOT NULL,
      channel_id   text        NOT NULL,
      status       text        NOT NULL CHECK (status IN ('active', 'deleted')),
      version      bigint      NOT NULL,
      updated_at   timestamptz NOT NULL,
      PRIMARY KEY (channel_type, channel_id)
    )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE subscriptions.channels');
    await q.query('DROP TABLE subscriptions.member_intervals');
    await q.query('DROP TABLE subscriptions.channel_memberships');
  }
}
