import { activeMemberDelta, EMPTY_CHANNEL, resizeChannel, WRITE_DIFFUSION_MAX_MEMBERS } from './diffusion';

const none = { joinVersion: null, leftVersion: null };
const member = { joinVersion: 3, leftVersion: null };
const left = { joinVersion: 3, leftVersion: 7 };

describe('activeMemberDelta', () => {
  it('counts joins, leaves and re-joins, and nothing for changes that keep a member a member', () => {
    expect(activeMemberDelta([{ before: none, after: member }])).toBe(1);
    expect(activeMemberDelta([{ before: member, after: left }])).toBe(-1);
    expect(activeMemberDelta([{ before: left, after: { joinVersion: 9, leftVersion: null } }])).toBe(1);
    expect(activeMemberDelta([{ before: member, after: member }])).toBe(0);
    expect(
      activeMemberDelta([
        { before: none, after: member },
        { before: none, after: member },
        { before: member, after: left },
      ]),
    ).toBe(1);
  });
});

describe('resizeChannel', () => {
  it('stays write-diffused up to the limit and turns read-diffused past it', () => {
    const atLimit = resizeChannel(EMPTY_CHANNEL, WRITE_DIFFUSION_MAX_MEMBERS);
    expect(atLimit).toEqual({ activeMembers: WRITE_DIFFUSION_MAX_MEMBERS, readDiffused: false });
    expect(resizeChannel(atLimit, 1)).toEqual({ activeMembers: WRITE_DIFFUSION_MAX_MEMBERS + 1, readDiffused: true });
  });

  it('never flips back when the group shrinks again', () => {
    const big = resizeChannel(EMPTY_CHANNEL, WRITE_DIFFUSION_MAX_MEMBERS + 5);
    expect(resizeChannel(big, -WRITE_DIFFUSION_MAX_MEMBERS)).toEqual({ activeMembers: 5, readDiffused: true });
  });

  it('never counts below zero', () => {
    expect(resizeChannel(EMPTY_CHANNEL, -2).activeMembers).toBe(0);
  });
});
