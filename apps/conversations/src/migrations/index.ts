import { ConversationsInit1767225600003 } from './1767225600003-conversations-init';
import { ConversationsReadModel1767225600013 } from './1767225600013-conversations-read-model';

export const CONVERSATIONS_MIGRATIONS = [ConversationsInit1767225600003, ConversationsReadModel1767225600013];
