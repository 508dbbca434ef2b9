export * from './env';
export * from './service-process';
export * from './grpc-client';
export * from './kafka';
export * from './database';
export * from './kcat';
export * from './admin-cli';
export * from './second-broker';
