import 'reflect-metadata';
import { startService } from '@im/service-kit';
import { ConversationsAppModule } from './app.module';
import { loadConversationsConfig } from './config/conversations.config';

async function main() {
  const config = loadConversationsConfig();
  await startService(ConversationsAppModule.forRoot(config), config, 'conversations');
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
