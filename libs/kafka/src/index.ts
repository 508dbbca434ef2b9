export * from './client';
export * from './publisher';
export * from './topics';
export * from './batch-consumer';
export * from './dead-letter';
export * from './read-barrier';
export * from './tracing';
export * from './live-consumer';
