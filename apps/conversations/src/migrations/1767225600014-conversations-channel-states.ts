import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Whether each channel is deleted, projected from im.channels.events.v1: a deleted channel's
 * conversations leave every member's sync at once, and come back if the channel is created again.
 * `changed_version` is the conversation version of the last deletion or re-creation, a change for
 * every member at once (read diffusion, as for channel heads).
 */
export class ConversationsChannelStates1767225600014 implements MigrationInterface {
  name = 'ConversationsChannelStates1767225600014';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE conversations.channel_states (
      channel_type    int     NOT NULL,
      channel_id      text    NOT NULL,
      channel_version bigint  NOT NULL,
      deleted         boolean NOT NULL,
      changed_version bigint  NOT NULL,
      PRIMARY KEY (channel_type, channel_id)
    )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE conversations.channel_states');
  }
}
