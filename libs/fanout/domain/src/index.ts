export * from './send';
export * from './recipients';
export * from './delivery-streams';
export * from './sync';
export * from './commands';
export * from './send-batch';
