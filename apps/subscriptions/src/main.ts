import 'reflect-metadata';
import { startService } from '@im/service-kit';
import { SubscriptionsAppModule } from './app.module';
import { loadSubscriptionsConfig } from './config/subscriptions.config';

async function main() {
  const config = loadSubscriptionsConfig();
  await startService(SubscriptionsAppModule.forRoot(config), config, 'subscriptions');
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
