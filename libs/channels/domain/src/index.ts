export * from './channel';
export * from './channel-attributes';
export * from './channel.decider';
