import { channelAsSeenBy, personChannelId, personChannelMembers, resolveChannelForUser } from './ids';

describe('person channels', () => {
  it('have one canonical id whoever asks', () => {
    expect(personChannelId('bob', 'alice')).toBe(personChannelId('alice', 'bob'));
  });

  it('never collide: ids that would concatenate the same stay distinct', () => {
    expect(personChannelId('ab', 'c')).not.toBe(personChannelId('a', 'bc'));
  });

  it('are seen by each member as the peer', () => {
    const ref = resolveChannelForUser('alice', { channelId: 'bob', channelType: 1 });
    expect(ref).toEqual({ channelId: 'alice|bob', channelType: 1 });
    expect(channelAsSeenBy('alice', ref)).toEqual({ channelId: 'bob', channelType: 1 });
    expect(channelAsSeenBy('bob', ref)).toEqual({ channelId: 'alice', channelType: 1 });
  });

  it('round-trip through their members', () => {
    expect(personChannelMembers(personChannelId('z', 'a'))).toEqual(['a', 'z']);
  });

  it('leave group channels as they are', () => {
    expect(resolveChannelForUser('alice', { channelId: 'g', channelType: 2 })).toEqual({ channelId: 'g', channelType: 2 });
  });
});
