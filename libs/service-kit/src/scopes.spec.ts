import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { classifiedMethods, mayCall, parseTokenEntry, SCOPES, scopesFor } from './scopes';

const PROTO_DIR = join(__dirname, '../../contracts/proto/im/v1');

/** `Service/Method` of every rpc the im.v1 contract declares. */
function contractMethods(): string[] {
  const methods: string[] = [];
  for (const file of readdirSync(PROTO_DIR).filter((f) => f.endsWith('.proto'))) {
    let service = '';
    for (const line of readFileSync(join(PROTO_DIR, file), 'utf8').split('\n')) {
      service = /^service (\w+)/.exec(line)?.[1] ?? service;
      const rpc = /^\s+rpc (\w+)/.exec(line)?.[1];
      if (rpc) methods.push(`${service}/${rpc}`);
    }
  }
  return methods.sort();
}

describe('scopes of the im.v1 methods', () => {
  it('classify every method of the contract, and nothing else', () => {
    expect(contractMethods().length).toBeGreaterThan(10);
    expect([...classifiedMethods()].sort()).toEqual(contractMethods());
  });

  const can = (scope: (typeof SCOPES)[number], service: string, method: string) => mayCall(new Set([scope]), scopesFor(service, method));

  it('lets a gateway act for users but not manage channels or membership', () => {
    for (const [service, method] of [
      ['MessageService', 'SendMessage'],
      ['MessageService', 'SendMessages'],
      ['MessageService', 'StreamDeliveries'],
      ['ConversationService', 'SyncConversations'],
      ['CommandService', 'AckCommands'],
      ['ChannelService', 'GetChannel'],
    ]) {
      expect({ method, allowed: can('gateway', service, method) }).toEqual({ method, allowed: true });
    }
    for (const [service, method] of [
      ['ChannelService', 'CreateChannel'],
      ['ChannelService', 'DeleteChannel'],
      ['SubscriptionService', 'AddSubscribers'],
      ['CommandService', 'SendCommand'],
    ]) {
      expect({ method, allowed: can('gateway', service, method) }).toEqual({ method, allowed: false });
    }
  });

  it('lets an admin back end manage and read, but not send or read as a user', () => {
    expect(can('admin', 'ChannelService', 'UpdateChannel')).toBe(true);
    expect(can('admin', 'SubscriptionService', 'RemoveSubscribers')).toBe(true);
    expect(can('admin', 'SubscriptionService', 'ListSubscribers')).toBe(true);
    expect(can('admin', 'MessageService', 'SendMessage')).toBe(false);
    expect(can('admin', 'ConversationService', 'SyncConversations')).toBe(false);
  });

  it('lets a trusted service do everything, and keeps methods not listed closed to the others', () => {
    expect(can('service', 'MessageService', 'SendMessage')).toBe(true);
    expect(can('service', 'ChannelService', 'DeleteChannel')).toBe(true);
    expect(scopesFor('MessageService', 'SomeNewMethod')).toEqual(['service']);
  });

  it('reads token entries: scoped, bare (every scope), or an unknown scope named', () => {
    expect(parseTokenEntry('gateway+admin:0123456789abcdef')).toEqual({ token: '0123456789abcdef', scopes: new Set(['gateway', 'admin']) });
    expect(parseTokenEntry('0123456789abcdef')).toEqual({ token: '0123456789abcdef', scopes: new Set(SCOPES) });
    expect(parseTokenEntry('root:0123456789abcdef')).toMatch(/unknown scope "root"/);
  });
});
