import { ConversationState } from '@im/contracts';
import {
  conversationView,
  ConversationView,
  fullSyncCursor,
  incrementalCursor,
  passesFilters,
  settledBelow,
  SyncQuery,
  toSyncQuery,
  worthWaiting,
} from '@im/conversations-domain';
import { inReadSnapshot, preferGenericPlans } from '@im/persistence';
import { DATA_SOURCE } from '@im/service-kit';
import { channelAsSeenBy, channelKey } from '@im/shared-domain';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { ConversationRepository, ConversationRow, StoredMessageRow } from './conversation.repository';
import { ConversationsProjection } from './conversations.projection';

const STATE_NAMES = {
  ACTIVE: ConversationState.CONVERSATION_STATE_ACTIVE,
  LEFT: ConversationState.CONVERSATION_STATE_LEFT,
  DELETED: ConversationState.CONVERSATION_STATE_DELETED,
} as const;

/** How many candidate rows a full sync examines per round while filling a page. */
const SCAN_CHUNK = 500;

/**
 * How long a sync whose answer reaches versions not settled yet (a writer of this service that
 * began earlier is still running) may wait for such writers before answering with a cursor below
 * them: writers last milliseconds, and a cursor that stops short only means the next sync repeats a
 * few changes, so the wait is bounded (and only for writers older than what it saw, worthWaiting).
 */
const SETTLE_WAIT_MS = 1_000;

type Shown = { row: ConversationRow; view: ConversationView };

/**
 * SyncConversations. Incremental (since_version > 0): every change after the cursor, oldest first,
 * tombstones included. Full (since_version = 0): active conversations, newest first, paged with
 * before_version. Both pass the read barrier first, so anything acknowledged upstream is included.
 */
@Injectable()
export class SyncConversations {
  private readonly repository = new ConversationRepository();

  constructor(
    @Inject(DATA_SOURCE) private readonly dataSource: DataSource,
    private readonly projection: ConversationsProjection,
  ) {}

  async sync(request: Parameters<typeof toSyncQuery>[0]) {
    const q = toSyncQuery(request);
    await this.projection.barrier();
    const deadline = Date.now() + SETTLE_WAIT_MS;
    let answer = await this.answer(q);
    const firstReached = answer.cursor.reached;
    while (worthWaiting(answer.cursor, answer.oldestWriter, firstReached) && Date.now() < deadline) {
      await this.repository.awaitTransaction(this.dataSource.manager, answer.oldestWriter, deadline);
      answer = await this.answer(q);
    }
    return answer.response;
  }

  /**
   * One snapshot for the page, its recents and the version returned with it, in three round trips:
   * the plan setting, the oldest writer and the page's first rows together; the recents with COMMIT.
   */
  private answer(q: SyncQuery) {
    return inReadSnapshot(this.dataSource, async ({ em, commit }) => {
      const [, oldestWriter, page] = await Promise.all([
        preferGenericPlans(em),
        this.repository.oldestWriterInFlight(em),
        q.sinceVersion > 0 ? this.incremental(em, q) : this.full(em, q),
      ]);
      const settled = settledBelow(oldestWriter);
      const cursor = q.sinceVersion > 0 ? incrementalCursor(q.sinceVersion, page.current, settled) : fullSyncCursor(page.current ?? 0, settled);
      const [recents] = await Promise.all([
        this.repository.recents(
          em,
          page.shown.filter((s) => s.view.state !== 'DELETED').map((s) => ({ channel: s.row.channel, from: s.view.visibleFrom, to: s.view.lastMsgSeq })),
          q.msgCount,
        ),
        commit(),
      ]);
      const response = {
        conversations: page.shown.map((s) => this.toMessage(q.uid, s, recents.get(channelKey(s.row.channel)) ?? [])),
        version: cursor.version,
        // A cursor held below unsettled changes asks for them again later, not in a loop now.
        hasMore: page.hasMore && !(q.sinceVersion > 0 && cursor.capped),
      };
      return { response, cursor, oldestWriter };
    });
  }

  /** Changes after the cursor, oldest first; `current` is the last one examined. */
  private async incremental(em: EntityManager, q: SyncQuery) {
    const rows = await this.repository.changedSince(em, q.uid, q.sinceVersion, q.limit + 1);
    const examined = rows.slice(0, q.limit);
    const shown = examined
      .map((row) => ({ row, view: conversationView(row) }))
      .filter((s): s is Shown => s.view.state !== null && passesFilters(q, s.row.channel.channelType, s.view));
    return { shown, current: examined[examined.length - 1]?.version, hasMore: rows.length > q.limit };
  }

  /** Active conversations, newest first; `current` is the uid's current version. */
  private async full(em: EntityManager, q: SyncQuery) {
    const shown: Shown[] = [];
    let newest: number | undefined;
    let before = q.beforeVersion;
    let hasMore = false;
    // Filters are evaluated on computed state, so scan newest-first until the page is full; the
    // scan widens when many rows are filtered out (left or deleted conversations).
    for (let chunk = Math.min(SCAN_CHUNK, q.limit + 1); ; chunk = Math.min(SCAN_CHUNK, chunk * 2)) {
      const rows = await this.repository.newestFirst(em, q.uid, before, chunk);
      newest ??= rows[0]?.version ?? 0;
      for (const row of rows) {
        const view = conversationView(row);
        if (view.state !== 'ACTIVE' || !passesFilters(q, row.channel.channelType, view)) continue;
        if (shown.length === q.limit) {
          hasMore = true;
          break;
        }
        shown.push({ row, view });
      }
      if (hasMore || rows.length < chunk) break;
      before = rows[rows.length - 1].version;
    }
    // The first page's newest row is the uid's current version; later pages ask for it (one scan fewer on login).
    const current = q.beforeVersion === 0 ? (newest ?? 0) : await this.repository.currentVersion(em, q.uid);
    return { shown, current, hasMore };
  }

  private toMessage(uid: string, { row, view }: Shown, recents: StoredMessageRow[]) {
    const channel = channelAsSeenBy(uid, row.channel);
    return {
      channel,
      state: STATE_NAMES[view.state as keyof typeof STATE_NAMES],
      unread: view.unread,
      lastMsgSeq: view.lastMsgSeq,
      readSeq: view.readSeq,
      version: row.version,
      updatedAtMs: row.updatedAtMs,
      recents: recents.map((m) => ({
        messageId: m.messageId,
        messageSeq: m.seq,
        channel,
        fromUid: m.fromUid,
        clientMsgNo: m.clientMsgNo,
        payload: Buffer.from(m.payload, 'base64'),
        sentAtMs: m.sentAtMs,
        membershipVersion: m.membershipVersion,
      })),
    };
  }
}
