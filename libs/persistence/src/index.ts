export * from './data-source';
export * from './event-store.schema';
export * from './event-store';
export * from './outbox-relay';
export * from './checkpoints';
export * from './crash-point';
export * from './event-context';
export * from './pipeline';
