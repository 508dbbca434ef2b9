import 'reflect-metadata';
import { startService } from '@im/service-kit';
import { ChannelsAppModule } from './app.module';
import { loadChannelsConfig } from './config/channels.config';

async function main() {
  const config = loadChannelsConfig();
  await startService(ChannelsAppModule.forRoot(config), config, 'channels');
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
