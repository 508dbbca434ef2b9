import 'reflect-metadata';
import { startService } from '@im/service-kit';
import { FanoutAppModule } from './app.module';
import { loadFanoutConfig } from './config/fanout.config';

async function main() {
  const config = loadFanoutConfig();
  await startService(FanoutAppModule.forRoot(config), config, 'fanout');
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
