export * from './domain-error';
export * from './ids';
export * from './decider';
export * from './inputs';
export * from './collections';
export * from './membership-interval';
